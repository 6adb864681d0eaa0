"""Timelines and postmortems of real incidents.

Through the real app (signed requests), the real Alertmanager (the silence) and the strict
Slack stand-in: a critical incident fires, a viewer's Acknowledge is refused, a responder
acknowledges, runs diagnostics, silences and unsilences it, Alertmanager repeats it with a new
value and resolves it, and it re-fires. `/genai incident <id>` lists every event in order with
who did it and the durations; the card's Postmortem button opens the findings form shared
with drills and answers with the Markdown postmortem; a submission stores the findings (a
viewer's is refused inside the form); `/genai incident export <id>` gives the postmortem with
the timeline, the impact, the diagnostic findings, the findings, the action items and the
two prompts. Without Slack: bad and unknown ids, MTTR and escalations in `/genai report`, and
the Markdown a drill and an incident share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlencode

import httpx
import pytest
import yaml
from pydantic import ValidationError

import bot.postmortem as pm
from bot.buttons import Button
from bot.config import load_settings
from bot.dispatch import Invocation, execute, parse
from bot.gameday.catalog import default_catalog
from bot.gameday.report import DrillSummary, to_markdown
from bot.gameday.store import IncidentFacts
from bot.gameday.timings import compute
from bot.render.text import render_text
from bot.report import Report, Status
from bot.runtime import Runtime
from bot.server import Bot
from bot.slack.render.modals import (
    FINDINGS_VIEW,
    FindingsSubmission,
    Subject,
    findings_modal,
)
from bot.store import Incident
from bot.store.models import Escalation
from bot.store.states import ActionKind, DrillEventKind, IncidentStatus
from bot.times import humanize_duration
from tests.harness.alerts import attachment_blocks, notification, wait
from tests.harness.bots import WEBHOOK_TOKEN, BotFactory
from tests.harness.kube import KubeStandin, node, pod
from tests.harness.pg import migrated_url
from tests.harness.procs import AlertmanagerProcess, require_binary
from tests.harness.slack import SlackStandin

RESPONDER, VIEWER = "U0RESP", "U0VIEW"
RULE = "DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > 0.9"
CRITICAL = "#genai-critical"
# The exported postmortem of the end-to-end incident is written here when set, to quote it.
EXPORT_TO = os.environ.get("GENAI_POSTMORTEM_EXPORT")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert(status: str, starts: datetime, value: str, ends: datetime | None = None
          ) -> dict[str, Any]:
    """A critical GPUMemoryHigh on gpu-node-a GPU 3 that started at ``starts`` (its
    startsAt), with the shipped rule's annotations and generatorURL, as the webhook carries
    it. gpu-node-a runs the pod whose previous log has a CUDA OOM (diag_fixtures)."""
    body = notification(status, severity="critical", extra={"Hostname": "gpu-node-a"})
    annotations = {
        "summary": "GPU memory usage above 90%",
        "description": f"GPU 3 on node gpu-node-a has exceeded 90% memory usage ({value}%).",
        "runbook_url": "https://genai-ops-bot.example.com/runbooks/GPUMemoryHigh"}
    body["commonAnnotations"] = annotations
    body["alerts"][0].update(
        annotations=annotations, startsAt=_iso(starts),
        endsAt=_iso(ends) if ends else "0001-01-01T00:00:00Z",
        generatorURL="http://prometheus.example:9090/graph?" + urlencode(
            {"g0.expr": RULE, "g0.tab": "1"}))
    return body


def post(bot: Bot, body: dict[str, Any]) -> str:
    resp = httpx.post(f"{bot.url}/alertmanager", json=body,
                      headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}, timeout=10)
    assert resp.status_code == 200, resp.text
    return str(resp.json().get("incident"))


def response_with(slack: SlackStandin, needle: str) -> dict[str, Any] | None:
    return next((r for r in list(slack.responses)
                 if needle in json.dumps(r["payload"], ensure_ascii=False)), None)


def shown(payload: dict[str, Any]) -> str:
    """What Slack shows of a response: its blocks' text, in order (mrkdwn entities read
    back, as a person sees them)."""
    parts = [str(payload.get("text") or "")]
    for block in payload.get("blocks") or []:
        text = block.get("text") or {}
        parts.append(str(text.get("text", "")) if isinstance(text, dict) else "")
        for el in block.get("elements") or []:
            if isinstance(el, dict) and "text" in el and isinstance(el["text"], str):
                parts.append(el["text"])
    joined = "\n".join(parts)
    return joined.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


POD = "llama-70b-7f9c4-oom2x"


def oom_on_gpu_node_a(kube: KubeStandin) -> None:
    """gpu-node-a runs a model server that crashed with a CUDA OOM (its previous log)."""
    kube.add_all([node("gpu-node-a"),
                  pod(POD, node="gpu-node-a", waiting_reason="CrashLoopBackOff",
                      last_terminated_reason="Error", last_exit_code=1, restarts=4,
                      env={"MAX_BATCH_SIZE": "32", "MAX_NUM_SEQS": "256"},
                      args=["--model", "meta-llama/Llama-2-70b-hf",
                            "--gpu-memory-utilization", "0.95", "--max-model-len=32768"])])
    kube.set_log("inference", POD, "torch.OutOfMemoryError: CUDA out of memory. Tried to "
                 "allocate 2.50 GiB.\nRuntimeError: CUDA error: out of memory", previous=True)


@pytest.fixture
def stack(slack: SlackStandin, make_bot: BotFactory
          ) -> Iterator[tuple[Bot, AlertmanagerProcess]]:
    require_binary(["prometheus-alertmanager", "alertmanager"], "silences are real")
    config = yaml.safe_dump({"route": {"receiver": "none"}, "receivers": [{"name": "none"}]})
    with KubeStandin() as kube, AlertmanagerProcess(config) as am:
        oom_on_gpu_node_a(kube)
        bot = make_bot("http://127.0.0.1:1", kube.url, alertmanager={"url": am.url},
                       roles={"responders": [RESPONDER]},
                       alerts={"silence_durations": ["1h"], "channel_interval_s": 0.05})
        yield bot, am


def test_an_incident_from_fire_to_postmortem(stack: tuple[Bot, AlertmanagerProcess],
                                             slack: SlackStandin) -> None:
    bot, am = stack
    events = f"{bot.url}/slack/events"
    store = bot.runtime.store
    channel = slack.channel_id(CRITICAL)
    began = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)

    # Fired two minutes ago (startsAt); the bot posts the card.
    pid = post(bot, alert("firing", began, "95"))
    card = wait(lambda: next((m for m in slack.messages.get(channel, [])
                              if Button.ACK.value in json.dumps(m)), None), "the card")

    def click(action: Button, user: str, value: str | None = None, **kw: Any) -> None:
        resp = slack.send_block_action(events, action.value, value=value, user_id=user,
                                       channel_id=channel, message_ts=card["ts"], **kw)
        assert resp.status_code == 200

    def audited(kind: ActionKind, n: int = 1) -> None:
        wait(lambda: sum(a.kind is kind and a.allowed for a in store.incidents.actions(pid))
             >= n, f"{kind} in the audit log")

    click(Button.ACK, VIEWER)
    wait(lambda: any(not a.allowed for a in store.incidents.actions(pid)), "the refusal")
    click(Button.ACK, RESPONDER)
    audited(ActionKind.ACK)
    click(Button.DIAG, RESPONDER)
    audited(ActionKind.DIAG)
    click(Button.SILENCE, RESPONDER, f"{pid}|1h")
    silence = wait(lambda: next((s for s in am.silences()
                                 if s["status"]["state"] == "active"), None), "the silence")
    card = wait(lambda: (m := slack.find_message(channel, card["ts"]))
                and Button.UNSILENCE.value in json.dumps(m) and m, "the card with Unsilence")
    click(Button.UNSILENCE, RESPONDER)
    wait(lambda: all(s["status"]["state"] == "expired" for s in am.silences()),
         "the silence expired in Alertmanager")
    audited(ActionKind.UNSILENCE)
    # Alertmanager repeats it with a new value, then resolves it at endsAt; later it re-fires.
    assert post(bot, alert("firing", began, "97")) == pid
    ended = datetime.now(UTC)
    post(bot, alert("resolved", began, "97", ends=ended))
    wait(lambda: (i := store.incidents.get(pid)) and i.status is IncidentStatus.RESOLVED,
         "the resolve")
    refired = post(bot, alert("firing", ended + timedelta(seconds=30), "96"))
    assert refired != pid
    inc = store.incidents.get(pid)
    assert inc is not None and inc.acked_at is not None and inc.started_at == began
    assert inc.ended_at == ended

    # /genai incident <id>, as a viewer: every event in order, with who did it.
    slack.send_slash_command(events, f"incident {pid}", user_id=VIEWER, channel_id=channel)
    answer = wait(lambda: response_with(slack, "Durations (from startsAt)"), "the timeline")
    body = shown(answer["payload"])
    steps = ["GPUMemoryHigh started firing (startsAt)",
             "notified by Alertmanager (webhook)",
             "alert card posted by the bot",
             f"ack refused (viewer), asked by {VIEWER}",
             f"acknowledged by {RESPONDER}",
             "diagnostics run (oom",
             "silenced until ",
             f"unsilenced (silence {silence['id']} expired) by {RESPONDER}",
             "resolved (endsAt) by Alertmanager",
             f"re-fired as incident {refired}"]
    timeline = body[body.index("*Timeline*"):body.index("*Durations (from startsAt)*")]
    at = [timeline.find(s) for s in steps]
    assert all(i >= 0 for i in at), [s for s, i in zip(steps, at, strict=True) if i < 0]
    assert at == sorted(at), timeline
    assert f"(silence {silence['id']}) by {RESPONDER}" in body
    tta = pm.fmt_duration((inc.acked_at - began).total_seconds())
    ttr = pm.fmt_duration((ended - began).total_seconds())
    assert f"Time to acknowledge (TTA)*  {tta}" in body and f"by {RESPONDER}" in body
    assert "Time to diagnosis*" in body and f"Time to resolve (TTR)*  {ttr}" in body
    assert f"resolved after {ttr} by Alertmanager" in body
    assert answer["payload"].get("response_type") == "in_channel"

    # The resolved critical card carries the Postmortem button, and only that.
    card = wait(lambda: (m := slack.find_message(channel, card["ts"]))
                and Button.POSTMORTEM.value in json.dumps(m) and m, "the Postmortem button")
    assert [el["action_id"] for b in attachment_blocks(card) if b["type"] == "actions"
            for el in b["elements"]] == [Button.POSTMORTEM.value]
    # A viewer gets the Markdown and no form; a responder gets the form (views.open) too.
    click(Button.POSTMORTEM, VIEWER)
    wait(lambda: response_with(slack, "Only responders may add postmortem findings"),
         "the viewer's note")
    assert slack.calls_to("views.open") == []
    click(Button.POSTMORTEM, RESPONDER, trigger_id=slack.new_trigger_id())
    opened = wait(lambda: slack.calls_to("views.open", ok=True), "views.open")
    view = opened[0].params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == FINDINGS_VIEW
    assert view["private_metadata"] == f"incident:{pid}"
    # Each click is answered with the Markdown postmortem, privately.
    markdown = wait(lambda: (found := [r for r in list(slack.responses)
                                       if "# Postmortem: GPUMemoryHigh" in json.dumps(r)])
                    and len(found) == 2 and found, "the Markdown postmortem, twice")
    assert all(r["payload"]["response_type"] == "ephemeral" for r in markdown)

    # The form: a viewer is refused inside it; malformed and unknown ids say which.
    form = {"findings": {"text": {"type": "plain_text_input",
                                  "value": "The alert fired 5 min after users saw errors"}},
            "action_items": {"text": {"type": "plain_text_input",
                                      "value": f"{RESPONDER}: cap MAX_NUM_SEQS at 128"}}}
    refused = slack.send_view_submission(events, FINDINGS_VIEW, form, user_id=VIEWER,
                                         private_metadata=f"incident:{pid}")
    assert refused.json()["response_action"] == "errors"
    assert "Only responders may add postmortem findings to alerts" in \
        refused.json()["errors"]["findings"]
    for metadata, expected in (("incident:../../etc", "which is not an incident id"),
                               ("incident:" + "a" * 10, "Incident aaaaaaaaaa no longer exists")):
        bad = slack.send_view_submission(events, FINDINGS_VIEW, form, user_id=RESPONDER,
                                         private_metadata=metadata)
        assert expected in bad.json()["errors"]["findings"], bad.text
    ok = slack.send_view_submission(events, FINDINGS_VIEW, form, user_id=RESPONDER)
    assert ok.status_code == 200 and ok.text in ("", "{}")
    stored = wait(lambda: (i := store.incidents.get(pid)) and i.findings and i, "the findings")
    assert [f["text"] for f in stored.findings] == ["The alert fired 5 min after users saw "
                                                    "errors"]
    assert stored.action_items[0]["owner"] == RESPONDER and not stored.action_items[0]["done"]
    findings_audit = [a for a in store.incidents.actions(pid) if a.kind is ActionKind.FINDINGS]
    assert [(a.user_id, a.allowed) for a in findings_audit] == [(VIEWER, False),
                                                                 (RESPONDER, True)]

    # /genai incident export <id>: the Markdown postmortem.
    slack.send_slash_command(events, f"incident export {pid}", user_id=VIEWER,
                             channel_id=channel)
    exported = wait(lambda: response_with(slack, "cap MAX_NUM_SEQS at 128"), "the export")
    assert f"# Postmortem: GPUMemoryHigh (incident {pid})" in shown(exported["payload"])
    # The same Markdown, read from the command's Report rather than back from Slack's blocks.
    caller = bot.runtime.roles.caller(VIEWER)
    parsed = parse(f"incident export {pid}", caller)
    assert isinstance(parsed, Invocation)
    md = "".join(s.code or "" for s in bot.runtime.execute(parsed, caller).sections)
    for part in (f"# Postmortem: GPUMemoryHigh (incident {pid})",
                 "## Timeline", "| Time (UTC) | Event |", f"acknowledged by {RESPONDER}",
                 "resolved (endsAt) by Alertmanager", f"re-fired as incident {refired}",
                 "## Durations", "| Measure | Took | By |",
                 f"| Time to acknowledge (TTA) | {tta} | {RESPONDER} |",
                 f"| Time to resolve (TTR) | {ttr} | Alertmanager |",
                 "## Impact", f"Firing for {ttr} (startsAt to endsAt)",
                 "exceeded 90% memory usage (95%)", "exceeded 90% memory usage (97%)",
                 "Labels: Hostname=gpu-node-a, gpu=3",
                 "## Diagnostic findings", f"diag oom: inference/{POD} (by {RESPONDER}): fail",
                 "fail CUDA OOM in logs", f"`{RULE}`",
                 "## Findings", f"- The alert fired 5 min after users saw errors ({RESPONDER})",
                 "## Action items", f"- [ ] cap MAX_NUM_SEQS at 128 (owner {RESPONDER})",
                 "**Update the runbook** gpu-memory-high", "/runbooks/GPUMemoryHigh",
                 "**Tune the threshold** of GPUMemoryHigh", "/genai report",
                 # The alert's runbook_url: the bot knows no public URL of its own here.
                 "5. Update the runbook (gpu-memory-high: "
                 "https://genai-ops-bot.example.com/runbooks/GPUMemoryHigh) with what was",
                 "6. Tune thresholds gradually"):
        assert part in md, f"{part!r} not in\n{md}"
    # The repeat's newer value comes after the first one; the resolved notice adds none.
    assert md.index("usage (95%)") < md.index("usage (97%)")
    assert "diagnostics run (oom: fail — " in md and POD in md
    if EXPORT_TO:
        Path(EXPORT_TO).write_text(md)

    # /genai report: MTTR per alert (the re-fire is still open), no escalation.
    fatigue = {r.check: r for r in bot.runtime.execute(
        cast(Invocation, parse("report", caller)), caller).rows}
    mttr = humanize_duration((ended - began).total_seconds())
    assert f"MTTR p50 {mttr}" in fatigue["GPUMemoryHigh"].value
    assert "never escalated" in fatigue["GPUMemoryHigh"].detail


# ---------------------------------------------------------------------- without Slack


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """The bot's runtime on a migrated SQLite file or a fresh PostgreSQL schema."""
    with migrated_url(request.param, tmp_path) as url:
        settings = load_settings(database_url=url, webhook_token="t",
                                 roles={"responders": [RESPONDER]},
                                 http={"public_url": "https://bot.example.com"})
        rt = Runtime.from_settings(settings)
        yield rt
        rt.close()


