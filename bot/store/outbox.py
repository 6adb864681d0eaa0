"""The outbox: typed messages waiting for Slack, claimed by workers, delivered once.

Rows are added in the same transaction as the change that needs them (:func:`add_message`),
so a committed incident always has its messages. Workers (one per replica) claim rows with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite the write transaction is the lock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.messages import Delivery, OutboxMessage, dump, load
from bot.store.db import Database
from bot.store.models import Incident, Outbox
from bot.store.states import OutboxState
from bot.times import as_utc, utcnow
from bot.words import plural

DEFAULT_MAX_ATTEMPTS = 8
_ERROR_MAX = 2000


@dataclass(frozen=True)
class OutboxRow:
    """A claimed outbox row plus what the worker needs from its incident.

    ``slack_ts`` is the incident's own message (the one an UPDATE edits) and ``thread_ts``
    the thread root (where a THREAD_REPLY goes; a POST for an incident anchored in an
    existing thread goes there too). ``message`` is None when the payload is not a message
    this version knows (``bad_payload`` says why): the worker gives such a row up.
    """

    id: int
    kind: Delivery
    channel: str
    message: OutboxMessage | None
    dedupe_key: str
    attempts: int
    claimed_until: datetime
    incident_id: int | None
    incident_public_id: str | None
    slack_ts: str | None
    thread_ts: str | None
    created_at: datetime | None = None
    incident_began_at: datetime | None = None  # the alert's startsAt (else when heard)
    incident_opened_at: datetime | None = None  # when the bot heard of it
    reclaimed: bool = False
    """True if the row was still SENDING under an expired claim: a worker took it before and
    vanished, possibly after Slack accepted the message."""
    bad_payload: str = ""

    @property
    def may_have_been_sent(self) -> bool:
        """A previous attempt may have reached Slack: a counted failed attempt (a 5xx or a
        timeout can follow a successful post) or an expired claim. The worker then looks
        for the message before posting again."""
        return self.attempts > 0 or self.reclaimed


def add_message(s: Session, message: OutboxMessage, channel: str, dedupe_key: str,
                at: datetime, incident_id: int | None = None,
                due: datetime | None = None) -> Outbox:
    """Queue ``message`` inside the caller's transaction."""
    row = Outbox(incident_id=incident_id, kind=message.delivery, channel=channel,
                 payload=dump(message), dedupe_key=dedupe_key, state=OutboxState.PENDING,
                 attempts=0, next_attempt_at=due or at, created_at=at)
    s.add(row)
    return row


def _parsed(payload: Any) -> tuple[OutboxMessage | None, str]:
    try:
        return load(payload), ""
    except ValidationError as exc:
        return None, f"not a message this version knows: {plural(exc.error_count(), 'problem')}, " \
                     f"first: {exc.errors()[0]['msg']}"


