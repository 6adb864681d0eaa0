"""/genai alerts, ack and report on a real store (SQLite file), through the dispatcher."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.alerts.intake import Intake
from bot.config import KubernetesSettings, load_settings
from bot.dispatch import Invocation, parse
from bot.render.text import render_text
from bot.report import Report, Status
from bot.roles import Role
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from bot.store import Outbox, Store, open_store, utcnow
from commands.base import Context
from tests.test_intake import notification


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'bot.db'}")
    yield s
    s.db.dispose()


@pytest.fixture
def intake(store: Store) -> Iterator[Intake]:
    i = Intake(store, load_settings(webhook_token="t"))
    yield i
    i.close()


def run(store: Store, text: str, user: str = "U1", role: Role = Role.RESPONDER) -> Report:
    settings = load_settings()
    ctx = Context(settings=settings, prometheus=PrometheusSource("http://127.0.0.1:1"),
                  kubernetes=KubernetesSource(KubernetesSettings()), user_id=user, role=role,
                  store=store)
    parsed = parse(text, role)
    if isinstance(parsed, Report):
        return parsed
    assert isinstance(parsed, Invocation)
    return parsed.command.run(ctx, parsed.args)


def open_incident(intake: Intake, alertname: str, **kw: str) -> str:
    answer = intake.record(notification(alertname=alertname, **kw), "#genai-warnings")
    assert answer.status == 200
    return str(answer.body["incident"])


def test_alerts_lists_open_incidents_with_age_and_ack_state(store: Store,
                                                            intake: Intake) -> None:
    assert run(store, "alerts").summary == "None open. Quiet night."
    gpu = open_incident(intake, "GPUMemoryHigh")
    err = open_incident(intake, "InferenceErrorRateHigh", severity="critical")
    store.acknowledge(gpu, "U7", utcnow())
    report = run(store, "alerts")
    assert report.summary == "2 open, 1 not acknowledged"
    rows = {r.check: r for r in report.rows}
    assert rows[f"{gpu} GPUMemoryHigh"].status is Status.WARN
    assert rows[f"{gpu} GPUMemoryHigh"].detail.startswith("acked by U7 after ")
    assert rows[f"{err} InferenceErrorRateHigh"].detail == "not acknowledged"
    assert rows[f"{err} InferenceErrorRateHigh"].value.startswith("critical, open ")


def test_ack_needs_a_responder_and_records_time_to_ack(store: Store, intake: Intake) -> None:
    pid = open_incident(intake, "GPUMemoryHigh")
    refused = run(store, f"ack {pid}", role=Role.VIEWER)
    assert refused.title == "Not allowed" and "responder" in render_text(refused)
    done = run(store, f"ack {pid}", user="U5")
    assert done.title == "Acknowledged" and not done.private
    inc = store.incident(pid)
    assert inc is not None and inc.acked_by == "U5" and inc.tta_s is not None
    again = run(store, f"ack {pid}", user="U6")
    assert again.title == "Already acknowledged" and "by U5" in render_text(again)
    with store.db.session(readonly=True) as s:
        kinds = sorted((o.kind, (o.payload or {}).get("note") or "")
                       for o in s.scalars(select(Outbox)))
    assert ("update", "") in kinds and ("thread_reply", "ack") in kinds
    assert run(store, "ack nosuchid").title == "Not found"


def test_report_turns_fatigue_into_advice(store: Store, intake: Intake) -> None:
    for i in range(12):  # fired often, nobody ever acked: noise
        pid = open_incident(intake, "GPUUnderutilized", severity="info",
                            extra={"gpu": str(i), "run": str(i)})
        store.resolve_by_hand(pid, "alertmanager", utcnow())
    for i in range(3):  # acked fast: keep
        pid = open_incident(intake, "InferenceErrorRateHigh", severity="critical",
                            extra={"run": str(i)})
        store.acknowledge(pid, "U1", utcnow() + timedelta(seconds=90))
        store.resolve_by_hand(pid, "U1", utcnow() + timedelta(seconds=300))
    drill = open_incident(intake, "GPUTemperatureHigh", extra={"gameday": "true"})
    report = run(store, "report 7d")
    rows = {r.check: r for r in report.rows}
    assert "GPUTemperatureHigh" not in rows and drill  # drills stay out of the figures
    noisy = rows["GPUUnderutilized"]
    assert noisy.status is Status.FAIL
    assert noisy.value.startswith("12× · acked 0%")
    assert "never acked 12" in noisy.detail
    assert "raise the threshold or lower the severity" in noisy.detail
    good = rows["InferenceErrorRateHigh"]
    assert good.status is Status.OK and "acked 100%" in good.value and "MTTA p50 1 m" in good.value
    assert report.rows[0].check == "GPUUnderutilized"  # the worst first


@pytest.mark.parametrize("text", ["report 0d", "report week", "report 7d 8d", "ack", "ack a b",
                                  "alerts now"])
def test_bad_arguments_get_usage(store: Store, text: str) -> None:
    from bot.errors import UsageError

    with pytest.raises(UsageError):
        run(store, text)
