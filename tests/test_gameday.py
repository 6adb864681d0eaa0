"""Game Day without Slack: the catalog, the commands' answers, timings from real incident
rows, the report and export, and the scheduler (lease + unique run row) on SQLite and
PostgreSQL, including two replicas racing and runs missed while the bot was down. Drills
inject into the real Alertmanager; a fault it cannot produce is injected at the HTTP layer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from slack_sdk import WebClient
from sqlalchemy import func, select

from bot.channels import Channels
from bot.config import Settings, load_settings
from bot.gameday.catalog import CatalogError, default_catalog, load_catalog
from bot.gameday.scheduler import Scheduler, due_runs
from bot.gameday.service import Gameday
from bot.report import Status
from bot.roles import Role, RoleResolver
from bot.runbooks import load_runbooks
from bot.slack.outbox.worker import OutboxWorker
from bot.slack.render.modals import FindingsSubmission, findings_modal
from bot.slack.render.table import MessageRenderer
from bot.sources.alertmanager import AlertmanagerSource
from bot.store import Database, IntakeItem, Outbox, SchedulerRun, Store
from bot.store.models import GamedayPrompt
from bot.store.states import ActionKind
from commands import gameday as cmd
from commands.base import Context
from tests.harness.alertmanager import AlertmanagerProcess
from tests.harness.procs import require_binary
from tests.harness.slack import SlackStandin

ROOT = Path(__file__).resolve().parent.parent
ADMIN, RESP, VIEWER = "U0ADMIN", "U0RESP", "U0VIEWER"


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[AlertmanagerProcess]:
    """The real binary: a drill alert it would refuse (a malformed startsAt, say) fails here
    as it fails in production."""
    require_binary(["prometheus-alertmanager", "alertmanager"], "drills inject through it")
    config = yaml.safe_dump({"route": {"receiver": "none"}, "receivers": [{"name": "none"}]})
    with AlertmanagerProcess(config) as am:
        yield am


def drill_alerts(am: AlertmanagerProcess, drill_id: str) -> list[dict[str, Any]]:
    """The drill's alerts Alertmanager holds as active (ended ones drop out)."""
    return am.alerts([f'drill_id="{drill_id}"'])


Factory = Callable[..., Gameday]


@pytest.fixture
def make_gameday(db_url: str, alertmanager: AlertmanagerProcess) -> Iterator[Factory]:
    """Gamedays on the test database, one per "replica", each with its own engine."""
    made: list[Database] = []

    def make(**gameday: Any) -> Gameday:
        settings = load_settings(database_url=db_url, gameday=gameday,
                                 roles={"admins": [ADMIN], "responders": [RESP]})
        db = Database(db_url)
        made.append(db)
        channels = Channels(settings.channels)
        channels.learn({"#genai-gameday": "C0GAMEDAY"})
        return Gameday(db, settings.gameday, RoleResolver(settings.roles),
                       AlertmanagerSource(alertmanager.url, 5), default_catalog(), channels)

    yield make
    for db in made:
        db.dispose()


def store_of(gd: Gameday) -> Store:
    return Store(gd.drills.db)


def sched(gd: Gameday, holder: str) -> Scheduler:
    return Scheduler(gd, store_of(gd).leases, holder)


def ctx(gd: Gameday, user: str, role: Role) -> Context:
    return Context(settings=load_settings(gameday=gd.settings.model_dump()),
                   prometheus=cast(Any, None), kubernetes=cast(Any, None), user_id=user,
                   role=role, store=store_of(gd), gameday=gd)


def text_of(report: Any) -> str:
    from bot.render.text import render_text

    return str(render_text(report))


# ------------------------------------------------------------------ catalog


def test_catalog_has_guide_scenarios_and_alerts_with_runbooks() -> None:
    runbooks = load_runbooks()
    catalog = load_catalog(alert_names=set(runbooks.alerts()),
                           runbook_ids={rb.id for rb in runbooks})
    ids = catalog.ids()
    assert {"gpu-oom", "network-nccl", "model-load", "karpenter"} <= set(ids)
    assert {"gpu-overheat", "error-spike"} <= set(ids)
    rules = yaml.safe_load((ROOT / "manifests" / "prometheus-rules.yaml").read_text())
    rule_names = {r["alert"] for g in rules["spec"]["groups"] for r in g["rules"] if "alert" in r}
    for s in catalog.scenarios:
        assert s.inject is not None and s.inject.alertname in rule_names, s.id
        assert s.runbook is None or runbooks.get(s.runbook) is not None, s.id
        assert s.success_criteria and s.expected_diagnosis and s.targets.resolve_min > 0


