"""The durable store, on SQLite (WAL file) and on PostgreSQL (a fresh schema per test)."""

from __future__ import annotations

import json
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

from bot.messages import IncidentPost, IncidentUpdate, NoteKind, ReportPost, ThreadNote, dump
from bot.report import Report
from bot.store import (
    Action,
    AlertEvent,
    Base,
    Database,
    Incident,
    IntakeItem,
    IntakeResult,
    NotFound,
    Outbox,
    SchedulerRun,
    SlackEvent,
    Store,
)
from bot.store.models import ChannelSender
from bot.store.states import ActionKind, IncidentStatus, OutboxState
from tests.harness.pg import head_revision, migrated_url

T = TypeVar("T")

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
GO_ZERO = "0001-01-01T00:00:00Z"
ALL_MODELS: list[type[Any]] = [Incident, AlertEvent, Action, Outbox, SlackEvent, SchedulerRun,
                               ChannelSender]

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


def messages(db: Database) -> list[tuple[str, dict[str, Any]]]:
    """(delivery, payload) of every outbox row, oldest first."""
    return [(r.kind.value, r.payload) for r in outbox_rows(db)]


def record(store: Store, body: dict[str, Any], channel: str = "#a", *,
           now: datetime | None = None, thread_ts: str | None = None) -> IntakeResult:
    return store.intake.record(IntakeItem(body, channel, thread_ts, intro=None), now=now)


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
    assert db.current_revision() == head_revision()
    with db.engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert set(Base.metadata.tables) <= names
    assert "alembic_version" in names
    assert diff == []
    db.migrate()  # idempotent
    assert db.current_revision() == head_revision()
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


def test_states_come_back_as_enums(store: Store) -> None:
    res = record(store, payload(), now=T0)
    assert res.public_id is not None
    inc = store.incidents.get(res.public_id)
    assert inc is not None and inc.status is IncidentStatus.FIRING
    (row,) = outbox_rows(store.db)
    assert row.state is OutboxState.PENDING
    assert store.outbox.counts() == {OutboxState.PENDING: 1, OutboxState.SENDING: 0,
                                     OutboxState.DONE: 0, OutboxState.DEAD: 0}


def test_datetimes_come_back_aware_utc(db: Database, store: Store) -> None:
    kst = timezone(timedelta(hours=9))
    at = datetime(2025, 3, 1, 18, 0, tzinfo=kst)
    res = record(store, payload(), now=at)
    assert res.public_id is not None
    inc = store.incidents.get(res.public_id)
    assert inc is not None
    assert inc.opened_at == T0
    assert inc.opened_at.tzinfo is not None and inc.opened_at.utcoffset() == timedelta(0)
    naive_utc = datetime(2025, 3, 1, 9, 5)  # naive is taken as UTC
    acked = store.incidents.acknowledge(res.public_id, "U1", naive_utc).incident
    assert acked.acked_at == T0 + timedelta(minutes=5)


# ------------------------------------------------------------------ intake


def test_intake_creates_incident_event_and_post(db: Database, store: Store) -> None:
    res = store.intake.record(IntakeItem(payload(), "#gpu-alerts"), now=T0)
    assert (res.created, res.duplicate, res.status, res.generation) == (
        True, False, IncidentStatus.FIRING, 1)
    assert counts(db) == {
        "incidents": 1, "alert_events": 1, "actions": 0, "outbox": 2,
        "slack_events": 0, "scheduler_runs": 0, "channel_senders": 0,
    }
    assert res.public_id is not None and len(res.public_id) == 10
    inc = store.incidents.get(res.public_id)
    assert inc is not None
    assert inc.alertname == "GPUMemoryHigh" and inc.severity == "warning"
    assert inc.labels["node"] == "ip-10-0-1-5" and inc.channel == "#gpu-alerts"
    assert inc.annotations["description"] == "value is 95%"
    assert inc.drill is False and inc.is_open and inc.open_marker == 1
    post, runbook = outbox_rows(db)
    assert (post.kind, post.state, post.channel, post.incident_id) == (
        "post", "pending", "#gpu-alerts", inc.id,
    )
    # Typed messages, stored as JSON: what to show, never how.
    assert post.payload == dump(IncidentPost(incident=inc.public_id))
    assert runbook.payload == dump(ThreadNote(incident=inc.public_id, note=NoteKind.RUNBOOK))
    assert runbook.kind == "thread_reply"
    assert post.dedupe_key == f"incident:{inc.id}:g1:post"
    assert runbook.dedupe_key == f"incident:{inc.public_id}:runbook"
    assert store.incidents.open()[0].public_id == res.public_id


