"""Alert intake: an Alertmanager notification becomes an incident, its event and its
messages, in one transaction.

Concurrency model:

* SQLite: write transactions start with ``BEGIN IMMEDIATE`` (see :mod:`bot.store.db`), so
  writers are serialized and every read-then-write below is atomic.
* PostgreSQL (several replicas, READ COMMITTED): correctness rests on unique constraints
  (one open incident per group, one event per payload hash and incident, one outbox row per
  dedupe key), row locks on the open incident, and retries: a race that ends in an
  IntegrityError is redone in a fresh transaction, which then sees the winner's rows.

Two paths give the same rows and keys. The storm's common case, a new group or a duplicate,
takes four prebuilt Core statements (:meth:`IntakeStore._new_group`); everything else (a
repeat with new values, a resolve, a re-fire) takes the ORM path (:meth:`IntakeStore._general`).

With a :class:`~bot.store.digests.DigestPolicy`, a new incident past the channel's threshold
is counted in the channel's storm digest instead of posted (no card, no runbook reply; a
resolve or repeat of it queues nothing: the digest's edits show it). The decision is made
here, in the same transaction (:class:`~bot.store.digest_router.DigestRouter`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.messages import IncidentPost, IncidentUpdate, NoteKind, OutboxMessage, ThreadNote, dump
from bot.store.db import Database
from bot.store.digest_router import DigestRouter, Joined
from bot.store.digests import DigestPolicy
from bot.store.incidents import enqueue_resolution
from bot.store.keys import group_hash, new_public_id, notification_hash
from bot.store.models import AlertEvent, Incident, Outbox
from bot.store.outbox import add_message
from bot.store.states import Delivery, IncidentStatus, OutboxState
from bot.times import as_utc, parse_time, utcnow

_INTEGRITY_RETRIES = 4
# A repeat notification with new values refreshes the card, at most this often.
REFRESH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class IntakeItem:
    """One validated notification: where its incident posts, the Slack thread it is
    anchored in (channel mode: Alertmanager posted it), and the note under a new incident."""

    payload: Mapping[str, Any]
    channel: str
    thread_ts: str | None = None
    intro: NoteKind | None = NoteKind.RUNBOOK


@dataclass(frozen=True)
class IntakeResult:
    """What one notification did. ``public_id`` is None only for a resolved notification of
    a group never seen before (nothing is written then). ``status`` is the incident's status
    afterwards."""

    public_id: str | None
    created: bool
    duplicate: bool
    status: IncidentStatus
    generation: int | None = None


@dataclass(frozen=True)
class _Statements:
    probe: Any
    insert_incident: Any
    insert_event: Any
    insert_outbox: Any


@functools.cache
def _statements() -> _Statements:
    """Built once with bind parameters: building a statement per call (``.values(...)``)
    cost more than executing it."""
    inc, ev, out = (cast(Table, m.__table__) for m in (Incident, AlertEvent, Outbox))
    dup = (select(ev.c.id)
           .where(ev.c.incident_id == inc.c.id, ev.c.payload_hash == bindparam("digest"))
           .exists())
    return _Statements(
        probe=select(inc.c.public_id, inc.c.status, inc.c.generation, inc.c.open_marker,
                     dup.label("dup")).where(inc.c.fingerprint_hash == bindparam("fp")),
        insert_incident=inc.insert().returning(inc.c.id),
        insert_event=ev.insert(),
        insert_outbox=out.insert(),
    )


def _str_map(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _clip(value: Any, n: int) -> str:
    return str(value)[:n]


def _alerts(payload: Mapping[str, Any]) -> list[Any]:
    raw = payload.get("alerts")
    return list(raw) if isinstance(raw, list) else []


def _truncated(payload: Mapping[str, Any]) -> int:
    value = payload.get("truncatedAlerts") or 0
    return int(value) if isinstance(value, int | str) else 0


def started_at(alerts: Sequence[Any]) -> datetime | None:
    """The group's earliest ``startsAt`` (None if Alertmanager sent no usable one)."""
    times = [parse_time(a.get("startsAt")) for a in alerts if isinstance(a, Mapping)]
    return min((t for t in times if t is not None), default=None)