class OutboxStore:
    def __init__(self, db: Database, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        self.db = db
        self.max_attempts = max_attempts

    def enqueue(self, message: OutboxMessage, channel: str, dedupe_key: str, *,
                incident_id: int | None = None, now: datetime | None = None) -> bool:
        """Queue one message on its own. False (and nothing written) if ``dedupe_key``
        exists already."""
        at = as_utc(now) if now is not None else utcnow()
        try:
            with self.db.session() as s:
                if s.scalar(select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)):
                    return False
                add_message(s, message, channel, dedupe_key, at, incident_id)
            return True
        except IntegrityError:  # another replica queued it between our check and insert
            with self.db.session(readonly=True) as s:
                if s.scalar(select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)):
                    return False
            raise

    def claim(self, worker_id: str, limit: int, now: datetime, lease_s: float, *,
              exclude_channels: Collection[str] = ()) -> list[OutboxRow]:
        """Claim up to ``limit`` deliverable rows, oldest first, until ``now + lease_s``.

        Deliverable: PENDING and due, or SENDING with an expired claim (a crashed worker;
        such rows come back with ``reclaimed=True``). An UPDATE of an incident waits for the
        incident's message ts, a THREAD_REPLY for its thread ts. Rows of
        ``exclude_channels`` (channels the worker is pacing) are left alone. A row is never
        handed to two live claims.
        """
        at = as_utc(now)
        until = at + timedelta(seconds=lease_s)
        claimable = or_(
            and_(Outbox.state == OutboxState.PENDING, Outbox.next_attempt_at <= at),
            and_(Outbox.state == OutboxState.SENDING, Outbox.claimed_until <= at),
        )
        has_message = (select(Incident.id)
                       .where(Incident.id == Outbox.incident_id, Incident.slack_ts.is_not(None))
                       .exists())
        has_thread = (select(Incident.id)
                      .where(Incident.id == Outbox.incident_id, Incident.thread_ts.is_not(None))
                      .exists())
        ready = or_(
            Outbox.incident_id.is_(None),
            Outbox.kind == Delivery.POST,
            and_(Outbox.kind == Delivery.UPDATE, has_message),
            and_(Outbox.kind == Delivery.THREAD_REPLY, has_thread),
        )
        conditions = [claimable, ready]
        if exclude_channels:
            conditions.append(Outbox.channel.not_in(list(exclude_channels)))
        with self.db.session() as s:
            found = s.execute(
                select(Outbox.id, Outbox.state).where(*conditions).order_by(Outbox.id)
                .limit(limit).with_for_update(skip_locked=True, of=Outbox)
            ).all()
            if not found:
                return []
            ids = [row_id for row_id, _ in found]
            reclaimed = {row_id for row_id, state in found if state == OutboxState.SENDING}
            s.execute(
                update(Outbox).where(Outbox.id.in_(ids), claimable)
                .values(state=OutboxState.SENDING, claimed_by=worker_id, claimed_until=until)
                .execution_options(synchronize_session=False)
            )
            rows = s.execute(
                select(Outbox, Incident.public_id, Incident.slack_ts, Incident.thread_ts,
                       Incident.started_at, Incident.opened_at)
                .outerjoin(Incident, Incident.id == Outbox.incident_id)
                .where(Outbox.id.in_(ids), Outbox.state == OutboxState.SENDING,
                       Outbox.claimed_by == worker_id)
                .order_by(Outbox.id)
                .execution_options(populate_existing=True)
            ).all()
            out = []
            for o, pid, msg_ts, thr_ts, started, opened in rows:
                message, problem = _parsed(o.payload)
                out.append(OutboxRow(
                    id=o.id, kind=Delivery(o.kind), channel=o.channel, message=message,
                    dedupe_key=o.dedupe_key, attempts=o.attempts, claimed_until=until,
                    incident_id=o.incident_id, incident_public_id=pid, slack_ts=msg_ts,
                    thread_ts=thr_ts, created_at=o.created_at,
                    incident_began_at=started or opened, incident_opened_at=opened,
                    reclaimed=o.id in reclaimed,
                    bad_payload=problem,
                ))
            return out

    def mark_sending(self, outbox_id: int, worker_id: str, now: datetime,
                     lease_s: float) -> datetime | None:
        """Call right before handing a claimed row to Slack: checks that ``worker_id`` still
        holds the claim and extends it to ``now + lease_s`` (returned). None if the claim
        was lost: the caller must not send then. With the send's timeout below ``lease_s``,
        no other worker can take the row while the send is in flight."""
        until = as_utc(now) + timedelta(seconds=lease_s)
        with self.db.session() as s:
            row = s.get(Outbox, outbox_id, with_for_update=True)
            if row is None or row.state != OutboxState.SENDING or row.claimed_by != worker_id:
                return None
            row.claimed_until = until
            return until

    def release(self, outbox_ids: Collection[int], *, worker_id: str,
                next_attempt_at: datetime | None = None, error: str | None = None,
                may_have_been_sent: bool = False) -> int:
        """Give claimed rows back without counting a failed attempt (pacing, a 429): back to
        PENDING, due at ``next_attempt_at`` (unchanged when None). ``may_have_been_sent``
        keeps that knowledge for the next claim (``attempts`` raised to at least 1).
        Rows no longer held by ``worker_id`` are skipped. Returns the number released."""
        if not outbox_ids:
            return 0
        values: dict[str, Any] = {"state": OutboxState.PENDING, "claimed_by": None,
                                  "claimed_until": None}
        if next_attempt_at is not None:
            values["next_attempt_at"] = as_utc(next_attempt_at)
        if error is not None:
            values["last_error"] = error[:_ERROR_MAX]
        if may_have_been_sent:
            values["attempts"] = case((Outbox.attempts < 1, 1), else_=Outbox.attempts)
        with self.db.session() as s:
            result = s.execute(
                update(Outbox)
                .where(Outbox.id.in_(list(outbox_ids)), Outbox.state == OutboxState.SENDING,
                       Outbox.claimed_by == worker_id)
                .values(**values).execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def complete(self, outbox_id: int, slack_ts: str | None, *, worker_id: str | None = None,
                 now: datetime | None = None) -> bool:
        """Mark a row DONE and keep Slack's ``ts``. A POST's ts becomes its incident's
        message (and thread root, unless anchored elsewhere). False if the row is finished
        already, or ``worker_id`` is given and no longer holds the claim."""
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session() as s:
            row = s.get(Outbox, outbox_id, with_for_update=True)
            if row is None or row.state.finished:
                return False
            if worker_id is not None and row.claimed_by != worker_id:
                return False
            row.state = OutboxState.DONE
            row.slack_ts = slack_ts
            row.sent_at = at
            row.claimed_until = None
            row.last_error = None
            if row.kind == Delivery.POST and row.incident_id is not None and slack_ts:
                inc = s.get(Incident, row.incident_id, with_for_update=True)
                if inc is not None:
                    if inc.slack_ts is None:
                        inc.slack_ts = slack_ts
                    if inc.thread_ts is None:
                        inc.thread_ts = slack_ts
            return True

    def retry(self, outbox_id: int, error: str, next_attempt_at: datetime, *,
              worker_id: str | None = None, give_up: bool = False) -> OutboxState:
        """Count a failed attempt: back to PENDING at ``next_attempt_at``, or DEAD once
        ``attempts`` reaches ``max_attempts`` (or ``give_up``, for permanent errors).
        Returns the row's state afterwards (unchanged if not held by ``worker_id``)."""
        with self.db.session() as s:
            row = s.get(Outbox, outbox_id, with_for_update=True)
            if row is None:
                raise LookupError(f"no outbox row {outbox_id}")
            if row.state.finished:
                return row.state
            if worker_id is not None and row.claimed_by != worker_id:
                return row.state
            row.attempts += 1
            row.last_error = error[:_ERROR_MAX]
            row.claimed_by = None
            row.claimed_until = None
            if give_up or row.attempts >= self.max_attempts:
                row.state = OutboxState.DEAD
            else:
                row.state = OutboxState.PENDING
                row.next_attempt_at = as_utc(next_attempt_at)
            return row.state

    def pending_count(self) -> int:
        """Rows not yet delivered (PENDING or SENDING)."""
        with self.db.session(readonly=True) as s:
            n = s.scalar(select(func.count()).select_from(Outbox).where(
                Outbox.state.in_((OutboxState.PENDING, OutboxState.SENDING))))
            return int(n or 0)

    def counts(self) -> dict[OutboxState, int]:
        """Number of rows per state (every state present)."""
        with self.db.session(readonly=True) as s:
            counts = dict.fromkeys(OutboxState, 0)
            for state, n in s.execute(
                    select(Outbox.state, func.count()).group_by(Outbox.state)).all():
                counts[OutboxState(state)] = int(n)
            return counts

    def snapshot(self, now: datetime | None = None) -> tuple[dict[str, int], float]:
        """Rows per state, and the age in seconds of the oldest row not yet delivered (0 when
        every row is): what /metrics shows, in one read transaction."""
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session(readonly=True) as s:
            counts = {state.value: 0 for state in OutboxState}
            for state, n in s.execute(
                    select(Outbox.state, func.count()).group_by(Outbox.state)).all():
                counts[OutboxState(state).value] = int(n)
            oldest = s.scalar(select(func.min(Outbox.created_at)).where(
                Outbox.state.in_((OutboxState.PENDING, OutboxState.SENDING))))
        age = (at - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
        return counts, max(0.0, age)

    def delivered_ts(self, dedupe_key: str) -> tuple[str, str] | None:
        """(channel, ts) of a delivered row, to edit it later; None before delivery."""
        with self.db.session(readonly=True) as s:
            row = s.execute(select(Outbox.channel, Outbox.slack_ts)
                            .where(Outbox.dedupe_key == dedupe_key)).first()
            return (row.channel, row.slack_ts) if row is not None and row.slack_ts else None
