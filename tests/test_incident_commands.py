"""/genai alerts, ack and report on a real store (SQLite file), through the dispatcher and the
same incident service the buttons use."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.dispatch import Invocation, execute, parse
from bot.messages import NoteKind
from bot.render.text import render_text
from bot.report import Report, Status
from bot.runtime import Runtime
from bot.store import Outbox, utcnow
from tests.harness.alerts import notification

RESPONDERS = ["U1", "U5", "U6"]


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'bot.db'}",
                             webhook_token="t", roles={"responders": RESPONDERS})
    rt = Runtime.from_settings(settings)
    yield rt
    rt.close()


def run(runtime: Runtime, text: str, user: str = "U1") -> Report:
    caller = runtime.roles.caller(user)
    parsed = parse(text, caller)
    if isinstance(parsed, Report):
        return parsed
    assert isinstance(parsed, Invocation)
    return parsed.command.run(runtime.context(caller), parsed.args)


def open_incident(runtime: Runtime, alertname: str, **kw: Any) -> str:
    body = notification(alertname=alertname, **kw)
    # It started firing 30 s before the bot heard of it (group_wait).
    body["alerts"][0]["startsAt"] = (utcnow() - timedelta(seconds=30)).isoformat()
    answer = runtime.intake.record(body, "#genai-warnings")
    assert answer.status == 200
    return str(answer.body["incident"])


def test_alerts_lists_open_incidents_with_severity_apart_from_ack_state(
        runtime: Runtime) -> None:
    assert run(runtime, "alerts").summary == "None open."
    gpu = open_incident(runtime, "GPUMemoryHigh")
    err = open_incident(runtime, "InferenceErrorRateHigh", severity="critical")
    idle = open_incident(runtime, "GPUUnderutilized", severity="info")
    runtime.store.incidents.acknowledge(gpu, "U7", utcnow())
    report = run(runtime, "alerts")
    assert report.summary == "3 open, 2 not acknowledged"
    rows = {r.check: r for r in report.rows}
    assert rows[f"{gpu} GPUMemoryHigh"].status is Status.WARN
    assert rows[f"{gpu} GPUMemoryHigh"].detail.startswith("acknowledged by U7 after ")
    assert rows[f"{err} InferenceErrorRateHigh"].status is Status.FAIL
    assert rows[f"{err} InferenceErrorRateHigh"].detail == "NOT acknowledged"
    assert rows[f"{err} InferenceErrorRateHigh"].value.startswith("critical, firing ")
    # An unacknowledged info alert is info, not red (defect m).
    assert rows[f"{idle} GPUUnderutilized"].status is Status.INFO
    assert rows[f"{idle} GPUUnderutilized"].detail == "NOT acknowledged"


def test_ack_is_the_buttons_logic_refusals_audited(runtime: Runtime) -> None:
    pid = open_incident(runtime, "GPUMemoryHigh")
    refused = run(runtime, f"ack {pid}", user="U9")
    assert refused.title == "Not acknowledged" and refused.private
    assert "Only responders may acknowledge alerts; you are a viewer" in render_text(refused)
    (audit,) = runtime.store.incidents.actions(pid)
    assert (audit.kind, audit.user_id, audit.allowed) == ("ack", "U9", False)
    unchanged = runtime.store.incidents.get(pid)
    assert unchanged is not None and unchanged.acked_at is None

    done = run(runtime, f"ack {pid}", user="U5")
    assert done.title == "Acknowledged" and not done.private
    inc = runtime.store.incidents.get(pid)
    assert inc is not None and inc.acked_by == "U5" and inc.tta_s is not None
    again = run(runtime, f"ack {pid}", user="U6")
    assert again.title == "Already acknowledged" and again.private
    assert "by U5" in render_text(again)
    with runtime.store.db.session(readonly=True) as s:
        kinds = sorted((o.kind, (o.payload or {}).get("note") or "")
                       for o in s.scalars(select(Outbox)))
    # The card's edit and the thread note, exactly as the button queues them.
    assert ("update", "") in kinds and ("thread_reply", NoteKind.ACK.value) in kinds
    assert [a.allowed for a in runtime.store.incidents.actions(pid)] == [False, True, True]
    missing = run(runtime, "ack nosuchid0")
    assert missing.title == "Not acknowledged" and "no incident 'nosuchid0'" in \
        render_text(missing)


def test_report_turns_fatigue_into_advice(runtime: Runtime) -> None:
    store = runtime.store
    for i in range(12):  # fired often, nobody ever acked: noise
        pid = open_incident(runtime, "GPUUnderutilized", severity="info",
                            extra={"gpu": str(i), "run": str(i)})
        store.incidents.resolve_by_hand(pid, "alertmanager", utcnow())
    for i in range(3):  # acked fast: keep
        pid = open_incident(runtime, "InferenceErrorRateHigh", severity="critical",
                            extra={"run": str(i)})
        store.incidents.acknowledge(pid, "U1", utcnow() + timedelta(seconds=90))
        store.incidents.resolve_by_hand(pid, "U1", utcnow() + timedelta(seconds=300))
    open_incident(runtime, "ModelPodRestarting")  # just fired: nothing decided yet
    drill = open_incident(runtime, "GPUTemperatureHigh", extra={"gameday": "true"})
    report = run(runtime, "report 7d")
    rows = {r.check: r for r in report.rows}
    assert "GPUTemperatureHigh" not in rows and drill  # drills stay out of the figures
    noisy = rows["GPUUnderutilized"]
    assert noisy.status is Status.FAIL
    assert noisy.value.startswith("12× · acked 0%")
    assert "never acked 12" in noisy.detail
    assert "raise the threshold or lower the severity" in noisy.detail
    good = rows["InferenceErrorRateHigh"]
    assert good.status is Status.OK and "acked 100%" in good.value
    # MTTA runs from each alert's startsAt, 30 s before the bot heard: 90 + 30 s.
    assert "MTTA p50 2 m" in good.value
    # Unknown is never "keep" with a tick (defect l).
    early = rows["ModelPodRestarting"]
    assert early.status is Status.UNKNOWN and "keep" not in early.detail
    assert "too early to judge" in early.detail and "1 open, unacked" in early.detail
    assert "none acked" in early.value
    assert report.rows[0].check == "GPUUnderutilized"  # the worst first


@pytest.mark.parametrize("text", ["report 0d", "report week", "report 7d 8d", "ack", "ack a b",
                                  "alerts now"])
def test_bad_arguments_get_usage(runtime: Runtime, text: str) -> None:
    caller = runtime.roles.caller("U1")
    parsed = parse(text, caller)
    assert isinstance(parsed, Invocation)
    done = execute(parsed, runtime.context(caller))
    assert done.outcome == "usage" and "Usage: /genai" in render_text(done.report)