def command(rt: Runtime, text: str, user: str = VIEWER) -> Report:
    caller = rt.roles.caller(user)
    parsed = parse(text, caller)
    if isinstance(parsed, Report):
        return parsed
    return execute(parsed, rt.context(caller)).report


def opened(rt: Runtime, started: datetime, **kw: Any) -> str:
    body = notification(**kw)
    body["alerts"][0]["startsAt"] = _iso(started)
    answer = rt.intake.record(body, CRITICAL)
    assert answer.status == 200
    return str(answer.body["incident"])


@pytest.mark.parametrize("args", ["incident", "incident ../../etc", "incident <!channel>",
                                  "incident export", "incident abcdefghij extra",
                                  "incident export ABCDEFGHI1"])
def test_a_malformed_id_gets_the_usage(runtime: Runtime, args: str) -> None:
    text = render_text(command(runtime, args))
    assert "Usage: /genai incident <id> | /genai incident export <id>" in text
    assert "No such incident" not in text


def test_an_unknown_id_gets_a_clear_answer(runtime: Runtime) -> None:
    for args in ("incident abcdefghij", "incident export ABCDEFGHIJ"):
        report = command(runtime, args)
        assert report.private and report.title == "No such incident"
        assert "There is no incident 'abcdefghij'" in render_text(report)


