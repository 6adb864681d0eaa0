"""A Game Day drill end to end with the real Alertmanager, running the shipped routing tree
(manifests/alertmanager-config.yaml), and the strict Slack stand-in:

scheduled prompt -> signed Join and Start now clicks -> the alert injected through
POST /api/v2/alerts -> Alertmanager -> the bot's webhook -> [DRILL] post in the drill channel
-> signed Ack, Run diagnostics and Resolve clicks -> the report with timings -> Add findings
(views.open) -> signed view_submission -> findings in the report and the Markdown export.
A second drill runs from slash commands and ends with `/genai gameday end`. Nothing reaches
the critical, warning or default channels.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.server import Bot
from tests.harness.bots import WEBHOOK_TOKEN, BotFactory
from tests.harness.kube import KubeStandin, node, pod
from tests.harness.procs import AlertmanagerProcess, free_port, require_binary, wait_for
from tests.harness.slack import SlackStandin

ROOT = Path(__file__).resolve().parent.parent
DIAG_POD = "vllm-llama-2-7b-0"
ADMIN, RESP, VIEWER = "U0ADMIN", "U0RESP", "U0VIEWER"
REAL_CHANNELS = ("#genai-critical", "#genai-warnings", "#genai-alerts")


def shipped_am_config(bot_url: str, slack: SlackStandin) -> str:
    """The manifest's alertmanager.yaml with its secret files swapped for the stand-ins and
    every group timer cut to 1 s; the routing tree itself is unchanged."""
    secret = yaml.safe_load((ROOT / "manifests" / "alertmanager-config.yaml").read_text())
    config = yaml.safe_load(secret["stringData"]["alertmanager.yaml"])
    config["global"] = {**config.get("global", {}), "resolve_timeout": "5s"}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("group_wait", "group_interval"):
                if key in node:
                    node[key] = "1s"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(config["route"])
    for receiver in config["receivers"]:
        for sc in receiver.get("slack_configs", []):
            sc.pop("api_url_file")
            sc["api_url"] = slack.new_incoming_webhook(sc["channel"])
        for wc in receiver.get("webhook_configs", []):
            wc["url"] = f"{bot_url}/alertmanager"
            wc["http_config"]["authorization"] = {"type": "Bearer",
                                                  "credentials": WEBHOOK_TOKEN}
        for pd in receiver.get("pagerduty_configs", []):
            pd.pop("service_key_file")
            pd["service_key"] = "drill-test"
            pd["url"] = "http://127.0.0.1:9/"
    return yaml.safe_dump(config)


def wait(predicate: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    return wait_for(predicate, what, timeout=timeout, interval=0.1)


def text_of(msg: dict[str, Any] | None) -> str:
    if msg is None:
        return ""
    blocks = list(msg.get("blocks") or [])
    for att in msg.get("attachments") or []:
        blocks.extend(att.get("blocks") or [])
    return json.dumps(blocks, ensure_ascii=False) + str(msg.get("text", ""))


def bot_messages(slack: SlackStandin, channel: str) -> list[dict[str, Any]]:
    return [m for m in list(slack.messages.get(channel, []))
            if m.get("bot_id") == slack.bot_id and m.get("thread_ts") in (None, m["ts"])]


def find(slack: SlackStandin, channel: str, *needles: str) -> dict[str, Any] | None:
    return next((m for m in bot_messages(slack, channel)
                 if all(n in text_of(m) for n in needles)), None)


def response_text(slack: SlackStandin, needle: str) -> str | None:
    for r in list(slack.responses):
        body = json.dumps(r["payload"], ensure_ascii=False)
        if needle in body:
            return body
    return None


@pytest.fixture
def drill_bot(slack: SlackStandin,
              make_bot: BotFactory) -> Iterator[tuple[Bot, AlertmanagerProcess]]:
    require_binary(["prometheus-alertmanager", "alertmanager"], "real Alertmanager routes drills")
    for name in (*REAL_CHANNELS, "#genai-gameday"):
        slack.channel_id(name)  # the channels exist in the workspace
    port = free_port()
    with KubeStandin() as kube, \
            AlertmanagerProcess(shipped_am_config(f"http://127.0.0.1:{port}", slack)) as am:
        kube.add(node("gpu-node-0", labels={"nvidia.com/gpu.present": "true"}))
        kube.add(pod(DIAG_POD, node="gpu-node-0", labels={"app": "inference"}))
        bot = make_bot(
            "http://127.0.0.1:9", kube.url, http={"host": "127.0.0.1", "port": port},
            roles={"admins": [ADMIN], "responders": [RESP]}, alertmanager={"url": am.url},
            # Every minute, so the prompt is due as soon as the bot starts.
            gameday={"schedules": [{"name": "e2e", "cron": "* * * * *", "timezone": "Asia/Seoul",
                                    "scenario": "gpu-oom"}], "tick_s": 1},
            alerts={"channel_interval_s": 0.05},
        )
        yield bot, am


def test_drill_end_to_end(drill_bot: tuple[Bot, AlertmanagerProcess], slack: SlackStandin) -> None:
    bot, am = drill_bot
    events = bot.url + "/slack/events"
    drill_ch = slack.channel_id("#genai-gameday")
    store = bot.runtime.store
    started = time.monotonic()

    # 1. The scheduler posts the prompt in the drill channel: Join, Start now, Skip.
    prompt = wait(lambda: find(slack, drill_ch, "gameday_start_now"), "the drill prompt")
    assert "Game Day" in text_of(prompt) and "gameday_skip" in text_of(prompt)
    slack.send_block_action(events, "gameday_join", user_id=VIEWER, channel_id=drill_ch,
                            message_ts=prompt["ts"])
    # A viewer may not start it; an admin may.
    slack.send_block_action(events, "gameday_start_now", user_id=VIEWER, channel_id=drill_ch,
                            message_ts=prompt["ts"])
    wait(lambda: response_text(slack, "Only admins may start drills"), "the refusal")
    slack.send_block_action(events, "gameday_start_now", user_id=ADMIN, channel_id=drill_ch,
                            message_ts=prompt["ts"])
    briefing = wait(lambda: find(slack, drill_ch, "started: GPU out of memory"), "the briefing")
    assert "gameday_findings" in text_of(briefing) and "Success criteria" in text_of(briefing)
    drill = bot.runtime.gameday.drills.running()
    assert drill is not None and drill.scheduled_job == "gameday:e2e"
    # The prompt is edited: the outcome instead of the buttons.
    closed = wait(lambda: "Started by U0ADMIN" in text_of(
        slack.find_message(drill_ch, prompt["ts"])), "the closed prompt")
    assert closed and "gameday_start_now" not in text_of(slack.find_message(drill_ch,
                                                                           prompt["ts"]))

    # 2-3. The injected alert went through the real Alertmanager to the bot: posted [DRILL].
    assert am.alerts([f'drill_id="{drill.public_id}"'])[0]["labels"]["gameday"] == "true"
    alert = wait(lambda: find(slack, drill_ch, "incident_ack"), "the [DRILL] alert post")
    assert "[DRILL]" in text_of(alert) and "GPUMemoryHigh" in text_of(alert)
    incident = next(i for i in store.incidents.open(include_drills=True)
                    if i.labels.get("drill_id") == drill.public_id)
    assert incident.drill and incident not in store.incidents.open()

    # 4-5. Signed Ack and Run diagnostics clicks on the alert.
    slack.send_block_action(events, "incident_ack", user_id=RESP, channel_id=drill_ch,
                            message_ts=alert["ts"])
    wait(lambda: (i := store.incidents.get(incident.public_id)) and i.acked_at, "the ack")
    slack.send_block_action(events, "incident_diag", user_id=RESP, channel_id=drill_ch,
                            message_ts=alert["ts"])
    wait(lambda: any(a.kind == "diag" for a in store.incidents.actions(incident.public_id)),
         "the diagnosis in the audit log")

    # 6. Resolve ends the drill; the report with timings goes to the drill channel.
    slack.send_block_action(events, "incident_resolve", user_id=RESP, channel_id=drill_ch,
                            message_ts=alert["ts"])
    report = wait(lambda: find(slack, drill_ch, "Timings vs targets"), "the drill report")
    body = text_of(report)
    for part in ("Time to detect (TTD)", "Time to acknowledge (TTA)", "Time to diagnosis",
                 "Time to resolve (TTR)", "≤ 5 min", RESP, VIEWER, ADMIN,
                 "Update the runbook (gpu-oom)"):
        assert part in body, part
    ended = bot.runtime.gameday.drills.get(drill.public_id)
    assert ended is not None and ended.status == "ended"
    timings = bot.runtime.gameday.summary(ended).timings
    assert timings is not None
    measured = {k: timings.seconds(k) or -1.0 for k in ("detect", "ack", "diagnose", "resolve")}
    assert all(v >= 0 for v in measured.values()), measured
    assert measured["detect"] <= measured["ack"] <= measured["diagnose"] <= measured["resolve"]
    # The injected alert was ended in Alertmanager too.
    wait(lambda: not am.alerts([f'drill_id="{drill.public_id}"'], active=True),
         "the injected alert to end")

    # Findings: a signed click opens the modal (views.open), a signed submission stores them.
    trigger = slack.new_trigger_id()
    slack.send_block_action(events, "gameday_findings", user_id=RESP, channel_id=drill_ch,
                            message_ts=report["ts"], trigger_id=trigger)
    opened = wait(lambda: slack.calls_to("views.open", ok=True), "views.open")
    view = opened[0].params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "gameday_findings_modal"
    assert view["private_metadata"] == drill.public_id
    resp = slack.send_view_submission(events, "gameday_findings_modal", {
        "findings": {"text": {"type": "plain_text_input",
                              "value": "The OOM was found from the previous logs"}},
        "action_items": {"text": {"type": "plain_text_input",
                                  "value": f"{RESP}: add the KV cache check to the runbook"}},
    }, user_id=RESP)
    assert resp.status_code == 200 and resp.text in ("", "{}")
    # A viewer's submission is refused inside the modal, nothing stored.
    refused = slack.send_view_submission(events, "gameday_findings_modal", {
        "findings": {"text": {"type": "plain_text_input", "value": "viewer note"}}},
        user_id=VIEWER, private_metadata=drill.public_id)
    assert refused.json()["response_action"] == "errors"
    # A form naming no drill id, or one that is gone, says which, inside the modal.
    note = {"findings": {"text": {"type": "plain_text_input", "value": "lost note"}}}
    for metadata, expected in (("../../etc", "which is not a drill id"),
                               ("a" * 10, "Drill aaaaaaaaaa no longer exists")):
        answer = slack.send_view_submission(events, "gameday_findings_modal", note,
                                            user_id=RESP, private_metadata=metadata)
        assert answer.json()["response_action"] == "errors"
        assert expected in answer.json()["errors"]["findings"], answer.text
    wait(lambda: (d := bot.runtime.gameday.drills.get(drill.public_id)) and d.findings,
         "the stored findings")
    with_findings = bot.runtime.gameday.drills.get(drill.public_id)
    assert with_findings is not None
    md = bot.runtime.gameday.markdown(with_findings)
    assert "- The OOM was found from the previous logs (U0RESP)" in md
    assert "- [ ] add the KV cache check to the runbook (owner U0RESP)" in md
    assert "viewer note" not in md and "lost note" not in md
    slack.send_slash_command(events, f"gameday export {drill.public_id}", user_id=VIEWER,
                             channel_id=drill_ch)
    wait(lambda: response_text(slack, "add the KV cache check"), "the Markdown export")

    # A second drill from slash commands: clear answers, and `end` ends it.
    slack.send_slash_command(events, "gameday start gpu-om", user_id=ADMIN, channel_id=drill_ch)
    wait(lambda: response_text(slack, "Did you mean 'gpu-oom'"), "the unknown-scenario answer")
    slack.send_slash_command(events, "gameday start error-spike", user_id=ADMIN,
                             channel_id=drill_ch)
    wait(lambda: find(slack, drill_ch, "Inference error-rate spike"), "the second briefing")
    slack.send_slash_command(events, "gameday start gpu-oom", user_id=ADMIN, channel_id=drill_ch)
    wait(lambda: response_text(slack, "already running"), "the already-running answer")
    second = wait(lambda: find(slack, drill_ch, "InferenceErrorRateHigh", "incident_ack"),
                  "the critical drill alert")
    assert "[DRILL]" in text_of(second)
    # `/genai diag` during the drill is its diagnosis step; one that finds no pod is not.
    slack.send_slash_command(events, "diag model-load vllm-nope", user_id=ADMIN,
                             channel_id=drill_ch)
    wait(lambda: response_text(slack, "Pod not found"), "the no-such-pod answer")
    slack.send_slash_command(events, f"diag model-load {DIAG_POD}", user_id=RESP,
                             channel_id=drill_ch)
    wait(lambda: response_text(slack, f"diag model-load: inference/{DIAG_POD}"), "the diagnosis")
    slack.send_slash_command(events, "gameday end", user_id=RESP, channel_id=drill_ch)
    wait(lambda: response_text(slack, "Time to resolve (TTR)") and
         response_text(slack, "drill ended (command) by U0RESP"), "the end report")
    slack.send_slash_command(events, "gameday end", user_id=RESP, channel_id=drill_ch)
    wait(lambda: response_text(slack, "No drill is running"), "the nothing-to-end answer")
    latest = bot.runtime.gameday.drills.latest()
    assert latest is not None and latest.scenario == "error-spike"
    timings = bot.runtime.gameday.summary(latest).timings
    assert timings is not None
    [diagnosed] = [m for m in timings.milestones if m.key == "diagnose"]
    assert diagnosed.by == RESP and diagnosed.seconds_from(timings.start) is not None
    slack.send_slash_command(events, "gameday", user_id=VIEWER, channel_id=drill_ch)
    wait(lambda: response_text(slack, "Game Day scoreboard"), "the scoreboard")

    # Drills stay drills: nothing in the real channels, from the bot or from Alertmanager.
    time.sleep(1.5)  # a group_interval, for any late notification
    for name in REAL_CHANNELS:
        assert slack.messages.get(slack.channel_id(name), []) == [], name
    am_posts = slack.calls_to("incoming_webhook")
    assert am_posts and {c.params.get("channel") for c in am_posts} == {"#genai-gameday"}
    # Left out of the /genai report fatigue figures (counted only when drills are asked for).
    assert bot.runtime.store.fatigue.per_alert(incident.opened_at) == []
    assert bot.runtime.store.fatigue.per_alert(incident.opened_at, include_drills=True)
    print(f"drill e2e: {time.monotonic() - started:.1f}s, timings {measured}")