def test_alertmanagers_times_are_kept(store: Store) -> None:
    """Durations run from startsAt to endsAt, not from when the bot heard (defect f)."""
    late = T0 + timedelta(minutes=7)  # group_wait, a retry: the notification came later
    res = record(store, payload(starts="2025-03-01T09:00:00.123456789Z"), now=late)
    assert res.public_id is not None
    inc = store.incidents.get(res.public_id)
    assert inc is not None
    assert inc.opened_at == late and inc.started_at == T0 + timedelta(microseconds=123456)
    acked = store.incidents.acknowledge(res.public_id, "U1", late + timedelta(minutes=1))
    assert acked.incident.tta_s == pytest.approx(8 * 60 - 0.123456)
    record(store, payload("resolved"), now=T0 + timedelta(hours=2))
    done = store.incidents.get(res.public_id)
    assert done is not None and done.ended_at == T0 + timedelta(hours=1)  # the endsAt
    assert done.resolved_at == T0 + timedelta(hours=2)
    assert done.finished_at == T0 + timedelta(hours=1)


def test_repeat_with_new_values_refreshes_the_card_once_a_minute(db: Database,
                                                                 store: Store) -> None:
    """A repeat notification with new values edits the card (defect g), but at most once a
    minute; a refresh still waiting covers the newer values too."""
    first = record(store, payload(value="95"), now=T0)
    assert first.public_id is not None
    again = record(store, payload(value="97"), now=T0 + timedelta(seconds=10))
    assert (again.created, again.duplicate, again.public_id) == (False, False, first.public_id)
    inc = store.incidents.get(first.public_id)
    assert inc is not None and inc.annotations["description"] == "value is 97%"
    update = dump(IncidentUpdate(incident=first.public_id))
    assert messages(db) == [("post", dump(IncidentPost(incident=first.public_id))),
                            ("update", update)]
    # Not yet sent: the next repeat adds nothing (the card renders the newest at send time).
    record(store, payload(value="98"), now=T0 + timedelta(seconds=20))
    assert len(outbox_rows(db)) == 2
    (post,) = store.outbox.claim("w", 1, T0 + timedelta(seconds=20), 30)
    assert store.outbox.complete(post.id, "1.1", now=T0 + timedelta(seconds=21))
    (refresh,) = store.outbox.claim("w", 1, T0 + timedelta(seconds=21), 30)
    assert store.outbox.complete(refresh.id, "1.1", now=T0 + timedelta(seconds=30))
    # Sent at :30: a repeat at :40 is due a minute after that, not before.
    record(store, payload(value="99"), now=T0 + timedelta(seconds=40))
    rows = outbox_rows(db)
    assert len(rows) == 3 and rows[-1].next_attempt_at == T0 + timedelta(seconds=90)
    assert store.outbox.claim("w", 5, T0 + timedelta(seconds=89), 30) == []
    assert len(store.outbox.claim("w", 5, T0 + timedelta(seconds=90), 30)) == 1


def test_duplicate_payload_writes_nothing(db: Database, store: Store) -> None:
    first = record(store, payload(), now=T0)
    before = counts(db)
    retry = record(store, payload(), now=T0 + timedelta(seconds=5))
    # An HA peer sends the same notification with its own externalURL.
    peer = record(store, payload(external_url="http://am-1:9093"))
    for res in (retry, peer):
        assert (res.duplicate, res.created, res.public_id) == (True, False, first.public_id)
    assert counts(db) == before