def test_an_open_incident_says_what_has_not_happened_yet(runtime: Runtime) -> None:
    pid = opened(runtime, datetime.now(UTC) - timedelta(minutes=3), severity="critical")
    report = command(runtime, f"incident {pid}")
    assert report.summary.startswith("critical, firing for 3m ")
    rows = {r.check: r for r in report.rows}
    assert rows["Time to acknowledge (TTA)"].value == "not yet"
    assert rows["Time to resolve (TTR)"].value == "still firing"
    assert all(r.status is Status.UNKNOWN for r in rows.values())
    assert "Postmortem button" not in report.footer  # not resolved yet
    md = "".join(s.code or "" for s in command(runtime, f"incident export {pid}").sections)
    assert "- Resolved: still firing" in md and "- Still firing, for 3m " in md
    assert "| Time to acknowledge (TTA) | not yet |  |" in md
    assert "- none yet: the Postmortem button adds them" in md


def test_escalations_show_once_and_report_counts_them_with_mttr(runtime: Runtime) -> None:
    """An escalation step leaves an ``escalations`` row and an audit row: the timeline shows
    it once; /genai report counts escalated incidents and steps, and MTTR per alert."""
    store = runtime.store
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    pid = opened(runtime, t0, alertname="InferenceErrorRateHigh", severity="critical")
    inc = store.incidents.get(pid)
    assert inc is not None
    with store.db.session() as s:
        for step, who in ((1, ["S0ONCALL1"]), (2, ["S0ONCALL2", "channel"])):
            s.add(Escalation(incident_id=inc.id, step=step,
                             fired_at=t0 + timedelta(minutes=5 * step), notified=who))
    store.incidents.record_action(pid, ActionKind.ESCALATE, "bot", True,
                                  {"step": 1, "notified": ["S0ONCALL1"]},
                                  now=t0 + timedelta(minutes=5))
    store.incidents.acknowledge(pid, RESPONDER, t0 + timedelta(minutes=12))
    store.incidents.resolve_by_hand(pid, RESPONDER, t0 + timedelta(minutes=40))
    # The same group fires again later: a new incident, resolved after 20 minutes.
    again = opened(runtime, t0 + timedelta(minutes=45), alertname="InferenceErrorRateHigh",
                   severity="critical")
    assert again != pid
    store.incidents.resolve_by_hand(again, "U0OTHER", t0 + timedelta(minutes=65))

    text = render_text(command(runtime, f"incident {pid}"))
    assert text.count("escalated (step 1) to S0ONCALL1 by bot") == 1
    assert "escalated (step 2) to S0ONCALL2, @channel by bot" in text
    assert "<!channel>" not in text
    assert text.index("(step 1)") < text.index("(step 2)") < text.index("acknowledged by")
    assert f"resolved by {RESPONDER}" in text and "12m 00s" in text and "40m 00s" in text
    # The summary names the re-fire; the timeline has it after the resolve.
    assert f"resolved after 40m 00s by {RESPONDER}; re-fired as incident {again}" in text
    assert text.index(f"resolved by {RESPONDER}") < text.rindex(f"re-fired as incident {again}")
    assert "Time to diagnosis" in text and "never" in text  # resolved, never diagnosed
    [row] = command(runtime, "report").rows
    assert "MTTR p50 30 m" in row.value  # the median of 40 and 20 minutes
    assert "escalated 1× (2 steps)" in row.detail
    md = "".join(s.code or "" for s in command(runtime, f"incident export {pid}").sections)
    # With a public URL the runbook link is the bot's page.
    assert "https://bot.example.com/runbooks/InferenceErrorRateHigh" in md