def ended_at(alerts: Sequence[Any]) -> datetime | None:
    """The group's latest ``endsAt`` (None while firing: Go's zero time)."""
    times = [parse_time(a.get("endsAt")) for a in alerts if isinstance(a, Mapping)]
    return max((t for t in times if t is not None), default=None)


@dataclass(frozen=True)
class _Facts:
    """What an incident row takes from a notification."""

    labels: dict[str, Any]
    annotations: dict[str, Any]
    alertname: str
    severity: str | None

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> _Facts:
        labels = {**_str_map(payload.get("groupLabels")), **_str_map(payload.get("commonLabels"))}
        alerts = _alerts(payload)
        first = _str_map(alerts[0].get("labels")) if alerts and isinstance(alerts[0], Mapping) \
            else {}
        severity = labels.get("severity")
        return cls(labels, _str_map(payload.get("commonAnnotations")),
                   _clip(labels.get("alertname") or first.get("alertname") or "unknown", 255),
                   _clip(severity, 64) if severity is not None else None)

    @property
    def drill(self) -> bool:
        return str(self.labels.get("gameday", "")).lower() == "true"


class IntakeStore:
    """``digest``: the storm digest's policy (None: every new incident is posted).
    ``clock``: the time of a notification recorded without ``now``."""

    def __init__(self, db: Database, digest: DigestPolicy | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.digest = digest if digest is not None and digest.enabled else None
        self.clock = clock

    def with_digest(self, policy: DigestPolicy,
                    clock: Callable[[], datetime] = utcnow) -> IntakeStore:
        """The same store deciding storm digests by ``policy`` on ``clock``'s time."""
        return IntakeStore(self.db, policy, clock)

    def record(self, item: IntakeItem, *, now: datetime | None = None) -> IntakeResult:
        """Record one notification on its own (retried when it loses a race)."""
        at = as_utc(now) if now is not None else self.clock()
        last: IntegrityError | None = None
        for _ in range(_INTEGRITY_RETRIES):
            result = self.record_batch([item], now=at)[0]
            if isinstance(result, IntakeResult):
                return result
            last = result
        assert last is not None
        raise last

    def record_batch(self, items: Sequence[IntakeItem], *,
                     now: datetime | None = None) -> list[IntakeResult | IntegrityError]:
        """Record several notifications in ONE transaction (group commit: one fsync for a
        burst). If an item loses a race with another replica (IntegrityError), the batch is
        redone item by item and that item's entry is the error, for the caller to retry on
        its own; the others commit.

        * A duplicate (same :func:`notification_hash` already recorded for the group, e.g.
          an Alertmanager retry or an HA peer) writes nothing.
        * ``firing`` with no open incident for the groupKey opens one (``generation`` one
          above the group's last) and queues its card and the item's intro note; with an
          open one it refreshes labels, annotations and, at most once a minute, the card.
        * ``resolved`` resolves the open incident and queues the card's edit and a thread
          note. With no open incident the event joins the group's latest incident.
        """
        at = as_utc(now) if now is not None else self.clock()
        try:
            with self.db.session() as s:
                router = DigestRouter(s, self.digest, at) if self.digest else None
                results: list[IntakeResult | IntegrityError] = [
                    self._record(s, item, at, router) for item in items]
                if router is not None:
                    router.finish()
                return results
        except IntegrityError as exc:
            if len(items) == 1:
                return [exc]
        # A race inside the batch (rare): it rolled back whole; redo each alone so the
        # others still commit and only the loser retries.
        return [self.record_batch([item], now=at)[0] for item in items]

    def _record(self, s: Session, item: IntakeItem, at: datetime,
                router: DigestRouter | None) -> IntakeResult:
        result = self._new_group(s, item, at, router)
        return result if result is not None else self._general(s, item, at, router)

    def _new_group(self, s: Session, item: IntakeItem, now: datetime,
                   router: DigestRouter | None = None) -> IntakeResult | None:
        """A duplicate, or a firing notification for a group with no open incident, in four
        Core statements; None for anything else."""
        payload = item.payload
        fp = group_hash(str(payload["groupKey"]))
        digest = notification_hash(payload)
        stmt = _statements()
        seen = s.execute(stmt.probe, {"fp": fp, "digest": digest}).all()
        dups = sorted((r for r in seen if r.dup), key=lambda r: r.generation, reverse=True)
        if dups:
            d = dups[0]
            return IntakeResult(d.public_id, False, True, IncidentStatus(d.status), d.generation)
        if str(payload.get("status")) != "firing" or any(r.open_marker == 1 for r in seen):
            return None
        facts = _Facts.of(payload)
        alerts = _alerts(payload)
        generation = max((r.generation for r in seen), default=0) + 1
        public_id = new_public_id()
        joined = _join(router, item, facts)
        inc_id = s.execute(stmt.insert_incident, {
            "public_id": public_id, "group_key": str(payload["groupKey"]),
            "fingerprint_hash": fp, "generation": generation,
            "status": IncidentStatus.FIRING, "open_marker": 1, "alertname": facts.alertname,
            "severity": facts.severity, "receiver": _clip(payload.get("receiver") or "", 255),
            "labels": facts.labels, "annotations": facts.annotations,
            "channel": item.channel, "opened_at": now, "started_at": started_at(alerts),
            "drill": facts.drill, **_digest_columns(item, joined),
        }).scalar_one()
        s.execute(stmt.insert_event, {
            "incident_id": inc_id, "received_at": now, "status": IncidentStatus.FIRING,
            "payload_hash": digest, "alerts": alerts, "truncated_alerts": _truncated(payload),
        })
        if joined is not None:  # counted in the digest: no card, no runbook reply
            return IntakeResult(public_id, True, False, IncidentStatus.FIRING, generation)
        rows: list[tuple[OutboxMessage, str]] = [
            (IncidentPost(incident=public_id), _post_key(inc_id, generation))]
        if item.intro is not None:
            rows.append((ThreadNote(incident=public_id, note=item.intro),
                         _intro_key(public_id, item.intro)))
        s.execute(stmt.insert_outbox, [
            {"kind": m.delivery, "dedupe_key": key, "payload": dump(m), "incident_id": inc_id,
             "channel": item.channel, "state": OutboxState.PENDING, "attempts": 0,
             "next_attempt_at": now, "created_at": now}
            for m, key in rows
        ])
        return IntakeResult(public_id, True, False, IncidentStatus.FIRING, generation)

    def _general(self, s: Session, item: IntakeItem, now: datetime,
                 router: DigestRouter | None = None) -> IntakeResult:
        payload = item.payload
        fp = group_hash(str(payload["groupKey"]))
        status = IncidentStatus(str(payload["status"]))
        digest = notification_hash(payload)
        inc = s.scalars(select(Incident)
                        .where(Incident.fingerprint_hash == fp, Incident.open_marker == 1)
                        .with_for_update()).first()
        dup = s.scalars(select(Incident)
                        .join(AlertEvent, AlertEvent.incident_id == Incident.id)
                        .where(Incident.fingerprint_hash == fp, AlertEvent.payload_hash == digest)
                        .order_by(Incident.generation.desc()).limit(1)).first()
        if dup is not None:
            return IntakeResult(dup.public_id, False, True, dup.status, dup.generation)
        facts = _Facts.of(payload)
        alerts = _alerts(payload)
        if status is IncidentStatus.FIRING:
            if inc is None:
                return self._open(s, item, facts, fp, digest, now, router)
            inc.labels = facts.labels
            inc.annotations = facts.annotations
            begun = started_at(alerts)
            if begun is not None and (inc.started_at is None or begun < inc.started_at):
                inc.started_at = begun
            event = _add_event(s, inc, status, digest, alerts, payload, now)
            if inc.digest_id is None:  # a digested incident has no card of its own
                _queue_refresh(s, inc, event.id, now)
            return IntakeResult(inc.public_id, False, False, inc.status, inc.generation)
        if inc is None:
            latest = s.scalars(select(Incident).where(Incident.fingerprint_hash == fp)
                               .order_by(Incident.generation.desc()).limit(1)).first()
            if latest is None:
                return IntakeResult(None, False, False, IncidentStatus.RESOLVED)
            _add_event(s, latest, status, digest, alerts, payload, now)
            return IntakeResult(latest.public_id, False, False, latest.status, latest.generation)
        inc.mark_resolved(now)
        inc.ended_at = ended_at(alerts)
        _add_event(s, inc, status, digest, alerts, payload, now)
        if inc.digest_id is None:  # the digest's next edit counts it resolved: no spam
            enqueue_resolution(s, inc, now)
        return IntakeResult(inc.public_id, False, False, inc.status, inc.generation)

    @staticmethod
    def _open(s: Session, item: IntakeItem, facts: _Facts, fp: str, digest: str,
              now: datetime, router: DigestRouter | None) -> IntakeResult:
        """A firing notification for a group whose open incident went away in a race the
        fast path could not see: open the incident the ORM way."""
        payload = item.payload
        alerts = _alerts(payload)
        last_gen = s.scalar(select(func.max(Incident.generation))
                            .where(Incident.fingerprint_hash == fp))
        joined = _join(router, item, facts)
        inc = Incident(public_id=new_public_id(), group_key=str(payload["groupKey"]),
                       fingerprint_hash=fp, generation=(last_gen or 0) + 1,
                       alertname=facts.alertname, severity=facts.severity,
                       receiver=_clip(payload.get("receiver") or "", 255), labels=facts.labels,
                       annotations=facts.annotations, channel=item.channel, opened_at=now,
                       started_at=started_at(alerts), drill=facts.drill,
                       **_digest_columns(item, joined))
        inc.mark_firing()
        s.add(inc)
        s.flush()
        _add_event(s, inc, IncidentStatus.FIRING, digest, alerts, payload, now)
        if joined is not None:
            return IntakeResult(inc.public_id, True, False, inc.status, inc.generation)
        add_message(s, IncidentPost(incident=inc.public_id), inc.channel,
                    _post_key(inc.id, inc.generation), now, inc.id)
        if item.intro is not None:
            add_message(s, ThreadNote(incident=inc.public_id, note=item.intro), inc.channel,
                        _intro_key(inc.public_id, item.intro), now, inc.id)
        return IntakeResult(inc.public_id, True, False, inc.status, inc.generation)


def _join(router: DigestRouter | None, item: IntakeItem, facts: _Facts) -> Joined | None:
    """The storm digest a new incident is counted in; drills are always posted."""
    return None if router is None or facts.drill else router.join(item.channel)


def _digest_columns(item: IntakeItem, joined: Joined | None) -> dict[str, Any]:
    """A digested incident's message is the digest's (a reply to it lands in the digest's
    thread, unless Alertmanager's post anchors it already)."""
    ts = joined.slack_ts if joined is not None else None
    return {"digest_id": joined.id if joined is not None else None, "slack_ts": ts,
            "thread_ts": item.thread_ts or ts}


def _post_key(incident_id: int, generation: int) -> str:
    return f"incident:{incident_id}:g{generation}:post"


def _intro_key(public_id: str, note: NoteKind) -> str:
    return f"incident:{public_id}:{note.value}"


def _add_event(s: Session, inc: Incident, status: IncidentStatus, digest: str,
               alerts: list[Any], payload: Mapping[str, Any], now: datetime) -> AlertEvent:
    event = AlertEvent(incident_id=inc.id, received_at=now, status=status, payload_hash=digest,
                       alerts=alerts, truncated_alerts=_truncated(payload))
    s.add(event)
    s.flush()
    return event


def _queue_refresh(s: Session, inc: Incident, event_id: int, now: datetime) -> None:
    """Show a repeat's new values on the card, at most once per :data:`REFRESH_EVERY`.
    A refresh still waiting covers this one too: the card is rendered when it is sent."""
    prefix = f"incident:{inc.id}:refresh:"
    last = s.execute(select(Outbox.state, Outbox.next_attempt_at, Outbox.sent_at)
                     .where(Outbox.incident_id == inc.id, Outbox.kind == Delivery.UPDATE,
                            Outbox.dedupe_key.startswith(prefix))
                     .order_by(Outbox.id.desc()).limit(1)).first()
    if last is not None and last.state == OutboxState.PENDING:
        return
    if last is None:
        due = now
    else:  # from when the last refresh went out (or was due, if it never went)
        due = max(now, as_utc(last.sent_at or last.next_attempt_at) + REFRESH_EVERY)
    add_message(s, IncidentUpdate(incident=inc.public_id), inc.channel, f"{prefix}{event_id}",
                now, inc.id, due=due)