def test_resolved_notification_resolves_and_enqueues(db: Database, store: Store) -> None:
    fired = record(store, payload(), now=T0)
    res = record(store, payload("resolved"), "#other", now=T0 + timedelta(minutes=30))
    assert (res.public_id, res.status, res.created, res.duplicate) == (
        fired.public_id, IncidentStatus.RESOLVED, False, False,
    )
    assert fired.public_id is not None
    inc = store.incidents.get(fired.public_id)
    assert inc is not None
    assert inc.status == "resolved" and inc.open_marker is None
    assert inc.resolved_at == T0 + timedelta(minutes=30) and inc.resolved_by is None
    rows = outbox_rows(db)
    assert [r.kind for r in rows] == ["post", "update", "thread_reply"]
    assert {r.channel for r in rows} == {"#a"}  # the incident's channel
    assert rows[2].payload == dump(ThreadNote(incident=inc.public_id, note=NoteKind.RESOLVED))
    assert store.incidents.open() == []
    # The same resolved notification again: nothing.
    before = counts(db)
    assert record(store, payload("resolved")).duplicate
    assert counts(db) == before


def test_resolved_for_unknown_group_writes_nothing(db: Database, store: Store) -> None:
    res = record(store, payload("resolved", group="never"))
    assert res == IntakeResult(None, False, False, IncidentStatus.RESOLVED)
    assert sum(counts(db).values()) == 0


def test_refire_after_resolve_opens_new_incident(db: Database, store: Store) -> None:
    one = record(store, payload(), now=T0)
    record(store, payload("resolved"), now=T0 + timedelta(hours=1))
    two = record(store, payload(starts="2025-03-01T11:00:00Z"), now=T0 + timedelta(hours=2))
    assert two.created and not two.duplicate and two.generation == 2
    assert two.public_id != one.public_id
    assert [i.public_id for i in store.incidents.open()] == [two.public_id]
    with db.session(readonly=True) as s:
        incs = list(s.scalars(select(Incident).order_by(Incident.id)))
    assert [(i.generation, i.status) for i in incs] == [(1, "resolved"), (2, "firing")]
    assert incs[0].group_key == incs[1].group_key
    assert [r.kind for r in outbox_rows(db)] == ["post", "update", "thread_reply", "post"]
    # A late copy of the first firing notification (HA peer) is still a duplicate.
    late = record(store, payload())
    assert late.duplicate and late.public_id == one.public_id


