"""The durable store, on SQLite (WAL file) and on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select

from bot.store import (
    Action,
    AlertEvent,
    Base,
    Database,
    Incident,
    NotFound,
    Outbox,
    SchedulerRun,
    SlackEvent,
    Store,
)
from tests.harness.pg import migrated_url

T = TypeVar("T")

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ALL_MODELS: list[type[Any]] = [Incident, AlertEvent, Action, Outbox, SlackEvent, SchedulerRun]

@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with migrated_url(request.param, tmp_path) as url:
        database = Database(url)
        try:
            yield database
        finally:
            database.dispose()


@pytest.fixture
def store(db: Database) -> Store:
    return Store(db, max_attempts=3)


def payload(
    status: str = "firing",
    *,
    group: str = "gpu",
    alertname: str = "GPUMemoryHigh",
    starts: str = "2025-03-01T09:00:00Z",
    value: str = "95",
    labels: dict[str, str] | None = None,
    external_url: str = "http://am-0:9093",
) -> dict[str, Any]:
    """An Alertmanager v4 webhook body with one alert."""
    common = {"alertname": alertname, "severity": "warning", "node": "ip-10-0-1-5"}
    common.update(labels or {})
    ann = {"summary": "GPU memory above 90%", "description": f"value is {value}%"}
    return {
        "version": "4",
        "groupKey": f'{{}}/{{severity=~"warning"}}:{{alertname="{alertname}",g="{group}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "slack-warning",
        "groupLabels": {"alertname": alertname},
        "commonLabels": common,
        "commonAnnotations": ann,
        "externalURL": external_url,
        "alerts": [
            {
                "status": status,
                "labels": common,
                "annotations": ann,
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2025-03-01T10:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
                "fingerprint": "c0ffee0123456789",
            }
        ],
    }


def counts(db: Database) -> dict[str, int]:
    with db.session(readonly=True) as s:
        return {
            m.__tablename__: int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in ALL_MODELS
        }


def outbox_rows(db: Database) -> list[Outbox]:
    with db.session(readonly=True) as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def builder(inc: Incident, kind: str) -> dict[str, Any]:
    return {"text": f"{kind} {inc.alertname} {inc.status}", "incident": inc.public_id}


def run_threads(n: int, fn: Callable[[int], T]) -> list[T]:
    """Run ``fn(i)`` in n threads released together by a barrier."""
    barrier = threading.Barrier(n)

    def go(i: int) -> T:
        barrier.wait(timeout=10)
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


# ------------------------------------------------------------------ schema


def test_migration_creates_schema_matching_orm(db: Database) -> None:
    assert db.current_revision() == "0002"
    with db.engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert set(Base.metadata.tables) <= names
    assert "alembic_version" in names
    assert diff == []
    db.migrate()  # idempotent
    assert db.current_revision() == "0002"
    assert db.ping() is True
    assert db.dialect in ("sqlite", "postgresql")


def test_sqlite_pragmas(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with database.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        database.dispose()


def test_ping_false_when_unreachable(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    assert database.ping() is False


def test_datetimes_come_back_aware_utc(db: Database, store: Store) -> None:
    kst = timezone(timedelta(hours=9))
    at = datetime(2025, 3, 1, 18, 0, tzinfo=kst)
    res = store.record_notification(payload(), "#alerts", now=at)
    assert res.public_id is not None
    inc = store.incident(res.public_id)
    assert inc is not None
    assert inc.opened_at == T0
    assert inc.opened_at.tzinfo is not None and inc.opened_at.utcoffset() == timedelta(0)
    naive_utc = datetime(2025, 3, 1, 9, 5)  # naive is taken as UTC
    acked, _ = store.acknowledge(res.public_id, "U1", naive_utc)
    assert acked.acked_at == T0 + timedelta(minutes=5)


# ------------------------------------------------------------------ intake


def test_intake_creates_incident_event_and_post(db: Database, store: Store) -> None:
    seen: list[str] = []

    def build(inc: Incident, kind: str) -> dict[str, Any]:
        seen.append(kind)
        assert inc.id is not None and inc.public_id
        return builder(inc, kind)

    res = store.record_notification(payload(), "#gpu-alerts", build, now=T0)
    assert (res.created, res.duplicate, res.status, res.generation) == (True, False, "firing", 1)
    assert res.enqueued == ("post",)
    assert seen == ["post"]
    assert counts(db) == {
        "incidents": 1, "alert_events": 1, "actions": 0, "outbox": 1,
        "slack_events": 0, "scheduler_runs": 0,
    }
    assert res.public_id is not None and len(res.public_id) == 10
    inc = store.incident(res.public_id)
    assert inc is not None
    assert inc.alertname == "GPUMemoryHigh" and inc.severity == "warning"
    assert inc.labels["node"] == "ip-10-0-1-5" and inc.channel == "#gpu-alerts"
    assert inc.annotations["description"] == "value is 95%"
    assert inc.drill is False and inc.is_open and inc.open_marker == 1
    (row,) = outbox_rows(db)
    assert (row.kind, row.state, row.channel, row.incident_id) == (
        "post", "pending", "#gpu-alerts", inc.id,
    )
    assert row.payload == {"text": "post GPUMemoryHigh firing", "incident": inc.public_id}
    assert row.dedupe_key == f"incident:{inc.id}:g1:post"
    assert store.open_incidents()[0].public_id == res.public_id


def test_repeat_with_new_values_updates_annotations_only(db: Database, store: Store) -> None:
    first = store.record_notification(payload(value="95"), "#a", builder, now=T0)
    again = store.record_notification(payload(value="97"), "#a", builder, now=T0)
    assert (again.created, again.duplicate, again.public_id) == (False, False, first.public_id)
    assert counts(db)["alert_events"] == 2 and counts(db)["outbox"] == 1
    assert first.public_id is not None
    inc = store.incident(first.public_id)
    assert inc is not None and inc.annotations["description"] == "value is 97%"


def test_duplicate_payload_writes_nothing(db: Database, store: Store) -> None:
    first = store.record_notification(payload(), "#a", builder, now=T0)
    before = counts(db)
    retry = store.record_notification(payload(), "#a", builder, now=T0 + timedelta(seconds=5))
    # An HA peer sends the same notification with its own externalURL.
    peer = store.record_notification(payload(external_url="http://am-1:9093"), "#a", builder)
    for res in (retry, peer):
        assert (res.duplicate, res.created, res.public_id) == (True, False, first.public_id)
        assert res.enqueued == ()
    assert counts(db) == before


def test_resolved_notification_resolves_and_enqueues(db: Database, store: Store) -> None:
    fired = store.record_notification(payload(), "#a", builder, now=T0)
    res = store.record_notification(
        payload("resolved"), "#other", builder, now=T0 + timedelta(minutes=30)
    )
    assert (res.public_id, res.status, res.created, res.duplicate) == (
        fired.public_id, "resolved", False, False,
    )
    assert res.enqueued == ("update", "thread_reply")
    assert fired.public_id is not None
    inc = store.incident(fired.public_id)
    assert inc is not None
    assert inc.status == "resolved" and inc.open_marker is None
    assert inc.resolved_at == T0 + timedelta(minutes=30) and inc.resolved_by is None
    rows = outbox_rows(db)
    assert [r.kind for r in rows] == ["post", "update", "thread_reply"]
    assert {r.channel for r in rows} == {"#a"}  # the incident's channel
    assert rows[1].payload["text"] == "update GPUMemoryHigh resolved"
    assert store.open_incidents() == []
    # The same resolved notification again: nothing.
    before = counts(db)
    assert store.record_notification(payload("resolved"), "#a", builder).duplicate
    assert counts(db) == before


def test_resolved_for_unknown_group_writes_nothing(db: Database, store: Store) -> None:
    res = store.record_notification(payload("resolved", group="never"), "#a", builder)
    assert res == type(res)(None, False, False, "resolved")
    assert sum(counts(db).values()) == 0


def test_refire_after_resolve_opens_new_incident(db: Database, store: Store) -> None:
    one = store.record_notification(payload(), "#a", builder, now=T0)
    store.record_notification(payload("resolved"), "#a", builder, now=T0 + timedelta(hours=1))
    two = store.record_notification(
        payload(starts="2025-03-01T11:00:00Z"), "#a", builder, now=T0 + timedelta(hours=2)
    )
    assert two.created and not two.duplicate and two.generation == 2
    assert two.public_id != one.public_id
    assert [i.public_id for i in store.open_incidents()] == [two.public_id]
    with db.session(readonly=True) as s:
        incs = list(s.scalars(select(Incident).order_by(Incident.id)))
    assert [(i.generation, i.status) for i in incs] == [(1, "resolved"), (2, "firing")]
    assert incs[0].group_key == incs[1].group_key
    assert [r.kind for r in outbox_rows(db)] == ["post", "update", "thread_reply", "post"]
    # A late copy of the first firing notification (HA peer) is still a duplicate.
    late = store.record_notification(payload(), "#a", builder)
    assert late.duplicate and late.public_id == one.public_id


def test_builder_exception_leaves_no_rows(db: Database, store: Store) -> None:
    def boom(inc: Incident, kind: str) -> dict[str, Any]:
        raise RuntimeError("renderer broke")

    with pytest.raises(RuntimeError, match="renderer broke"):
        store.record_notification(payload(), "#a", boom, now=T0)
    assert sum(counts(db).values()) == 0

    fired = store.record_notification(payload(), "#a", builder, now=T0)
    before = counts(db)
    with pytest.raises(RuntimeError):
        store.record_notification(payload("resolved"), "#a", boom, now=T0)
    assert counts(db) == before
    assert fired.public_id is not None
    inc = store.incident(fired.public_id)
    assert inc is not None and inc.status == "firing" and inc.resolved_at is None


def test_concurrent_intake_of_same_payload(db: Database, store: Store) -> None:
    results = run_threads(8, lambda i: store.record_notification(payload(), "#a", builder))
    assert sum(r.created for r in results) == 1
    assert sum(r.duplicate for r in results) == 7
    assert len({r.public_id for r in results}) == 1
    c = counts(db)
    assert (c["incidents"], c["alert_events"], c["outbox"]) == (1, 1, 1)


def test_drill_label_marks_incident(store: Store) -> None:
    res = store.record_notification(payload(labels={"gameday": "true"}), "#a")
    assert store.open_incidents() == []
    (inc,) = store.open_incidents(include_drills=True)
    assert inc.drill and inc.public_id == res.public_id


def test_anchored_incident_posts_into_thread(store: Store) -> None:
    store.record_notification(payload(), "#a", builder, thread_ts="1700000000.000100", now=T0)
    (row,) = store.claim_outbox("w", 10, T0, 30)
    assert row.kind == "post" and row.thread_ts == "1700000000.000100" and row.slack_ts is None
    assert store.complete_outbox(row.id, "1700000001.000200")
    assert row.incident_public_id is not None
    inc = store.incident(row.incident_public_id)
    assert inc is not None
    assert (inc.slack_ts, inc.thread_ts) == ("1700000001.000200", "1700000000.000100")


# ------------------------------------------------------------------ outbox


def test_claims_are_exclusive_across_concurrent_workers(db: Database, store: Store) -> None:
    total = 60
    for i in range(total):
        assert store.enqueue("post", "#a", {"n": i}, f"k{i}", now=T0)
    assert not store.enqueue("post", "#a", {"n": 0}, "k0", now=T0)  # dedupe_key
    assert store.outbox_pending_count() == total

    def worker(i: int) -> list[int]:
        got: list[int] = []
        while True:
            rows = store.claim_outbox(f"w{i}", 3, T0 + timedelta(seconds=1), 60)
            if not rows:
                return got
            for r in rows:
                got.append(r.id)
                assert store.complete_outbox(r.id, f"{r.id}.0001", worker_id=f"w{i}")

    claimed = run_threads(4, worker)
    flat = [x for ids in claimed for x in ids]
    assert len(flat) == total and len(set(flat)) == total
    assert store.outbox_pending_count() == 0
    assert store.outbox_counts()["done"] == total


def test_claim_order_due_time_and_expired_claims(store: Store) -> None:
    store.enqueue("post", "#a", {}, "a", now=T0)
    store.enqueue("post", "#a", {}, "b", now=T0 + timedelta(minutes=5))  # not due yet
    rows = store.claim_outbox("w1", 10, T0, 30)
    assert [r.dedupe_key for r in rows] == ["a"]
    assert rows[0].claimed_until == T0 + timedelta(seconds=30)
    assert store.claim_outbox("w2", 10, T0 + timedelta(seconds=10), 30) == []
    # w1 crashed: once its claim expires, w2 gets the row.
    again = store.claim_outbox("w2", 10, T0 + timedelta(seconds=31), 30)
    assert [r.id for r in again] == [rows[0].id]
    assert not store.complete_outbox(rows[0].id, "1.1", worker_id="w1")
    assert store.complete_outbox(rows[0].id, "1.1", worker_id="w2")
    assert not store.complete_outbox(rows[0].id, "1.1")  # already done
    later = store.claim_outbox("w2", 10, T0 + timedelta(minutes=6), 30)
    assert [r.dedupe_key for r in later] == ["b"]


def test_update_and_reply_wait_for_the_post(store: Store) -> None:
    fired = store.record_notification(payload(), "#a", builder, now=T0)
    store.record_notification(payload("resolved"), "#a", builder, now=T0)
    first = store.claim_outbox("w", 10, T0, 30)
    assert [r.kind for r in first] == ["post"]
    assert first[0].incident_public_id == fired.public_id
    assert store.claim_outbox("w", 10, T0, 30) == []
    assert store.complete_outbox(first[0].id, "1700000000.000100")
    rest = store.claim_outbox("w", 10, T0, 30)
    assert [r.kind for r in rest] == ["update", "thread_reply"]
    assert {(r.slack_ts, r.thread_ts) for r in rest} == {("1700000000.000100",) * 2}


def test_retry_backoff_then_dead(store: Store) -> None:
    store.enqueue("post", "#a", {}, "x", now=T0)
    (row,) = store.claim_outbox("w", 1, T0, 30)
    assert store.retry_outbox(row.id, "ratelimited", T0 + timedelta(seconds=10)) == "pending"
    assert store.claim_outbox("w", 1, T0 + timedelta(seconds=5), 30) == []
    (row,) = store.claim_outbox("w", 1, T0 + timedelta(seconds=10), 30)
    assert row.attempts == 1
    assert store.retry_outbox(row.id, "500", T0 + timedelta(seconds=20)) == "pending"
    (row,) = store.claim_outbox("w", 1, T0 + timedelta(seconds=20), 30)
    assert store.retry_outbox(row.id, "500 again", T0 + timedelta(seconds=40)) == "dead"
    assert store.claim_outbox("w", 1, T0 + timedelta(hours=1), 30) == []
    assert store.outbox_pending_count() == 0
    assert store.outbox_counts()["dead"] == 1
    store.enqueue("post", "#a", {}, "y", now=T0)
    (row,) = store.claim_outbox("w", 1, T0, 30)
    assert store.retry_outbox(row.id, "channel_not_found", T0, give_up=True) == "dead"


# ------------------------------------------------------------------ actions


def test_acknowledge_records_tta_and_is_idempotent(db: Database, store: Store) -> None:
    res = store.record_notification(payload(), "#a", builder, now=T0)
    assert res.public_id is not None
    inc, first = store.acknowledge(
        res.public_id, "U1", T0 + timedelta(seconds=90), outbox_payload_builder=builder
    )
    assert first and inc.acked_by == "U1" and inc.tta_s == 90.0
    inc2, first2 = store.acknowledge(res.public_id, "U2", T0 + timedelta(seconds=300))
    assert not first2
    assert inc2.acked_by == "U1" and inc2.acked_at == T0 + timedelta(seconds=90)
    acts = store.incident_actions(res.public_id)
    assert [(a.kind, a.user_id, a.allowed) for a in acts] == [
        ("ack", "U1", True),
        ("ack", "U2", True),
    ]
    assert acts[0].detail["tta_s"] == 90.0 and acts[0].detail["first"] is True
    assert acts[1].detail["first"] is False
    assert [r.kind for r in outbox_rows(db)] == ["post", "update"]
    with pytest.raises(NotFound):
        store.acknowledge("nosuchid00", "U1", T0)


def test_resolve_by_hand_then_alertmanager_resolve(db: Database, store: Store) -> None:
    res = store.record_notification(payload(), "#a", builder, now=T0)
    assert res.public_id is not None
    inc, changed = store.resolve_by_hand(
        res.public_id, "U1", T0 + timedelta(minutes=3), outbox_payload_builder=builder
    )
    assert changed and inc.status == "resolved" and inc.resolved_by == "U1"
    _, changed2 = store.resolve_by_hand(res.public_id, "U2", T0 + timedelta(minutes=4))
    assert not changed2
    late = store.record_notification(
        payload("resolved"), "#a", builder, now=T0 + timedelta(minutes=9)
    )
    assert (late.public_id, late.status, late.created, late.enqueued) == (
        res.public_id, "resolved", False, (),
    )
    assert [r.kind for r in outbox_rows(db)] == ["post", "update", "thread_reply"]
    assert counts(db)["alert_events"] == 2
    assert [a.kind for a in store.incident_actions(res.public_id)] == ["resolve", "resolve"]


def test_silence_and_audit(store: Store) -> None:
    res = store.record_notification(payload(), "#a", now=T0)
    assert res.public_id is not None
    until = T0 + timedelta(hours=2)
    inc = store.set_silence(res.public_id, "sil-123", until, "U1", now=T0)
    assert (inc.silence_id, inc.silenced_until) == ("sil-123", until)
    inc = store.clear_silence(res.public_id, "U1", now=T0 + timedelta(minutes=5))
    assert inc.silence_id is None and inc.silenced_until is None
    refused = store.record_action(res.public_id, "refused", "U9", False, {"wanted": "silence"})
    assert refused.incident_id == inc.id and refused.allowed is False
    forged = store.record_action("forged0000", "refused", "U9", False)
    assert forged.incident_id is None and forged.detail == {"incident": "forged0000"}
    kinds = [(a.kind, a.detail.get("silence_id")) for a in store.incident_actions(res.public_id)]
    assert kinds == [("silence", "sil-123"), ("unsilence", "sil-123"), ("refused", None)]


def test_fatigue_figures(store: Store) -> None:
    since = T0

    def fire(alertname: str, n: int, at: datetime, **labels: str) -> str:
        res = store.record_notification(
            payload(alertname=alertname, group=f"{alertname}-{n}", labels=labels), "#a", now=at
        )
        assert res.public_id is not None
        return res.public_id

    def resolve(alertname: str, n: int, at: datetime) -> None:
        store.record_notification(
            payload("resolved", alertname=alertname, group=f"{alertname}-{n}"), "#a", now=at
        )

    old = fire("GPUMemoryHigh", 0, T0 - timedelta(days=1))  # before the window
    store.acknowledge(old, "U1", T0 - timedelta(days=1) + timedelta(seconds=5))
    for n, tta in enumerate((60, 120, 300), start=1):
        pid = fire("GPUMemoryHigh", n, T0 + timedelta(hours=n))
        store.acknowledge(pid, "U1", T0 + timedelta(hours=n, seconds=tta))
    noisy = fire("GPUMemoryHigh", 4, T0 + timedelta(hours=5))
    store.set_silence(noisy, "s1", T0 + timedelta(hours=9), "U2", now=T0 + timedelta(hours=5))
    store.clear_silence(noisy, "U2", now=T0 + timedelta(hours=6))
    resolve("GPUMemoryHigh", 4, T0 + timedelta(hours=6))
    fire("HighLatency", 1, T0 + timedelta(hours=1))  # still open, not acked
    drill = fire("GPUMemoryHigh", 9, T0 + timedelta(hours=2), gameday="true")
    store.acknowledge(drill, "U3", T0 + timedelta(hours=2, seconds=10))

    rows = {r.alertname: r for r in store.fatigue(since)}
    assert list(rows) == ["GPUMemoryHigh", "HighLatency"]
    gpu = rows["GPUMemoryHigh"]
    assert (gpu.count, gpu.acked, gpu.never_acked) == (4, 3, 1)
    assert gpu.ack_rate == pytest.approx(0.75)
    assert gpu.mtta_p50_s == pytest.approx(120.0)
    assert gpu.silenced_share == pytest.approx(0.25)
    lat = rows["HighLatency"]
    assert (lat.count, lat.acked, lat.ack_rate, lat.mtta_p50_s, lat.never_acked) == (
        1, 0, 0.0, None, 0,
    )
    assert lat.silenced_share == 0.0

    with_drills = {r.alertname: r for r in store.fatigue(since, include_drills=True)}
    assert with_drills["GPUMemoryHigh"].count == 5
    assert with_drills["GPUMemoryHigh"].mtta_p50_s == pytest.approx(90.0)
    assert store.fatigue(T0 + timedelta(days=1)) == []


# ------------------------------------------------------------------ dedupe, leases, scheduler


def test_seen_slack_event(db: Database, store: Store) -> None:
    assert store.seen_slack_event("Ev01", now=T0) is False
    assert store.seen_slack_event("Ev01") is True
    results = run_threads(8, lambda i: store.seen_slack_event("Ev02"))
    assert sorted(results) == [False] + [True] * 7
    assert store.prune_slack_events(T0 + timedelta(seconds=1)) == 1
    assert counts(db)["slack_events"] == 1


def test_claim_scheduled_run_race(db: Database, store: Store) -> None:
    def race(slot: datetime) -> list[bool]:
        return run_threads(2, lambda i: store.claim_scheduled_run("gameday", slot, f"r{i}"))

    for week in range(3):
        assert sorted(race(T0 + timedelta(days=3 + 7 * week))) == [False, True]
    assert not store.claim_scheduled_run("gameday", T0 + timedelta(days=3), "r9")
    assert store.claim_scheduled_run("weekly", T0 + timedelta(days=3), "r9")
    assert counts(db)["scheduler_runs"] == 4


def test_leases_expire_and_can_be_taken_over(store: Store) -> None:
    assert store.try_lease("scheduler", "a", 30, T0)
    assert not store.try_lease("scheduler", "b", 30, T0 + timedelta(seconds=10))
    assert store.try_lease("scheduler", "a", 30, T0 + timedelta(seconds=20))  # renew to +50
    assert not store.try_lease("scheduler", "b", 30, T0 + timedelta(seconds=45))
    assert store.try_lease("scheduler", "b", 30, T0 + timedelta(seconds=50))  # expired
    assert not store.try_lease("scheduler", "a", 30, T0 + timedelta(seconds=51))
    assert not store.release_lease("scheduler", "a")
    assert store.release_lease("scheduler", "b", now=T0 + timedelta(seconds=52))
    assert store.try_lease("scheduler", "a", 30, T0 + timedelta(seconds=53))
    results = run_threads(4, lambda i: store.try_lease("other", f"h{i}", 30, T0))
    assert sum(results) == 1


def test_record_batch_matches_one_by_one(store: Store) -> None:
    """Group commit: one transaction, same outcome as recording each notification alone —
    including a duplicate and a resolve of a group opened earlier in the same batch."""
    from bot.store import IntakeItem, IntakeResult

    a, b = payload(group="a"), payload(group="b")
    items = [IntakeItem(a, "C1", intro="runbook"), IntakeItem(a, "C1", intro="runbook"),
             IntakeItem(b, "C2", intro="runbook"),
             IntakeItem(payload("resolved", group="a"), "C1", intro="runbook")]
    results = store.record_batch(items, now=T0)
    assert all(isinstance(r, IntakeResult) for r in results)
    first, dup, other, resolved = results
    assert isinstance(first, IntakeResult) and first.created and not first.duplicate
    assert isinstance(dup, IntakeResult) and dup.duplicate and dup.public_id == first.public_id
    assert isinstance(other, IntakeResult) and other.created and other.public_id != first.public_id
    assert isinstance(resolved, IntakeResult) and resolved.status == "resolved"
    inc = store.incident(first.public_id)
    assert inc is not None and inc.status == "resolved" and inc.open_marker is None
    with store.db.session(readonly=True) as s:
        keys = sorted(o.dedupe_key.split(":", 2)[-1] for o in s.scalars(select(Outbox)))
    # a: post, runbook, update, thread_reply (resolved); b: post, runbook
    assert len(keys) == 6 and keys.count("runbook") == 2
    again = store.record_batch([IntakeItem(payload(group="a", value="97"), "C1")], now=T0)[0]
    assert isinstance(again, IntakeResult) and again.created and again.generation == 2