def test_catalog_refuses_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  - id: x\n    title: t\n")
    with pytest.raises(CatalogError, match="briefing"):
        load_catalog(bad)
    good = yaml.safe_load((ROOT / "bot" / "gameday" / "scenarios.yaml").read_text())
    good["scenarios"][0]["inject"]["labels"]["alertname"] = "NoSuchAlert"
    bad.write_text(yaml.safe_dump(good))
    with pytest.raises(CatalogError, match="NoSuchAlert has no rule"):
        load_catalog(bad, alert_names=set(load_runbooks().alerts()))
    good["scenarios"][0]["inject"]["labels"]["alertname"] = "GPUMemoryHigh"
    good["scenarios"][0]["runbook"] = "no-such-runbook"
    bad.write_text(yaml.safe_dump(good))
    with pytest.raises(CatalogError, match="no runbook no-such-runbook"):
        load_catalog(bad, runbook_ids={rb.id for rb in load_runbooks()})


def test_findings_form_is_validated() -> None:
    view = findings_modal("abcdefghij", "Drill")
    view["state"] = {"values": {
        "findings": {"text": {"value": "runbook lacked NCCL step\n\n  slow ack  "}},
        "action_items": {"text": {"value": "U0RESP: add NCCL_DEBUG to runbook\nraise alert"}},
    }}
    form = FindingsSubmission.from_view(view)
    assert form.findings == ["runbook lacked NCCL step", "slow ack"]
    assert [(i.owner, i.text) for i in form.action_items] == [
        ("U0RESP", "add NCCL_DEBUG to runbook"), (None, "raise alert")]
    with pytest.raises(ValueError):
        FindingsSubmission.from_view({**view, "private_metadata": "<!channel>"})


# ------------------------------------------------------------------ commands


def test_commands_answer_clearly(make_gameday: Factory,
                                 alertmanager: AlertmanagerProcess) -> None:
    gd = make_gameday()
    admin = ctx(gd, ADMIN, Role.ADMIN)
    unknown = text_of(cmd.run(admin, ["start", "gpu-om"]))
    assert "no scenario 'gpu-om'" in unknown and "Did you mean 'gpu-oom'" in unknown
    nothing = text_of(cmd.run(admin, ["end"]))
    assert "No drill is running" in nothing and "Nothing to end" in nothing
    refused = text_of(cmd.run(ctx(gd, VIEWER, Role.VIEWER), ["start", "gpu-oom"]))
    assert "Only admins" in refused

    started = cmd.run(admin, ["start", "gpu-oom"])
    assert "started" in started.title and not started.private
    drill = gd.drills.running()
    assert drill is not None
    (held,) = drill_alerts(alertmanager, drill.public_id)  # Alertmanager took it
    assert held["labels"]["gameday"] == "true"
    assert held["labels"]["alertname"] == "GPUMemoryHigh"
    assert held["status"]["state"] == "active"

    again = text_of(cmd.run(admin, ["start", "error-spike"]))
    assert "already running" in again and drill.public_id in again
    assert "/genai gameday end" in again

    ended = cmd.run(ctx(gd, RESP, Role.RESPONDER), ["end"])
    assert "Timings vs targets" in text_of(ended)
    # Ending expires the injected alert in Alertmanager (endsAt = now): no longer active.
    assert drill_alerts(alertmanager, drill.public_id) == []
    assert "No drill is running" in text_of(cmd.run(admin, ["end"]))
    assert "gpu-oom" in text_of(cmd.run(admin, ["list"]))
    assert "Game Day scoreboard" in text_of(cmd.run(admin, []))


