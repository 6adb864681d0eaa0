"""Store operations. Every public method is one transaction.

Concurrency model:

* SQLite: write transactions start with ``BEGIN IMMEDIATE`` (see :mod:`bot.store.db`), so
  writers are serialized and every read-then-write below is atomic.
* PostgreSQL (several replicas, READ COMMITTED): correctness rests on unique constraints
  (one open incident per group, one event per payload hash and incident, one outbox row per
  dedupe key, one run per (job, scheduled_for)), ``ON CONFLICT`` inserts, row locks on the
  open incident, and ``FOR UPDATE SKIP LOCKED`` when claiming outbox rows. A race that ends
  in an IntegrityError is retried in a fresh transaction, which then sees the winner's rows.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import statistics
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Table, and_, bindparam, case, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.db import Database
from bot.store.models import (
    Action,
    AlertEvent,
    Incident,
    Lease,
    Outbox,
    SchedulerRun,
    SlackEvent,
    as_utc,
    utcnow,
)

T = TypeVar("T")

OutboxPayloadBuilder = Callable[[Incident, str], dict[str, Any]]
"""Builds the payload of one outbox row: called with the incident (flushed, inside the
transaction: raising aborts everything) and the row kind: ``"post"``, ``"update"`` or
``"thread_reply"``."""

# Outbox kinds that need the incident's Slack message first.
_NEEDS_MESSAGE = "update"  # edits incident.slack_ts
_NEEDS_THREAD = "thread_reply"  # replies under incident.thread_ts

DEFAULT_MAX_ATTEMPTS = 8
_INTEGRITY_RETRIES = 4
_ALERT_KEYS = ("status", "labels", "annotations", "startsAt", "endsAt", "fingerprint")


@dataclass(frozen=True)
class _FastStatements:
    probe: Any
    insert_incident: Any
    insert_event: Any
    insert_outbox: Any


@functools.cache
def _fast_statements() -> _FastStatements:
    """Built once with bind parameters: building a statement per call (``.values(...)``)
    cost more than executing it."""
    inc, ev, out = (cast(Table, m.__table__) for m in (Incident, AlertEvent, Outbox))
    dup = (
        select(ev.c.id)
        .where(ev.c.incident_id == inc.c.id, ev.c.payload_hash == bindparam("digest"))
        .exists()
    )
    return _FastStatements(
        probe=select(inc.c.public_id, inc.c.status, inc.c.generation, inc.c.open_marker,
                     dup.label("dup")).where(inc.c.fingerprint_hash == bindparam("fp")),
        insert_incident=inc.insert().returning(inc.c.id),
        insert_event=ev.insert(),
        insert_outbox=out.insert(),
    )


@dataclass(frozen=True)
class _IncidentShell:
    """What an outbox payload builder reads of an incident created by a Core insert."""

    public_id: str
    status: str


@dataclass(frozen=True)
class IntakeItem:
    """One validated notification for :meth:`Store.record_batch`."""

    payload: Mapping[str, Any]
    channel: str
    thread_ts: str | None = None
    intro: str | None = None


class NotFound(LookupError):
    """No incident with that public id."""


@dataclass(frozen=True)
class IntakeResult:
    """What :meth:`Store.record_notification` did.

    ``public_id`` is None only for a resolved notification of a group never seen before
    (nothing is written then). ``status`` is the incident's status afterwards.
    """

    public_id: str | None
    created: bool
    duplicate: bool
    status: str
    generation: int | None = None
    enqueued: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutboxRow:
    """A claimed outbox row plus what the worker needs from its incident.

    ``slack_ts`` is the incident's own message (the one an ``update`` edits) and
    ``thread_ts`` the thread root (where a ``thread_reply`` goes; a ``post`` for an incident
    anchored in an existing thread goes there too).
    """

    id: int
    kind: str
    channel: str
    payload: dict[str, Any]
    dedupe_key: str
    attempts: int
    claimed_until: datetime
    incident_id: int | None
    incident_public_id: str | None
    slack_ts: str | None
    thread_ts: str | None
    created_at: datetime | None = None
    reclaimed: bool = False
    """True if the row was still ``sending`` under an expired claim: a worker took it
    before and vanished, possibly after Slack accepted the message."""

    @property
    def may_have_been_sent(self) -> bool:
        """A previous attempt may have reached Slack: a counted failed attempt (a 5xx or a
        timeout can follow a successful post) or an expired claim. The worker then looks
        for the message before posting again."""
        return self.attempts > 0 or self.reclaimed


@dataclass(frozen=True)
class FatigueRow:
    """Alert-fatigue figures of one alertname over a window.

    ``never_acked`` counts resolved incidents that nobody acknowledged; ``silenced_share``
    is the share of incidents that got a Silence.
    """

    alertname: str
    count: int
    acked: int
    ack_rate: float
    mtta_p50_s: float | None
    never_acked: int
    silenced_share: float


def group_hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode("utf-8")).hexdigest()


def notification_hash(payload: Mapping[str, Any]) -> str:
    """sha256 of what makes two notifications "the same".

    ``externalURL`` and each alert's ``generatorURL`` are left out: HA peers may differ there
    while sending the same notification. Alerts are sorted by fingerprint.
    """
    alerts = [
        {k: a.get(k) for k in _ALERT_KEYS}
        for a in payload.get("alerts") or []
        if isinstance(a, Mapping)
    ]
    alerts.sort(key=lambda a: (str(a.get("fingerprint")), _canon(a)))
    canon = {
        "groupKey": payload.get("groupKey"),
        "status": payload.get("status"),
        "receiver": payload.get("receiver"),
        "groupLabels": payload.get("groupLabels"),
        "commonLabels": payload.get("commonLabels"),
        "commonAnnotations": payload.get("commonAnnotations"),
        "truncatedAlerts": payload.get("truncatedAlerts"),
        "alerts": alerts,
    }
    return hashlib.sha256(_canon(canon).encode("utf-8")).hexdigest()


def new_public_id() -> str:
    """10 random lowercase base32 characters (50 bits)."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")[:10].lower()


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _str_map(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _clip(value: Any, n: int) -> str:
    return str(value)[:n]


def _resolution_key(inc: Incident, kind: str) -> str:
    return f"incident:{inc.id}:g{inc.generation}:{kind}:resolved"


class Store:
    """The bot's durable state. Thread-safe; share one per process."""

    def __init__(self, db: Database, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        self.db = db
        self.max_attempts = max_attempts

    # ---------------------------------------------------------------- alert intake

    def record_notification(
        self,
        payload: Mapping[str, Any],
        channel: str,
        outbox_payload_builder: OutboxPayloadBuilder | None = None,
        *,
        now: datetime | None = None,
        thread_ts: str | None = None,
    ) -> IntakeResult:
        """Record one (validated) Alertmanager v4 webhook notification, in one transaction.

        * A duplicate (same :func:`notification_hash` already recorded for this alert group,
          e.g. an Alertmanager retry or an HA peer) writes nothing: ``duplicate=True``.
        * ``firing`` with no open incident for the groupKey opens one (``generation`` one
          above the group's last) and enqueues a ``post``; with an open one it refreshes
          its labels and annotations.
        * ``resolved`` resolves the open incident and enqueues an ``update`` (edit the
          incident's message) and a ``thread_reply``. With no open incident the event is
          attached to the group's latest incident and nothing is enqueued.
        * ``thread_ts`` anchors a new incident in an existing Slack thread (listener mode:
          Alertmanager posted the alert itself); its ``post`` then goes into that thread.

        Without a builder each row's payload is ``{"incident": public_id, "kind": kind}``,
        for a worker that renders at send time. If the builder raises, nothing is written.
        """
        at = as_utc(now) if now is not None else utcnow()
        last: IntegrityError | None = None
        for _ in range(_INTEGRITY_RETRIES):
            try:
                with self.db.session() as s:
                    return self._intake(s, payload, channel, outbox_payload_builder, at, thread_ts)
            except IntegrityError as exc:  # lost a race: the next round sees the winner
                last = exc
        assert last is not None
        raise last

    def record_batch(
        self,
        items: Sequence[IntakeItem],
        outbox_payload_builder: OutboxPayloadBuilder | None = None,
        *,
        now: datetime | None = None,
    ) -> list[IntakeResult | IntegrityError]:
        """Record several notifications in ONE transaction (group commit: one fsync for a
        burst instead of one per notification). If an item loses a race with another replica
        (IntegrityError), the batch is redone item by item and that item's entry is the
        error, for the caller to retry on its own; the others commit.

        An item with ``intro`` also gets a ``thread_reply`` row carrying that note for a new
        incident (the runbook under the alert), in the same transaction.
        """
        at = as_utc(now) if now is not None else utcnow()
        try:
            with self.db.session() as s:
                return [self._record_item(s, item, outbox_payload_builder, at)
                        for item in items]
        except IntegrityError as exc:
            if len(items) == 1:
                return [exc]
        # A race with another replica inside the batch (rare): the batch rolled back whole;
        # redo each alone so the others still commit and only the loser retries.
        return [self.record_batch([item], outbox_payload_builder, now=at)[0] for item in items]

    def _record_item(
        self, s: Session, item: IntakeItem, builder: OutboxPayloadBuilder | None, at: datetime
    ) -> IntakeResult:
        result = self._intake_new_group(s, item, builder, at)
        if result is not None:
            return result
        result = self._intake(s, item.payload, item.channel, builder, at, item.thread_ts)
        if result.created and item.intro is not None:  # the general path opened the incident
            inc = s.scalars(select(Incident).where(Incident.public_id == result.public_id)).one()
            self._enqueue(
                s, inc, "thread_reply", inc.channel, f"incident:{inc.public_id}:{item.intro}",
                None, at, payload={"incident": inc.public_id, "note": item.intro},
            )
        return result

    def _intake_new_group(
        self,
        s: Session,
        item: IntakeItem,
        builder: OutboxPayloadBuilder | None,
        now: datetime,
    ) -> IntakeResult | None:
        """The storm's common case in four Core statements: a duplicate, or a firing
        notification for a group with no open incident. Anything else returns None and takes
        the general path. Same rows, same keys as :meth:`_intake`."""
        payload = item.payload
        group_key = str(payload["groupKey"])
        fp = group_hash(group_key)
        digest = notification_hash(payload)
        stmt = _fast_statements()
        seen = s.execute(stmt.probe, {"fp": fp, "digest": digest}).all()
        dups = sorted((r for r in seen if r.dup), key=lambda r: r.generation, reverse=True)
        if dups:
            d = dups[0]
            return IntakeResult(d.public_id, False, True, d.status, d.generation)
        if str(payload.get("status")) != "firing" or any(r.open_marker == 1 for r in seen):
            return None
        common = _str_map(payload.get("commonLabels"))
        labels = {**_str_map(payload.get("groupLabels")), **common}
        raw_alerts = payload.get("alerts")
        alerts: list[Any] = list(raw_alerts) if isinstance(raw_alerts, list) else []
        first_labels = _str_map(alerts[0].get("labels")) if alerts else {}
        alertname = labels.get("alertname") or first_labels.get("alertname") or "unknown"
        severity = labels.get("severity")
        generation = max((r.generation for r in seen), default=0) + 1
        public_id = new_public_id()
        inc_id = s.execute(stmt.insert_incident, {
            "public_id": public_id, "group_key": group_key, "fingerprint_hash": fp,
            "generation": generation, "status": "firing", "open_marker": 1,
            "alertname": _clip(alertname, 255),
            "severity": _clip(severity, 64) if severity is not None else None,
            "receiver": _clip(payload.get("receiver") or "", 255), "labels": labels,
            "annotations": _str_map(payload.get("commonAnnotations")),
            "channel": item.channel, "thread_ts": item.thread_ts, "opened_at": now,
            "drill": str(labels.get("gameday", "")).lower() == "true",
        }).scalar_one()
        truncated = payload.get("truncatedAlerts") or 0
        s.execute(stmt.insert_event, {
            "incident_id": inc_id, "received_at": now, "status": "firing",
            "payload_hash": digest, "alerts": alerts,
            "truncated_alerts": int(truncated) if isinstance(truncated, int | str) else 0,
        })
        shell = _IncidentShell(public_id, "firing")
        rows = [{
            "kind": "post", "dedupe_key": f"incident:{inc_id}:g{generation}:post",
            "payload": builder(shell, "post") if builder is not None  # type: ignore[arg-type]
            else {"incident": public_id, "kind": "post"},
        }]
        if item.intro is not None:
            rows.append({"kind": "thread_reply",
                         "dedupe_key": f"incident:{public_id}:{item.intro}",
                         "payload": {"incident": public_id, "note": item.intro}})
        s.execute(stmt.insert_outbox, [
            {**r, "incident_id": inc_id, "channel": item.channel, "state": "pending",
             "attempts": 0, "next_attempt_at": now, "created_at": now} for r in rows
        ])
        return IntakeResult(public_id, True, False, "firing", generation,
                            tuple(str(r["kind"]) for r in rows[:1]))

    def _intake(
        self,
        s: Session,
        payload: Mapping[str, Any],
        channel: str,
        builder: OutboxPayloadBuilder | None,
        now: datetime,
        thread_ts: str | None,
    ) -> IntakeResult:
        group_key = str(payload["groupKey"])
        fp = group_hash(group_key)
        status = str(payload["status"])
        if status not in ("firing", "resolved"):
            raise ValueError(f"unknown notification status {status!r}")
        digest = notification_hash(payload)

        inc = s.scalars(
            select(Incident)
            .where(Incident.fingerprint_hash == fp, Incident.open_marker == 1)
            .with_for_update()
        ).first()

        dup = s.scalars(
            select(Incident)
            .join(AlertEvent, AlertEvent.incident_id == Incident.id)
            .where(Incident.fingerprint_hash == fp, AlertEvent.payload_hash == digest)
            .order_by(Incident.generation.desc())
            .limit(1)
        ).first()
        if dup is not None:
            return IntakeResult(dup.public_id, False, True, dup.status, dup.generation)

        common = _str_map(payload.get("commonLabels"))
        labels = {**_str_map(payload.get("groupLabels")), **common}
        annotations = _str_map(payload.get("commonAnnotations"))
        raw_alerts = payload.get("alerts")
        alerts: list[Any] = list(raw_alerts) if isinstance(raw_alerts, list) else []
        created = False
        enqueued: list[str] = []

        if status == "firing":
            if inc is None:
                last_gen = s.scalar(
                    select(func.max(Incident.generation)).where(Incident.fingerprint_hash == fp)
                )
                first_labels = _str_map(alerts[0].get("labels")) if alerts else {}
                alertname = labels.get("alertname") or first_labels.get("alertname") or "unknown"
                severity = labels.get("severity")
                inc = Incident(
                    public_id=new_public_id(),
                    group_key=group_key,
                    fingerprint_hash=fp,
                    generation=(last_gen or 0) + 1,
                    alertname=_clip(alertname, 255),
                    severity=_clip(severity, 64) if severity is not None else None,
                    receiver=_clip(payload.get("receiver") or "", 255),
                    labels=labels,
                    annotations=annotations,
                    channel=channel,
                    thread_ts=thread_ts,
                    opened_at=now,
                    drill=str(labels.get("gameday", "")).lower() == "true",
                )
                inc.mark_firing()
                s.add(inc)
                s.flush()
                created = True
            else:
                inc.labels = labels
                inc.annotations = annotations
        else:
            if inc is None:
                latest = s.scalars(
                    select(Incident)
                    .where(Incident.fingerprint_hash == fp)
                    .order_by(Incident.generation.desc())
                    .limit(1)
                ).first()
                if latest is None:
                    return IntakeResult(None, False, False, "resolved")
                self._add_event(s, latest, status, digest, alerts, payload, now)
                return IntakeResult(
                    latest.public_id, False, False, latest.status, latest.generation
                )
            inc.mark_resolved(now)

        self._add_event(s, inc, status, digest, alerts, payload, now)
        if created:
            key = f"incident:{inc.id}:g{inc.generation}:post"
            self._enqueue(s, inc, "post", inc.channel, key, builder, now)
            enqueued.append("post")
        elif status == "resolved":
            enqueued += self._enqueue_resolution(s, inc, builder, now)
        s.flush()
        return IntakeResult(
            inc.public_id, created, False, inc.status, inc.generation, tuple(enqueued)
        )

    @staticmethod
    def _add_event(
        s: Session,
        inc: Incident,
        status: str,
        digest: str,
        alerts: list[Any],
        payload: Mapping[str, Any],
        now: datetime,
    ) -> None:
        truncated = payload.get("truncatedAlerts") or 0
        s.add(
            AlertEvent(
                incident_id=inc.id,
                received_at=now,
                status=status,
                payload_hash=digest,
                alerts=alerts,
                truncated_alerts=int(truncated) if isinstance(truncated, int | str) else 0,
            )
        )

    def _enqueue_resolution(
        self, s: Session, inc: Incident, builder: OutboxPayloadBuilder | None, now: datetime
    ) -> list[str]:
        for kind in ("update", "thread_reply"):
            self._enqueue(s, inc, kind, inc.channel, _resolution_key(inc, kind), builder, now)
        return ["update", "thread_reply"]

    @staticmethod
    def _enqueue(
        s: Session,
        inc: Incident | None,
        kind: str,
        channel: str,
        dedupe_key: str,
        builder: OutboxPayloadBuilder | None,
        now: datetime,
        payload: dict[str, Any] | None = None,
    ) -> Outbox:
        if payload is None:
            if inc is not None and builder is not None:
                payload = builder(inc, kind)
            else:
                payload = {"incident": inc.public_id if inc is not None else None, "kind": kind}
        row = Outbox(
            incident_id=inc.id if inc is not None else None,
            kind=kind,
            channel=channel,
            payload=payload,
            dedupe_key=dedupe_key,
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        s.add(row)
        return row

    # ---------------------------------------------------------------- outbox

    def enqueue(
        self,
        kind: str,
        channel: str,
        payload: dict[str, Any],
        dedupe_key: str,
        *,
        incident_public_id: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Enqueue one message. False (and nothing written) if ``dedupe_key`` exists."""
        at = as_utc(now) if now is not None else utcnow()
        try:
            with self.db.session() as s:
                if s.scalar(select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)):
                    return False
                inc = self._get(s, incident_public_id) if incident_public_id else None
                self._enqueue(s, inc, kind, channel, dedupe_key, None, at, payload)
            return True
        except IntegrityError:
            with self.db.session(readonly=True) as s:
                if s.scalar(select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)):
                    return False
            raise

    def claim_outbox(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        lease_s: float,
        *,
        exclude_channels: Collection[str] = (),
    ) -> list[OutboxRow]:
        """Claim up to ``limit`` deliverable rows, oldest first, until ``now + lease_s``.

        Deliverable: ``pending`` and due, or ``sending`` with an expired claim (a crashed
        worker; such rows come back with ``reclaimed=True``). An ``update`` waits for the
        incident's message ts, a ``thread_reply`` for its thread ts. Rows of
        ``exclude_channels`` (channels the worker is pacing) are left alone. PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``; SQLite: the transaction holds the write lock. A row is
        never handed to two live claims.
        """
        at = as_utc(now)
        until = at + timedelta(seconds=lease_s)
        claimable = or_(
            and_(Outbox.state == "pending", Outbox.next_attempt_at <= at),
            and_(Outbox.state == "sending", Outbox.claimed_until <= at),
        )
        has_message = (
            select(Incident.id)
            .where(Incident.id == Outbox.incident_id, Incident.slack_ts.is_not(None))
            .exists()
        )
        has_thread = (
            select(Incident.id)
            .where(Incident.id == Outbox.incident_id, Incident.thread_ts.is_not(None))
            .exists()
        )
        ready = or_(
            Outbox.incident_id.is_(None),
            Outbox.kind.not_in((_NEEDS_MESSAGE, _NEEDS_THREAD)),
            and_(Outbox.kind == _NEEDS_MESSAGE, has_message),
            and_(Outbox.kind == _NEEDS_THREAD, has_thread),
        )
        conditions = [claimable, ready]
        if exclude_channels:
            conditions.append(Outbox.channel.not_in(list(exclude_channels)))
        with self.db.session() as s:
            found = s.execute(
                select(Outbox.id, Outbox.state)
                .where(*conditions)
                .order_by(Outbox.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Outbox)
            ).all()
            if not found:
                return []
            ids = [row_id for row_id, _ in found]
            reclaimed = {row_id for row_id, state in found if state == "sending"}
            s.execute(
                update(Outbox)
                .where(Outbox.id.in_(ids), claimable)
                .values(state="sending", claimed_by=worker_id, claimed_until=until)
                .execution_options(synchronize_session=False)
            )
            rows = s.execute(
                select(Outbox, Incident.public_id, Incident.slack_ts, Incident.thread_ts)
                .outerjoin(Incident, Incident.id == Outbox.incident_id)
                .where(
                    Outbox.id.in_(ids),
                    Outbox.state == "sending",
                    Outbox.claimed_by == worker_id,
                )
                .order_by(Outbox.id)
                .execution_options(populate_existing=True)
            ).all()
            return [
                OutboxRow(
                    id=o.id,
                    kind=o.kind,
                    channel=o.channel,
                    payload=dict(o.payload),
                    dedupe_key=o.dedupe_key,
                    attempts=o.attempts,
                    claimed_until=until,
                    incident_id=o.incident_id,
                    incident_public_id=pid,
                    slack_ts=msg_ts,
                    thread_ts=thr_ts,
                    created_at=o.created_at,
                    reclaimed=o.id in reclaimed,
                )
                for o, pid, msg_ts, thr_ts in rows
            ]

    def mark_sending(
        self, outbox_id: int, worker_id: str, now: datetime, lease_s: float
    ) -> datetime | None:
        """Call right before handing a claimed row to Slack: checks that ``worker_id`` still
        holds the claim and extends it to ``now + lease_s`` (returned). None if the claim
        was lost (expired and taken by another worker, or the row is finished): the caller
        must not send then. With the send's timeout below ``lease_s``, no other worker can
        take the row while the send is in flight."""
        until = as_utc(now) + timedelta(seconds=lease_s)
        with self.db.session() as s:
            row = s.get(Outbox, outbox_id, with_for_update=True)
            if row is None or row.state != "sending" or row.claimed_by != worker_id:
                return None
            row.claimed_until = until
            return until

    def release_outbox(
        self,
        outbox_ids: Collection[int],
        *,
        worker_id: str,
        next_attempt_at: datetime | None = None,
        error: str | None = None,
        may_have_been_sent: bool = False,
    ) -> int:
        """Give claimed rows back without counting a failed attempt (pacing, a 429): back to
        ``pending``, due at ``next_attempt_at`` (unchanged when None). ``error`` is kept in
        ``last_error`` if given. ``may_have_been_sent`` keeps that knowledge for the next
        claim: ``attempts`` is raised to at least 1 (the vanished worker's attempt).

        Rows no longer held by ``worker_id`` are skipped. Returns the number released.
        """
        if not outbox_ids:
            return 0
        values: dict[str, Any] = {"state": "pending", "claimed_by": None, "claimed_until": None}
        if next_attempt_at is not None:
            values["next_attempt_at"] = as_utc(next_attempt_at)
        if error is not None:
            values["last_error"] = error[:2000]
        if may_have_been_sent:
            values["attempts"] = case((Outbox.attempts < 1, 1), else_=Outbox.attempts)
        with self.db.session() as s:
            result = s.execute(
                update(Outbox)
                .where(
                    Outbox.id.in_(list(outbox_ids)),
                    Outbox.state == "sending",
                    Outbox.claimed_by == worker_id,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def complete_outbox(
        self,
        outbox_id: int,
        slack_ts: str | None,
        *,
        worker_id: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Mark a row ``done`` and keep Slack's ``ts``. For a ``post`` the ts becomes the
        incident's message (and thread root, unless anchored elsewhere).

        False if the row is already done/dead, or ``worker_id`` is given and no longer holds
        the claim.
        """
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session() as s:
            row = s.get(Outbox, outbox_id, with_for_update=True)
            if row is None or row.state in ("done", "dead"):
                return False
            if worker_id is not None and row.claimed_by != worker_id:
                return False
            row.state = "done"
            row.slack_ts = slack_ts
            row.sent_at = at
            row.claimed_until = None
            row.last_error = None
            if row.kind == "post" and row.incident_id is not None and slack_ts:
                inc = s.get(Incident, row.incident_id, with_for_update=True)
                if inc is not None:
                    if inc.slack_ts is None:
                        inc.slack_ts = slack_ts
                    if inc.thread_ts is None:
                        inc.thread_ts = slack_ts
            return True

    def retry_outbox(
        self,
        outbox_id: int,
        error: str,
        next_attempt_at: datetime,
        *,
        worker_id: str | None = None,
        give_up: bool = False,
    ) -> str:
        """Count a failed attempt: back to ``pending`` at ``next_attempt_at``, or ``dead``
        once ``attempts`` reaches ``max_attempts`` (or ``give_up``, for permanent errors).

        Returns the row's state afterwards (unchanged if not held by ``worker_id``).
        """
        with self.db.session() as s:
            row = s.get(Outbox, outbox_id, with_for_update=True)
            if row is None:
                raise LookupError(f"no outbox row {outbox_id}")
            if row.state in ("done", "dead"):
                return row.state
            if worker_id is not None and row.claimed_by != worker_id:
                return row.state
            row.attempts += 1
            row.last_error = error[:2000]
            row.claimed_by = None
            row.claimed_until = None
            if give_up or row.attempts >= self.max_attempts:
                row.state = "dead"
            else:
                row.state = "pending"
                row.next_attempt_at = as_utc(next_attempt_at)
            return row.state

    def outbox_pending_count(self) -> int:
        """Rows not yet delivered (``pending`` or ``sending``)."""
        with self.db.session(readonly=True) as s:
            n = s.scalar(
                select(func.count()).select_from(Outbox).where(
                    Outbox.state.in_(("pending", "sending"))
                )
            )
            return int(n or 0)

    def outbox_counts(self) -> dict[str, int]:
        """Number of outbox rows per state (all four states present)."""
        with self.db.session(readonly=True) as s:
            counts = {st: 0 for st in ("pending", "sending", "done", "dead")}
            for state, n in s.execute(
                select(Outbox.state, func.count()).group_by(Outbox.state)
            ).all():
                counts[str(state)] = int(n)
            return counts

    # ---------------------------------------------------------------- incidents, actions

    @staticmethod
    def _get(s: Session, public_id: str, *, lock: bool = False) -> Incident:
        q = select(Incident).where(Incident.public_id == public_id)
        if lock:
            q = q.with_for_update()
        inc = s.scalars(q).first()
        if inc is None:
            raise NotFound(public_id)
        return inc

    @staticmethod
    def _action(
        s: Session,
        inc: Incident | None,
        kind: str,
        user_id: str,
        allowed: bool,
        detail: dict[str, Any],
        at: datetime,
        drill_id: int | None = None,
    ) -> Action:
        act = Action(
            incident_id=inc.id if inc is not None else None,
            drill_id=drill_id,
            kind=kind,
            user_id=user_id,
            at=at,
            detail=detail,
            allowed=allowed,
        )
        s.add(act)
        s.flush()
        return act

    def record_action(
        self,
        incident_public_id: str | None,
        kind: str,
        user_id: str,
        allowed: bool,
        detail: dict[str, Any] | None = None,
        *,
        drill_id: int | None = None,
        now: datetime | None = None,
    ) -> Action:
        """Append to the audit log. An unknown public id is kept in ``detail["incident"]``
        (a forged or stale button is still recorded, e.g. as ``refused``)."""
        at = as_utc(now) if now is not None else utcnow()
        info = dict(detail or {})
        with self.db.session() as s:
            inc = None
            if incident_public_id is not None:
                inc = s.scalars(
                    select(Incident).where(Incident.public_id == incident_public_id)
                ).first()
                if inc is None:
                    info.setdefault("incident", incident_public_id)
            return self._action(s, inc, kind, user_id, allowed, info, at, drill_id)

    def acknowledge(
        self,
        public_id: str,
        user_id: str,
        now: datetime,
        *,
        outbox_payload_builder: OutboxPayloadBuilder | None = None,
    ) -> tuple[Incident, bool]:
        """Acknowledge; ``first`` is False if already acknowledged (the first ack's time and
        user stay). Records an ``ack`` action with ``tta_s``. With a builder, the first ack
        also enqueues an ``update`` of the incident's message. Raises :class:`NotFound`."""
        at = as_utc(now)
        with self.db.session() as s:
            inc = self._get(s, public_id, lock=True)
            first = inc.acked_at is None
            if first:
                inc.acked_at = at
                inc.acked_by = user_id
            detail: dict[str, Any] = {"tta_s": inc.tta_s, "first": first}
            if not first:
                detail["acked_by"] = inc.acked_by
            act = self._action(s, inc, "ack", user_id, True, detail, at)
            if first and outbox_payload_builder is not None:
                key = f"incident:{inc.id}:update:ack:{act.id}"
                self._enqueue(s, inc, "update", inc.channel, key, outbox_payload_builder, at)
            return inc, first

    def resolve_by_hand(
        self,
        public_id: str,
        user_id: str,
        now: datetime,
        *,
        outbox_payload_builder: OutboxPayloadBuilder | None = None,
    ) -> tuple[Incident, bool]:
        """Resolve from Slack; ``changed`` is False if it was already resolved. Records a
        ``resolve`` action and enqueues the same ``update`` + ``thread_reply`` as an
        Alertmanager resolve (same dedupe keys). Raises :class:`NotFound`.

        If Alertmanager keeps sending ``firing`` for the group, that opens a new incident.
        """
        at = as_utc(now)
        with self.db.session() as s:
            inc = self._get(s, public_id, lock=True)
            changed = inc.is_open
            if changed:
                inc.mark_resolved(at, by=user_id)
                self._enqueue_resolution(s, inc, outbox_payload_builder, at)
            self._action(s, inc, "resolve", user_id, True, {"changed": changed}, at)
            return inc, changed

    def set_silence(
        self,
        public_id: str,
        silence_id: str,
        until: datetime,
        user_id: str,
        *,
        now: datetime | None = None,
        outbox_payload_builder: OutboxPayloadBuilder | None = None,
    ) -> Incident:
        """Keep the Alertmanager silence id on the incident and record a ``silence``
        action. Raises :class:`NotFound`."""
        at = as_utc(now) if now is not None else utcnow()
        end = as_utc(until)
        with self.db.session() as s:
            inc = self._get(s, public_id, lock=True)
            inc.silence_id = silence_id
            inc.silenced_until = end
            detail = {"silence_id": silence_id, "until": end.isoformat()}
            act = self._action(s, inc, "silence", user_id, True, detail, at)
            if outbox_payload_builder is not None:
                key = f"incident:{inc.id}:update:silence:{act.id}"
                self._enqueue(s, inc, "update", inc.channel, key, outbox_payload_builder, at)
            return inc

    def clear_silence(
        self,
        public_id: str,
        user_id: str,
        *,
        now: datetime | None = None,
        outbox_payload_builder: OutboxPayloadBuilder | None = None,
    ) -> Incident:
        """Forget the incident's silence (after expiring it in Alertmanager) and record an
        ``unsilence`` action with the old id. Raises :class:`NotFound`."""
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session() as s:
            inc = self._get(s, public_id, lock=True)
            detail = {"silence_id": inc.silence_id}
            inc.silence_id = None
            inc.silenced_until = None
            act = self._action(s, inc, "unsilence", user_id, True, detail, at)
            if outbox_payload_builder is not None:
                key = f"incident:{inc.id}:update:unsilence:{act.id}"
                self._enqueue(s, inc, "update", inc.channel, key, outbox_payload_builder, at)
            return inc

    def incident(self, public_id: str) -> Incident | None:
        with self.db.session(readonly=True) as s:
            return s.scalars(select(Incident).where(Incident.public_id == public_id)).first()

    def open_incidents(self, include_drills: bool = False) -> list[Incident]:
        """Firing incidents, oldest first."""
        q = select(Incident).where(Incident.open_marker == 1)
        if not include_drills:
            q = q.where(Incident.drill.is_(False))
        with self.db.session(readonly=True) as s:
            return list(s.scalars(q.order_by(Incident.opened_at, Incident.id)))

    def incident_actions(self, public_id: str) -> list[Action]:
        """The audit log of one incident, oldest first. Raises :class:`NotFound`."""
        with self.db.session(readonly=True) as s:
            inc = self._get(s, public_id)
            return list(
                s.scalars(
                    select(Action).where(Action.incident_id == inc.id).order_by(Action.id)
                )
            )

    def incident_events(self, public_id: str) -> list[AlertEvent]:
        """The notifications recorded for one incident, oldest first. Raises NotFound."""
        with self.db.session(readonly=True) as s:
            inc = self._get(s, public_id)
            return list(
                s.scalars(
                    select(AlertEvent)
                    .where(AlertEvent.incident_id == inc.id)
                    .order_by(AlertEvent.id)
                )
            )

    def fatigue(self, since: datetime, include_drills: bool = False) -> list[FatigueRow]:
        """Per alertname over incidents opened at or after ``since``; most frequent first."""
        start = as_utc(since)
        cond = [Incident.opened_at >= start]
        if not include_drills:
            cond.append(Incident.drill.is_(False))
        with self.db.session(readonly=True) as s:
            incidents = s.execute(
                select(
                    Incident.id,
                    Incident.alertname,
                    Incident.opened_at,
                    Incident.acked_at,
                    Incident.status,
                    Incident.silence_id,
                ).where(*cond)
            ).all()
            silenced = set(
                s.scalars(
                    select(Action.incident_id)
                    .join(Incident, Incident.id == Action.incident_id)
                    .where(Action.kind == "silence", Action.allowed.is_(True), *cond)
                    .distinct()
                )
            )
        groups: dict[str, list[Any]] = {}
        for row in incidents:
            groups.setdefault(row.alertname, []).append(row)
        out: list[FatigueRow] = []
        for name, rows in groups.items():
            ttas = [
                (r.acked_at - r.opened_at).total_seconds() for r in rows if r.acked_at is not None
            ]
            count = len(rows)
            never = sum(1 for r in rows if r.acked_at is None and r.status == "resolved")
            sil = sum(1 for r in rows if r.id in silenced or r.silence_id is not None)
            out.append(
                FatigueRow(
                    alertname=name,
                    count=count,
                    acked=len(ttas),
                    ack_rate=len(ttas) / count,
                    mtta_p50_s=statistics.median(ttas) if ttas else None,
                    never_acked=never,
                    silenced_share=sil / count,
                )
            )
        out.sort(key=lambda r: (-r.count, r.alertname))
        return out

    # ---------------------------------------------------------------- dedupe, leases

    def _insert_ignore(self, s: Session, model: type[Any], values: dict[str, Any]) -> bool:
        """INSERT ... ON CONFLICT DO NOTHING; True if the row was inserted."""
        if self.db.dialect == "postgresql":
            pg = postgresql.insert(model).values(**values).on_conflict_do_nothing()
            res = s.execute(pg.returning(*model.__table__.primary_key.columns))
        else:
            lite = sqlite.insert(model).values(**values).on_conflict_do_nothing()
            res = s.execute(lite.returning(*model.__table__.primary_key.columns))
        return res.first() is not None

    def seen_slack_event(self, event_id: str, *, now: datetime | None = None) -> bool:
        """Remember a Slack ``event_id``; True if it had been seen already (a retry)."""
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session() as s:
            return not self._insert_ignore(
                s, SlackEvent, {"event_id": event_id, "received_at": at}
            )

    def prune_slack_events(self, older_than: datetime) -> int:
        """Forget event ids received before ``older_than``; returns how many."""
        stmt = (
            delete(SlackEvent)
            .where(SlackEvent.received_at < as_utc(older_than))
            .returning(SlackEvent.event_id)
        )
        with self.db.session() as s:
            return len(s.execute(stmt).all())

    def try_lease(self, name: str, holder: str, ttl_s: float, now: datetime) -> bool:
        """Take or renew lease ``name`` until ``now + ttl_s``. True if ``holder`` has it:
        it was free, expired, or already ours."""
        at = as_utc(now)
        values = {"name": name, "holder": holder, "expires_at": at + timedelta(seconds=ttl_s)}
        table = Lease.__table__
        with self.db.session() as s:
            takeover = or_(table.c.holder == holder, table.c.expires_at <= at)
            if self.db.dialect == "postgresql":
                pg = postgresql.insert(Lease).values(**values)
                stmt = pg.on_conflict_do_update(
                    index_elements=[table.c.name],
                    set_={"holder": pg.excluded.holder, "expires_at": pg.excluded.expires_at},
                    where=takeover,
                ).returning(table.c.name)
            else:
                lite = sqlite.insert(Lease).values(**values)
                stmt = lite.on_conflict_do_update(
                    index_elements=[table.c.name],
                    set_={"holder": lite.excluded.holder, "expires_at": lite.excluded.expires_at},
                    where=takeover,
                ).returning(table.c.name)
            return s.execute(stmt).first() is not None

    def release_lease(self, name: str, holder: str, *, now: datetime | None = None) -> bool:
        """Give a lease up early (expire it now) if ``holder`` has it."""
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session() as s:
            lease = s.get(Lease, name, with_for_update=True)
            if lease is None or lease.holder != holder:
                return False
            lease.expires_at = at
            return True

    def claim_scheduled_run(
        self, job: str, scheduled_for: datetime, holder: str, *, now: datetime | None = None
    ) -> bool:
        """True for exactly one caller per (job, scheduled_for), across replicas."""
        at = as_utc(now) if now is not None else utcnow()
        values = {
            "job": job,
            "scheduled_for": as_utc(scheduled_for),
            "claimed_by": holder,
            "claimed_at": at,
        }
        with self.db.session() as s:
            return self._insert_ignore(s, SchedulerRun, values)