def test_the_findings_form_says_what_it_is_about() -> None:
    drill = findings_modal("abcdefghij", "Drill abcdefghij: gpu-oom")
    incident = findings_modal("bcdefghijk", "Incident bcdefghijk: GPUMemoryHigh",
                              Subject.INCIDENT)
    assert drill["private_metadata"] == "abcdefghij"  # what open drill forms carry
    assert incident["private_metadata"] == "incident:bcdefghijk"
    assert drill["callback_id"] == incident["callback_id"] == FINDINGS_VIEW
    assert incident["title"]["text"] == "Postmortem findings"
    values = {"findings": {"text": {"value": "slow ack\n"}}}
    form = FindingsSubmission.from_view({**incident, "state": {"values": values}})
    assert (form.subject, form.public_id, form.findings) == (Subject.INCIDENT, "bcdefghijk",
                                                             ["slow ack"])
    assert FindingsSubmission.from_view(drill).subject is Subject.DRILL
    for bad in ("incident:<!channel>", "incident:", "drill:abcdefghij"):
        with pytest.raises(ValidationError):
            FindingsSubmission.from_view({**incident, "private_metadata": bad})


def test_a_drill_and_an_incident_share_the_markdown() -> None:
    """The drill export keeps its tables, built by the code the incident postmortem uses;
    a table cell stays one cell whatever a label holds."""
    t0 = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)

    def at(minutes: float) -> datetime:
        return t0 + timedelta(minutes=minutes)

    drill = SimpleNamespace(public_id="abcdefghij", scenario="gpu-oom", status="ended",
                            started_by="U0ADMIN", started_at=t0, ended_at=at(40),
                            findings=[{"text": "ack was fast", "by": RESPONDER}],
                            action_items=[{"text": "add KV check", "owner": RESPONDER}])
    events = [SimpleNamespace(kind=DrillEventKind.INJECTED, at=at(0), user_id=None,
                              detail={"alertname": "GPUMemoryHigh"}),
              SimpleNamespace(kind=DrillEventKind.ENDED, at=at(40), user_id=RESPONDER,
                              detail={"how": "command"})]
    inc = SimpleNamespace(public_id="bcdefghijk", alertname="GPUMemoryHigh", opened_at=at(0.5),
                          resolved_at=None, resolved_by=None, acked_at=at(1.5),
                          acked_by=RESPONDER)
    facts = IncidentFacts(cast(Incident, inc), at(0.5), [])
    scenario = default_catalog().get("gpu-oom")
    assert scenario is not None
    timings = compute(cast(Any, drill), cast(Any, events), facts, scenario.targets)
    md = to_markdown(DrillSummary(cast(Any, drill), scenario, cast(Any, events), facts,
                                  timings, [RESPONDER]))
    assert ("| Time (UTC) | Event |\n|---|---|\n"
            "| 05:00:00 | alert injected through Alertmanager (GPUMemoryHigh) |\n"
            "| 05:00:30 | alert GPUMemoryHigh posted (incident bcdefghijk) |\n"
            f"| 05:40:00 | drill ended (command) by {RESPONDER} |\n") in md
    assert ("| Measure | Took | Target | Met |\n|---|---|---|---|\n"
            "| Time to detect (TTD) | 30s | ≤ 3 min | yes |\n"
            "| Time to acknowledge (TTA) | 1m 30s | ≤ 5 min | yes |\n"
            "| Time to diagnosis | — | ≤ 15 min | n/a |\n"
            "| Time to resolve (TTR) | 40m 00s | ≤ 30 min | no |\n") in md
    assert f"- ack was fast ({RESPONDER})" in md
    assert f"- [ ] add KV check (owner {RESPONDER})" in md
    assert "5. Update the runbook (gpu-oom) with what was missing or wrong." in md
    # One builder for both: the same lines come out for an incident's moments.
    moments = [pm.Moment(at(0), "alert injected through Alertmanager (GPUMemoryHigh)")]
    assert pm.timeline_md(moments)[2] in md
    hostile = pm.timeline_md([pm.Moment(at(1), "label a|b\nc <!channel>", "U1")])[2]
    assert hostile == "| 05:01:00 | label a\\|b c <!channel> by U1 |"
    crossing = pm.timeline_lines([pm.Moment(at(0), "fired"), pm.Moment(at(60 * 24), "end")])
    assert crossing == ["11-25 05:00:00 fired", "11-26 05:00:00 end"]
    assert pm.measure_row(pm.Measure("TTA", None, pending="not yet")).status is Status.UNKNOWN