def test_a_failure_midway_leaves_no_rows(db: Database, store: Store,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The incident, its event and its messages commit together or not at all."""
    fired = record(store, payload(), now=T0)
    before = counts(db)

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("lost the connection")

    monkeypatch.setattr("bot.store.intake.enqueue_resolution", boom)
    with pytest.raises(RuntimeError, match="lost the connection"):
        record(store, payload("resolved"), now=T0)
    assert counts(db) == before
    assert fired.public_id is not None
    inc = store.incidents.get(fired.public_id)
    assert inc is not None and inc.status == "firing" and inc.resolved_at is None


def test_concurrent_intake_of_same_payload(db: Database, store: Store) -> None:
    results = run_threads(8, lambda i: record(store, payload()))
    assert sum(r.created for r in results) == 1
    assert sum(r.duplicate for r in results) == 7
    assert len({r.public_id for r in results}) == 1
    c = counts(db)
    assert (c["incidents"], c["alert_events"], c["outbox"]) == (1, 1, 1)


def test_drill_label_marks_incident(store: Store) -> None:
    res = record(store, payload(labels={"gameday": "true"}))
    assert store.incidents.open() == []
    (inc,) = store.incidents.open(include_drills=True)
    assert inc.drill and inc.public_id == res.public_id


def test_anchored_incident_posts_into_thread(store: Store) -> None:
    record(store, payload(), thread_ts="1700000000.000100", now=T0)
    (row,) = store.outbox.claim("w", 10, T0, 30)
    assert row.kind == "post" and row.thread_ts == "1700000000.000100" and row.slack_ts is None
    assert store.outbox.complete(row.id, "1700000001.000200")
    assert row.incident_public_id is not None
    inc = store.incidents.get(row.incident_public_id)
    assert inc is not None
    assert (inc.slack_ts, inc.thread_ts) == ("1700000001.000200", "1700000000.000100")


def _rows_of(db: Database) -> list[tuple[Any, ...]]:
    """Every row the intake writes, with ids and generated values made comparable."""
    with db.session(readonly=True) as s:
        incs = [(i.group_key, i.generation, i.status, i.open_marker, i.alertname, i.severity,
                 i.labels, i.annotations, i.channel, i.thread_ts, i.opened_at, i.started_at,
                 i.drill) for i in s.scalars(select(Incident))]
        events = [(e.status, e.payload_hash, e.alerts, e.truncated_alerts)
                  for e in s.scalars(select(AlertEvent))]
        pid = {i.id: i.public_id for i in s.scalars(select(Incident))}
        out = [(o.kind, o.state, o.channel,
                o.dedupe_key.replace(str(o.incident_id), "ID").replace(pid[o.incident_id], "PID"),
                {**o.payload, "incident": "PID"}) for o in s.scalars(select(Outbox))]
    return [*incs, *events, *out]


def test_both_intake_paths_write_the_same_rows(tmp_path: Path) -> None:
    """The fast path (four Core statements for a new group) and the general ORM path give
    the same rows, keys and messages; each is driven directly."""
    from bot.store.intake import IntakeStore

    written = []
    for name in ("fast", "general"):
        database = Database(f"sqlite:///{tmp_path / name}.db")
        database.migrate()
        intake = IntakeStore(database)
        item = IntakeItem(payload(labels={"gameday": "true"}), "#a", "1700000000.000100")
        with database.session() as s:
            if name == "fast":
                result = intake._new_group(s, item, T0)
            else:
                result = intake._general(s, item, T0)
        assert result is not None and result.created and result.generation == 1
        written.append(_rows_of(database))
        # The fast path leaves everything else to the general one.
        with database.session() as s:
            assert intake._new_group(s, IntakeItem(payload(value="97"), "#a"), T0) is None
            assert intake._new_group(s, IntakeItem(payload("resolved"), "#a"), T0) is None
            dup = intake._new_group(s, item, T0)
        assert dup is not None and dup.duplicate
        database.dispose()
    assert written[0] == written[1]


# ------------------------------------------------------------------ outbox


def test_claims_are_exclusive_across_concurrent_workers(db: Database, store: Store) -> None:
    total = 60
    report = ReportPost(report=Report(title="t"))
    for i in range(total):
        assert store.outbox.enqueue(report, "#a", f"k{i}", now=T0)
    assert not store.outbox.enqueue(report, "#a", "k0", now=T0)  # dedupe_key
    assert store.outbox.pending_count() == total

    def worker(i: int) -> list[int]:
        got: list[int] = []
        while True:
            rows = store.outbox.claim(f"w{i}", 3, T0 + timedelta(seconds=1), 60)
            if not rows:
                return got
            for r in rows:
                got.append(r.id)
                assert r.message == report
                assert store.outbox.complete(r.id, f"{r.id}.0001", worker_id=f"w{i}")

    claimed = run_threads(4, worker)
    flat = [x for ids in claimed for x in ids]
    assert len(flat) == total and len(set(flat)) == total
    assert store.outbox.pending_count() == 0
    assert store.outbox.counts()[OutboxState.DONE] == total


def test_claim_order_due_time_and_expired_claims(store: Store) -> None:
    msg = ReportPost(report=Report(title="t"))
    store.outbox.enqueue(msg, "#a", "a", now=T0)
    store.outbox.enqueue(msg, "#a", "b", now=T0 + timedelta(minutes=5))  # not due yet
    rows = store.outbox.claim("w1", 10, T0, 30)
    assert [r.dedupe_key for r in rows] == ["a"]
    assert rows[0].claimed_until == T0 + timedelta(seconds=30)
    assert store.outbox.claim("w2", 10, T0 + timedelta(seconds=10), 30) == []
    # w1 crashed: once its claim expires, w2 gets the row.
    again = store.outbox.claim("w2", 10, T0 + timedelta(seconds=31), 30)
    assert [r.id for r in again] == [rows[0].id] and again[0].reclaimed
    assert not store.outbox.complete(rows[0].id, "1.1", worker_id="w1")
    assert store.outbox.complete(rows[0].id, "1.1", worker_id="w2")
    assert not store.outbox.complete(rows[0].id, "1.1")  # already done
    later = store.outbox.claim("w2", 10, T0 + timedelta(minutes=6), 30)
    assert [r.dedupe_key for r in later] == ["b"]


def test_a_payload_this_version_cannot_read_is_flagged(db: Database, store: Store) -> None:
    with db.session() as s:
        s.add(Outbox(kind="post", channel="#a", payload={"blocks": [{"type": "x"}]},
                     dedupe_key="odd", state="pending", attempts=0, next_attempt_at=T0,
                     created_at=T0))
    (row,) = store.outbox.claim("w", 1, T0, 30)
    assert row.message is None and "not a message this version knows" in row.bad_payload


def test_update_and_reply_wait_for_the_post(store: Store) -> None:
    fired = record(store, payload(), now=T0)
    record(store, payload("resolved"), now=T0)
    first = store.outbox.claim("w", 10, T0, 30)
    assert [r.kind for r in first] == ["post"]
    assert first[0].incident_public_id == fired.public_id
    assert store.outbox.claim("w", 10, T0, 30) == []
    assert store.outbox.complete(first[0].id, "1700000000.000100")
    rest = store.outbox.claim("w", 10, T0, 30)
    assert [r.kind for r in rest] == ["update", "thread_reply"]
    assert {(r.slack_ts, r.thread_ts) for r in rest} == {("1700000000.000100",) * 2}


def test_retry_backoff_then_dead(store: Store) -> None:
    msg = ReportPost(report=Report(title="t"))
    store.outbox.enqueue(msg, "#a", "x", now=T0)
    (row,) = store.outbox.claim("w", 1, T0, 30)
    assert store.outbox.retry(row.id, "ratelimited", T0 + timedelta(seconds=10)) == "pending"
    assert store.outbox.claim("w", 1, T0 + timedelta(seconds=5), 30) == []
    (row,) = store.outbox.claim("w", 1, T0 + timedelta(seconds=10), 30)
    assert row.attempts == 1
    assert store.outbox.retry(row.id, "500", T0 + timedelta(seconds=20)) == "pending"
    (row,) = store.outbox.claim("w", 1, T0 + timedelta(seconds=20), 30)
    assert store.outbox.retry(row.id, "500 again", T0 + timedelta(seconds=40)) \
        is OutboxState.DEAD
    assert store.outbox.claim("w", 1, T0 + timedelta(hours=1), 30) == []
    assert store.outbox.pending_count() == 0
    assert store.outbox.counts()[OutboxState.DEAD] == 1
    store.outbox.enqueue(msg, "#a", "y", now=T0)
    (row,) = store.outbox.claim("w", 1, T0, 30)
    assert store.outbox.retry(row.id, "channel_not_found", T0, give_up=True) == "dead"


# ------------------------------------------------------------------ actions


def test_acknowledge_records_tta_and_is_idempotent(db: Database, store: Store) -> None:
    res = record(store, payload(), now=T0)
    assert res.public_id is not None
    done = store.incidents.acknowledge(res.public_id, "U1", T0 + timedelta(seconds=90))
    inc = done.incident
    assert done.changed and inc.acked_by == "U1" and inc.tta_s == 90.0
    again = store.incidents.acknowledge(res.public_id, "U2", T0 + timedelta(seconds=300))
    assert not again.changed
    assert again.incident.acked_by == "U1"
    assert again.incident.acked_at == T0 + timedelta(seconds=90)
    acts = store.incidents.actions(res.public_id)
    assert [(a.kind, a.user_id, a.allowed) for a in acts] == [
        ("ack", "U1", True),
        ("ack", "U2", True),
    ]
    assert acts[0].kind is ActionKind.ACK
    assert acts[0].detail["tta_s"] == 90.0 and acts[0].detail["first"] is True
    assert acts[1].detail["first"] is False
    # The card's edit and the thread note, in the same transaction as the ack.
    assert messages(db)[1:] == [
        ("update", dump(IncidentUpdate(incident=res.public_id))),
        ("thread_reply", dump(ThreadNote(incident=res.public_id, note=NoteKind.ACK,
                                         user="U1"))),
    ]
    with pytest.raises(NotFound):
        store.incidents.acknowledge("nosuchid00", "U1", T0)


def test_resolve_by_hand_then_alertmanager_resolve(db: Database, store: Store) -> None:
    res = record(store, payload(), now=T0)
    assert res.public_id is not None
    done = store.incidents.resolve_by_hand(res.public_id, "U1", T0 + timedelta(minutes=3))
    assert done.changed and done.incident.status == "resolved"
    assert done.incident.resolved_by == "U1"
    assert not store.incidents.resolve_by_hand(res.public_id, "U2",
                                               T0 + timedelta(minutes=4)).changed
    late = record(store, payload("resolved"), now=T0 + timedelta(minutes=9))
    assert (late.public_id, late.status, late.created) == (res.public_id, "resolved", False)
    assert [r.kind for r in outbox_rows(db)] == ["post", "update", "thread_reply"]
    assert counts(db)["alert_events"] == 2
    assert [a.kind for a in store.incidents.actions(res.public_id)] == ["resolve", "resolve"]


def test_silence_and_audit(db: Database, store: Store) -> None:
    res = record(store, payload(), now=T0)
    assert res.public_id is not None
    until = T0 + timedelta(hours=2)
    inc = store.incidents.set_silence(res.public_id, "sil-123", until, "U1",
                                      "for 2h (silence sil-123)", now=T0)
    assert (inc.silence_id, inc.silenced_until) == ("sil-123", until)
    inc = store.incidents.clear_silence(res.public_id, "U1", now=T0 + timedelta(minutes=5))
    assert inc.silence_id is None and inc.silenced_until is None
    refused = store.incidents.record_action(res.public_id, ActionKind.SILENCE, "U9", False,
                                            {"role": "viewer"})
    assert refused.incident_id == inc.id and refused.allowed is False
    forged = store.incidents.record_action("forged0000", ActionKind.ACK, "U9", False)
    assert forged.incident_id is None and forged.detail == {"incident": "forged0000"}
    kinds = [(a.kind, a.allowed, a.detail.get("silence_id"))
             for a in store.incidents.actions(res.public_id)]
    assert kinds == [("silence", True, "sil-123"), ("unsilence", True, "sil-123"),
                     ("silence", False, None)]
    notes = [p for kind, p in messages(db) if kind == "thread_reply"]
    assert notes == [
        dump(ThreadNote(incident=res.public_id, note=NoteKind.SILENCE, user="U1",
                        detail="for 2h (silence sil-123)")),
        dump(ThreadNote(incident=res.public_id, note=NoteKind.UNSILENCE, user="U1")),
    ]


def test_fatigue_figures(store: Store) -> None:
    since = T0

    def fire(alertname: str, n: int, at: datetime, **labels: str) -> str:
        body = payload(alertname=alertname, group=f"{alertname}-{n}", labels=labels,
                       starts=at.isoformat().replace("+00:00", "Z"))
        res = record(store, body, now=at + timedelta(seconds=30))  # heard 30 s later
        assert res.public_id is not None
        return res.public_id

    def resolve(alertname: str, n: int, at: datetime) -> None:
        record(store, payload("resolved", alertname=alertname, group=f"{alertname}-{n}"),
               now=at)

    old = fire("GPUMemoryHigh", 0, T0 - timedelta(days=1))  # before the window
    store.incidents.acknowledge(old, "U1", T0 - timedelta(days=1) + timedelta(seconds=5))
    for n, tta in enumerate((60, 120, 300), start=1):
        pid = fire("GPUMemoryHigh", n, T0 + timedelta(hours=n))
        store.incidents.acknowledge(pid, "U1", T0 + timedelta(hours=n, seconds=tta))
    noisy = fire("GPUMemoryHigh", 4, T0 + timedelta(hours=5))
    store.incidents.set_silence(noisy, "s1", T0 + timedelta(hours=9), "U2", "for 4h",
                                now=T0 + timedelta(hours=5))
    store.incidents.clear_silence(noisy, "U2", now=T0 + timedelta(hours=6))
    resolve("GPUMemoryHigh", 4, T0 + timedelta(hours=6))
    fire("HighLatency", 1, T0 + timedelta(hours=1))  # still open, not acked
    drill = fire("GPUMemoryHigh", 9, T0 + timedelta(hours=2), gameday="true")
    store.incidents.acknowledge(drill, "U3", T0 + timedelta(hours=2, seconds=10))

    rows = {r.alertname: r for r in store.fatigue.per_alert(since)}
    assert list(rows) == ["GPUMemoryHigh", "HighLatency"]
    gpu = rows["GPUMemoryHigh"]
    assert (gpu.count, gpu.acked, gpu.never_acked) == (4, 3, 1)
    assert gpu.ack_rate == pytest.approx(0.75)
    assert gpu.mtta_p50_s == pytest.approx(120.0)  # from startsAt, not from when heard
    assert gpu.silenced_share == pytest.approx(0.25)
    lat = rows["HighLatency"]
    assert (lat.count, lat.acked, lat.ack_rate, lat.mtta_p50_s, lat.never_acked) == (
        1, 0, 0.0, None, 0,
    )
    assert lat.silenced_share == 0.0

    with_drills = {r.alertname: r for r in store.fatigue.per_alert(since, include_drills=True)}
    assert with_drills["GPUMemoryHigh"].count == 5
    assert with_drills["GPUMemoryHigh"].mtta_p50_s == pytest.approx(90.0)
    assert store.fatigue.per_alert(T0 + timedelta(days=1)) == []


# ------------------------------------------------------------------ dedupe, leases, scheduler


def test_seen_slack_event(db: Database, store: Store) -> None:
    leases = store.leases
    assert leases.seen_slack_event("Ev01", now=T0) is False
    assert leases.seen_slack_event("Ev01") is True
    results = run_threads(8, lambda i: leases.seen_slack_event("Ev02"))
    assert sorted(results) == [False] + [True] * 7
    assert leases.prune_slack_events(T0 + timedelta(seconds=1)) == 1
    assert counts(db)["slack_events"] == 1


def test_claim_scheduled_run_race(db: Database, store: Store) -> None:
    leases = store.leases

    def race(slot: datetime) -> list[bool]:
        return run_threads(2, lambda i: leases.claim_scheduled_run("gameday", slot, f"r{i}"))

    for week in range(3):
        assert sorted(race(T0 + timedelta(days=3 + 7 * week))) == [False, True]
    assert not leases.claim_scheduled_run("gameday", T0 + timedelta(days=3), "r9")
    assert leases.claim_scheduled_run("weekly", T0 + timedelta(days=3), "r9")
    assert counts(db)["scheduler_runs"] == 4


def test_leases_expire_and_can_be_taken_over(store: Store) -> None:
    leases = store.leases
    assert leases.try_lease("scheduler", "a", 30, T0)
    assert not leases.try_lease("scheduler", "b", 30, T0 + timedelta(seconds=10))
    assert leases.try_lease("scheduler", "a", 30, T0 + timedelta(seconds=20))  # renew to +50
    assert not leases.try_lease("scheduler", "b", 30, T0 + timedelta(seconds=45))
    assert leases.try_lease("scheduler", "b", 30, T0 + timedelta(seconds=50))  # expired
    assert not leases.try_lease("scheduler", "a", 30, T0 + timedelta(seconds=51))
    assert not leases.release_lease("scheduler", "a")
    assert leases.release_lease("scheduler", "b", now=T0 + timedelta(seconds=52))
    assert leases.try_lease("scheduler", "a", 30, T0 + timedelta(seconds=53))
    results = run_threads(4, lambda i: leases.try_lease("other", f"h{i}", 30, T0))
    assert sum(results) == 1


def test_senders_are_learned_once(store: Store) -> None:
    leases = store.leases
    assert leases.learned_senders() == set()
    assert leases.learn_sender({"B01", "A01"}, "C1", now=T0)
    assert not leases.learn_sender({"B02"}, "C1", now=T0)  # one learning only
    assert leases.learned_senders() == {"B01", "A01"}


def test_record_batch_matches_one_by_one(store: Store) -> None:
    """Group commit: one transaction, same outcome as recording each notification alone,
    including a duplicate and a resolve of a group opened earlier in the same batch."""
    a, b = payload(group="a"), payload(group="b")
    items = [IntakeItem(a, "C1"), IntakeItem(a, "C1"), IntakeItem(b, "C2"),
             IntakeItem(payload("resolved", group="a"), "C1")]
    results = store.intake.record_batch(items, now=T0)
    assert all(isinstance(r, IntakeResult) for r in results)
    first, dup, other, resolved = results
    assert isinstance(first, IntakeResult) and first.created and not first.duplicate
    assert isinstance(dup, IntakeResult) and dup.duplicate and dup.public_id == first.public_id
    assert isinstance(other, IntakeResult) and other.created and other.public_id != first.public_id
    assert isinstance(resolved, IntakeResult) and resolved.status == "resolved"
    assert first.public_id is not None
    inc = store.incidents.get(first.public_id)
    assert inc is not None and inc.status == "resolved" and inc.open_marker is None
    with store.db.session(readonly=True) as s:
        keys = sorted(o.dedupe_key.split(":", 2)[-1] for o in s.scalars(select(Outbox)))
    # a: post, runbook, update, thread_reply (resolved); b: post, runbook
    assert len(keys) == 6 and keys.count("runbook") == 2
    again = store.intake.record_batch([IntakeItem(payload(group="a", value="97"), "C1")],
                                      now=T0)[0]
    assert isinstance(again, IntakeResult) and again.created and again.generation == 2


def test_upgrade_converts_what_the_first_version_queued(tmp_path: Path) -> None:
    """0003 turns 0.1's outbox payloads into typed messages, backfills Alertmanager's times,
    and gives up (with the reason) a waiting Game Day row that held Block Kit."""
    from sqlalchemy import text

    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    database.migrate("0002")
    old_payloads = [
        ("post", "pending", {"incident": "aaaaaaaaaa", "kind": "post", "note": None}),
        ("update", "done", {"incident": "aaaaaaaaaa", "kind": "update", "note": None}),
        ("thread_reply", "pending", {"incident": "aaaaaaaaaa", "kind": "thread_reply",
                                     "note": "resolved"}),
        ("thread_reply", "pending", {"incident": "aaaaaaaaaa", "note": "runbook"}),
        ("thread_reply", "pending", {"incident": "aaaaaaaaaa", "note": "silence", "user": "U1",
                                     "detail": "for 4h (silence s)"}),
        ("thread_reply", "pending", {"incident": "aaaaaaaaaa", "note": "diag", "user": "U1",
                                     "missing": "pod", "report": None}),
        ("post", "pending", {"gameday": True, "message": {"blocks": [], "text": "x"}}),
        ("post", "done", {"gameday": True, "message": {"blocks": [], "text": "x"}}),
    ]
    with database.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO incidents (id, public_id, group_key, fingerprint_hash, generation, "
            "status, open_marker, alertname, receiver, labels, annotations, channel, "
            "opened_at, drill) VALUES (1, 'aaaaaaaaaa', 'g', 'h', 1, 'resolved', NULL, 'A', "
            "'r', '{}', '{}', '#a', '2025-03-01 09:05:00.000000', 0)"))
        for n, (status, alerts) in enumerate((
                ("firing", [{"startsAt": "2025-03-01T09:00:00Z", "endsAt": GO_ZERO}]),
                ("resolved", [{"startsAt": "2025-03-01T09:00:00Z",
                               "endsAt": "2025-03-01T09:40:00.5Z"}]))):
            conn.execute(text(
                "INSERT INTO alert_events (incident_id, received_at, status, payload_hash, "
                "alerts, truncated_alerts) VALUES (1, '2025-03-01 09:05:00.000000', :s, :h, "
                ":a, 0)"), {"s": status, "h": f"h{n}", "a": json.dumps(alerts)})
        for n, (kind, state, body) in enumerate(old_payloads):
            conn.execute(text(
                "INSERT INTO outbox (incident_id, kind, channel, payload, dedupe_key, state, "
                "attempts, next_attempt_at, created_at) VALUES (1, :k, '#a', :p, :d, :s, 0, "
                "'2025-03-01 09:05:00.000000', '2025-03-01 09:05:00.000000')"),
                {"k": kind, "p": json.dumps(body), "d": f"k{n}", "s": state})
    database.migrate()
    store = Store(database)
    inc = store.incidents.get("aaaaaaaaaa")
    assert inc is not None
    assert inc.started_at == T0 and inc.ended_at == T0 + timedelta(minutes=40, seconds=0.5)
    rows = outbox_rows(database)
    assert [r.payload.get("type") for r in rows] == [
        "incident_post", "incident_update", "thread_note", "thread_note", "thread_note",
        "diagnosis", None, None]
    assert rows[2].payload["note"] == "resolved" and rows[3].payload["note"] == "runbook"
    assert rows[4].payload["detail"] == "for 4h (silence s)"
    assert rows[5].payload["missing_label"] == "pod"
    gameday_waiting, gameday_done = rows[6], rows[7]
    assert gameday_waiting.state is OutboxState.DEAD and gameday_waiting.payload == {}
    assert "no longer stored as Block Kit" in (gameday_waiting.last_error or "")
    assert gameday_done.state is OutboxState.DONE and gameday_done.payload == {}
    claimed = store.outbox.claim("w", 10, T0 + timedelta(days=1), 30)
    assert claimed and all(r.message is not None for r in claimed)
    database.dispose()