def test_concurrent_starts_run_one_drill(make_gameday: Factory) -> None:
    replicas = [make_gameday(), make_gameday()]
    barrier = threading.Barrier(2)

    def start(i: int) -> str:
        barrier.wait(5)
        return text_of(cmd.run(ctx(replicas[i], ADMIN, Role.ADMIN), ["start", "karpenter"]))

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(start, range(2)))
    assert sum("already running" in a for a in answers) == 1


# ------------------------------------------------------------------ timings, report


def _webhook(drill_id: str, status: str = "firing") -> dict[str, Any]:
    labels = {"alertname": "GPUMemoryHigh", "severity": "warning", "gameday": "true",
              "drill_id": drill_id}
    return {
        "version": "4", "status": status, "receiver": "gameday-drills",
        "groupKey": f'{{}}/{{gameday="true"}}:{{alertname="GPUMemoryHigh",drill_id="{drill_id}"}}',
        "truncatedAlerts": 0, "groupLabels": {"alertname": "GPUMemoryHigh"},
        "commonLabels": labels, "commonAnnotations": {"summary": "drill"},
        "externalURL": "http://am:9093",
        "alerts": [{"status": status, "labels": labels, "annotations": {},
                    "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "", "fingerprint": "f1"}],
    }


def test_timings_come_from_the_incident_rows(make_gameday: Factory) -> None:
    gd = make_gameday()
    started = gd.start("gpu-oom", ADMIN)
    d = started.drill
    t0 = next(e.at for e in gd.drills.events(d.id) if e.kind == "injected")
    store = store_of(gd)
    result = store.intake.record(IntakeItem(_webhook(d.public_id), "C0GAMEDAY"),
                                 now=t0 + timedelta(seconds=30))
    pid = result.public_id
    assert pid is not None
    gd.join(f"d:{d.public_id}", "U0JOINER")
    store.incidents.acknowledge(pid, RESP, t0 + timedelta(seconds=90))
    store.incidents.record_action(pid, ActionKind.DIAG, "U0DIAG", allowed=True,
                                  now=t0 + timedelta(minutes=4))
    store.incidents.record_action(pid, ActionKind.DIAG, "U0LATE", allowed=True,
                                  now=t0 + timedelta(minutes=9))
    store.incidents.resolve_by_hand(pid, RESP, t0 + timedelta(minutes=40))
    inc = store.incidents.get(pid)
    assert inc is not None and inc.drill
    gd.on_incident_resolved(inc, RESP)
    ended = gd.drills.get(d.public_id)
    assert ended is not None and ended.status == "ended"
    assert gd.drills.running() is None

    s = gd.summary(ended)
    assert s.timings is not None and s.facts is not None
    assert s.timings.seconds("detect") == 30
    assert s.timings.seconds("ack") == 90
    assert s.timings.seconds("diagnose") == 240
    assert s.timings.seconds("resolve") == 2400
    assert [s.timings.met(k) for k in ("detect", "ack", "diagnose", "resolve")] == [
        True, True, True, False]  # resolve target 30 min
    assert s.participants == [ADMIN, "U0JOINER", RESP, "U0DIAG", "U0LATE"]

    msg = gd.add_findings(d.public_id, RESP, ["ack was fast"],
                          [{"text": "add KV cache check to runbook", "owner": RESP}])
    assert "Saved 1 finding and 1 action item." in msg  # not "1 findings", "1 action items"
    assert "Only responders" in gd.add_findings(d.public_id, VIEWER, ["x"], [])
    final = gd.drills.get(d.public_id)
    assert final is not None
    report = text_of(gd.report(final))
    for part in ("Timeline", "Time to resolve (TTR)", "40m 00s", "≤ 30 min",
                 "ack was fast", "add KV cache check", "Update the runbook (gpu-oom)"):
        assert part in report, part
    md = gd.markdown(final)
    assert "| Time to acknowledge (TTA) | 1m 30s | ≤ 5 min | yes |" in md
    assert "- [ ] add KV cache check to runbook (owner U0RESP)" in md
    assert "## Postmortem" in md and "Update the runbook" in md
    export = cmd.run(ctx(gd, VIEWER, Role.VIEWER), ["export", d.public_id])
    assert "".join(s.code or "" for s in export.sections) == md
    assert cmd.chunks("a\n" * 3000, 100) == ["a\n" * 50] * 60
    score = text_of(cmd.run(ctx(gd, VIEWER, Role.VIEWER), ["score"]))
    assert "TTA 1m 30s · TTR 40m 00s" in score and "add KV cache check" in score
    assert f"{d.public_id} #1: add KV cache check" in score
    # Closing the item: viewers may not, a bad number is named, and it leaves the scoreboard.
    assert "Only responders" in text_of(cmd.run(ctx(gd, VIEWER, Role.VIEWER),
                                                 ["done", d.public_id, "1"]))
    assert "has no action item 9" in text_of(cmd.run(ctx(gd, RESP, Role.RESPONDER),
                                                     ["done", d.public_id, "9"]))
    closed = text_of(cmd.run(ctx(gd, RESP, Role.RESPONDER), ["done", d.public_id, "#1"]))
    assert "add KV cache check" in closed and "done" in closed
    score = text_of(cmd.run(ctx(gd, VIEWER, Role.VIEWER), ["score"]))
    assert "add KV cache check" not in score
    assert "- [x] add KV cache check" in gd.markdown(gd.drills.get(d.public_id))
    # The report of a drill is also reachable by id and as the latest.
    assert d.public_id in text_of(cmd.run(ctx(gd, VIEWER, Role.VIEWER), ["report"]))


def test_alertmanager_expiry_is_not_a_resolution(make_gameday: Factory) -> None:
    gd = make_gameday()
    d = gd.start("gpu-oom", ADMIN).drill
    t0 = next(e.at for e in gd.drills.events(d.id) if e.kind == "injected")
    intake = store_of(gd).intake
    intake.record(IntakeItem(_webhook(d.public_id), "C0GAMEDAY"), now=t0 + timedelta(seconds=10))
    # The alert's endsAt passed: Alertmanager resolves it, nobody on the team did.
    intake.record(IntakeItem(_webhook(d.public_id, "resolved"), "C0GAMEDAY"),
                  now=t0 + timedelta(minutes=60))
    running = gd.drills.running()
    assert running is not None
    timings = gd.summary(running).timings
    assert timings is not None and timings.seconds("resolve") is None
    assert timings.seconds("ack") is None and timings.met("ack") is None
    # A `/genai diag` run during the drill is a diagnosis step of its runner.
    gd.note_diag("U0CLI", ["oom", "llama-70b-0"])
    after = gd.summary(running)
    assert after.timings is not None and after.timings.seconds("diagnose") is not None
    assert "U0CLI" in after.participants
    ended = gd.end(running, RESP, "command", at=t0 + timedelta(minutes=70))
    assert ended is not None
    final = gd.summary(ended).timings
    assert final is not None and final.seconds("resolve") == 70 * 60
    assert "resolved by Alertmanager" in text_of(gd.report(ended))


# ------------------------------------------------------------------ scheduler

WEEKLY = {"name": "weekly", "cron": "0 14 * * 3", "timezone": "Asia/Seoul",
          "scenario": "gpu-oom"}
WED_1400_SEOUL = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)  # a Wednesday, 14:00 KST


def test_due_runs_follow_the_timezone() -> None:
    runs = due_runs("0 14 * * 3", "Asia/Seoul", WED_1400_SEOUL - timedelta(days=8),
                    WED_1400_SEOUL)
    assert runs == [WED_1400_SEOUL - timedelta(days=7), WED_1400_SEOUL]


def _counts(gd: Gameday) -> tuple[int, int, int]:
    with gd.drills.db.session(readonly=True) as s:
        return (int(s.scalar(select(func.count()).select_from(SchedulerRun)) or 0),
                int(s.scalar(select(func.count()).select_from(GamedayPrompt)) or 0),
                int(s.scalar(select(func.count()).select_from(Outbox)
                             .where(Outbox.dedupe_key.like("gameday:prompt:%"))) or 0))


def test_two_replicas_racing_post_one_prompt(make_gameday: Factory,
                                            slack: SlackStandin) -> None:
    slack.create_channel("drills", "C0GAMEDAY")  # what make_gameday's Channels learned
    every_minute = {"name": "race", "cron": "* * * * *", "timezone": "UTC"}
    a, b = make_gameday(schedules=[every_minute]), make_gameday(schedules=[every_minute])
    scheds = [Scheduler(a, store_of(a).leases, "replica-a"),
              Scheduler(b, store_of(b).leases, "replica-b")]
    fired = 0
    for minute in range(5):  # five ticks, each raced by both replicas
        now = WED_1400_SEOUL + timedelta(minutes=minute, seconds=1)
        barrier = threading.Barrier(2)

        def tick(i: int, now: datetime = now, barrier: threading.Barrier = barrier) -> int:
            barrier.wait(5)
            return len(scheds[i].tick(now))

        with ThreadPoolExecutor(2) as pool:
            fired += sum(pool.map(tick, range(2)))
    assert fired == 5
    assert _counts(a) == (5, 5, 5)
    # Both replicas' outbox workers deliver: five prompts reach Slack, one per minute.
    for i, gd in enumerate((a, b)):
        store = store_of(gd)
        render = MessageRenderer(store.incidents, load_runbooks(), ["1h"])
        worker = OutboxWorker(store.outbox,
                              WebClient(base_url=slack.api_url, token=slack.bot_token),
                              render, worker_id=f"w{i}", per_channel_interval_s=0)
        while worker.run_once(now=WED_1400_SEOUL + timedelta(minutes=10)):
            pass
    posts = slack.messages.get(slack.channel_id("C0GAMEDAY"), [])
    assert len(posts) == 5 and all("gameday_start_now" in str(m["blocks"]) for m in posts)
    # Without the lease (it expired, or clocks disagree) the unique run row still decides.
    late = WED_1400_SEOUL + timedelta(minutes=4, seconds=30)
    for i, gd in enumerate((a, b)):
        store_of(gd).leases.release_lease("gameday-scheduler", f"replica-{'ab'[i]}", now=late)
        assert gd.drills.claim_run("gameday:race", WED_1400_SEOUL + timedelta(minutes=4),
                                   f"x{i}", "gpu-oom", "posted", late, None) is None
    assert _counts(a) == (5, 5, 5)


@pytest.mark.parametrize("policy", ["catch_up", "skip"])
def test_missed_run_is_caught_up_once_or_skipped(make_gameday: Factory, policy: str) -> None:
    cfg = {"schedules": [WEEKLY], "missed": policy, "catch_up_max_age_h": 6, "tick_s": 30}
    gd = make_gameday(**cfg)
    on_time = sched(gd, "r1").tick(WED_1400_SEOUL + timedelta(seconds=20))
    assert [(f.status, f.late) for f in on_time] == [("posted", False)]
    assert sched(gd, "r1").tick(WED_1400_SEOUL + timedelta(seconds=50)) == []

    # The bot is down over the next Wednesday 14:00 and comes back at 16:30 KST.
    next_run = WED_1400_SEOUL + timedelta(days=7)
    back = next_run + timedelta(hours=2, minutes=30)
    restarted = make_gameday(**cfg)  # a new process (and engine) after the outage
    first = sched(restarted, "r2").tick(back)
    assert len(first) == 1 and first[0].scheduled_for == next_run and first[0].late
    expected = "posted" if policy == "catch_up" else "missed"
    assert first[0].status == expected
    # Never twice: later ticks, and other replicas, do nothing for that run.
    for t in (back + timedelta(seconds=30), back + timedelta(hours=1)):
        assert sched(restarted, "r2").tick(t) == []
        assert sched(make_gameday(**cfg), "r3").tick(t + timedelta(minutes=5)) == []
    runs, prompts, posts = _counts(gd)
    assert (runs, prompts) == (2, 2)
    assert posts == (2 if policy == "catch_up" else 1)
    statuses = [p.status for p in gd.drills.prompts()]
    assert statuses == [expected, "posted"]


def test_run_older_than_catch_up_window_is_not_replayed(make_gameday: Factory) -> None:
    cfg = {"schedules": [WEEKLY], "missed": "catch_up", "catch_up_max_age_h": 1}
    gd = make_gameday(**cfg)
    assert sched(gd, "r1").tick(WED_1400_SEOUL + timedelta(seconds=5))
    assert sched(gd, "r1").tick(WED_1400_SEOUL + timedelta(days=7, hours=3)) == []
    assert _counts(gd)[1] == 1


def test_prompt_buttons_start_once_and_skip(make_gameday: Factory) -> None:
    gd = make_gameday(schedules=[WEEKLY])
    sched(gd, "r1").tick(WED_1400_SEOUL + timedelta(seconds=5))
    prompt = gd.drills.prompts()[0]
    assert "Posted late" not in str(gd.prompt_message(prompt, late=False))
    assert gd.join(f"p:{prompt.public_id}", "U0EARLY") == "You joined the drill."
    assert "Only admins" in gd.start_from_prompt(prompt.public_id, RESP)
    assert "started" in gd.start_from_prompt(prompt.public_id, ADMIN)
    assert "already" in gd.start_from_prompt(prompt.public_id, ADMIN)
    assert "already" in gd.skip(prompt.public_id, ADMIN)
    drill = gd.drills.running()
    assert drill is not None and drill.scheduled_job == "gameday:weekly"
    assert "U0EARLY" in gd.summary(drill).participants


def test_settings_type() -> None:
    assert isinstance(load_settings(), Settings)


def test_drill_whose_scenario_left_the_catalog_has_unknown_timings(
        make_gameday: Factory, tmp_path: Path) -> None:
    """No scenario, no targets: the report showed an empty timings table and the scoreboard
    "fail, 0/4 targets met". Both are unknown, with the reason."""
    gd = make_gameday()
    drill = gd.start("gpu-oom", ADMIN).drill
    ended = gd.end(drill, RESP, "command")
    assert ended is not None
    catalog = yaml.safe_load((ROOT / "bot" / "gameday" / "scenarios.yaml").read_text())
    catalog["scenarios"] = [s for s in catalog["scenarios"] if s["id"] != "gpu-oom"]
    smaller = tmp_path / "scenarios.yaml"
    smaller.write_text(yaml.safe_dump(catalog))
    gd.catalog = load_catalog(smaller)

    timings = next(s for s in gd.report(ended).sections if s.title == "Timings vs targets")
    assert [(r.check, r.status) for r in timings.rows] == [("Timings", Status.UNKNOWN)]
    assert "gpu-oom is not in the catalog" in timings.rows[0].detail
    [score] = cmd.run(ctx(gd, VIEWER, Role.VIEWER), ["score"]).rows
    assert score.status is Status.UNKNOWN, score
    assert score.detail.startswith("targets unknown (scenario not in the catalog), ")


def test_scoreboard_and_refusals_read_as_english(make_gameday: Factory) -> None:
    gd = make_gameday()
    drill = gd.start("gpu-oom", ADMIN).drill
    assert gd.end(drill, ADMIN, "command") is not None  # one person ran the whole drill
    board = cmd.run(ctx(gd, VIEWER, Role.VIEWER), ["score"])
    assert board.summary.startswith("Last drill: TTA ")  # not "Last 1 drills: median TTA"
    assert board.rows[0].detail.endswith(", 1 participant")  # not "1 participants"
    refused = text_of(cmd.run(ctx(gd, VIEWER, Role.VIEWER), ["start", "gpu-oom"]))
    assert "you are a viewer." in refused
    gd.start("karpenter", ADMIN)
    ended = text_of(cmd.run(ctx(gd, VIEWER, Role.VIEWER), ["end"]))
    assert "Only responders may end drills; you are a viewer." in ended


def test_an_unreachable_alertmanager_makes_a_tabletop_drill(db_url: str) -> None:
    """A fault the real binary cannot produce (it is gone): the drill still starts, as a
    tabletop drill, and the briefing and the timeline say why."""
    from tests.harness.procs import free_port

    settings = load_settings(database_url=db_url, roles={"admins": [ADMIN]})
    db = Database(db_url)
    try:
        gd = Gameday(db, settings.gameday, RoleResolver(settings.roles),
                     AlertmanagerSource(f"http://127.0.0.1:{free_port()}", 2),
                     default_catalog(), Channels(settings.channels))
        started = gd.start("gpu-oom", ADMIN)
        assert not started.injected and started.inject_error is not None
        assert "cannot connect" in started.inject_error
        report = text_of(gd.report(started.drill))
        assert "injection failed: alertmanager" not in report  # the reason, not the source
        assert f"injection failed: {started.inject_error}" in report
    finally:
        db.dispose()
