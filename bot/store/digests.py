"""Storm digests: when a channel gets more new incidents than anyone can read one by one,
the rest are counted in one message per channel, edited in place.

* Intake (:class:`~bot.store.digest_router.DigestRouter`, inside the intake
  transaction) decides for each new incident: join the channel's open digest; open one,
  when the incident is past the threshold of the window (its
  :class:`~bot.messages.DigestPost` is queued with it, and the posts of the storm's first
  incidents still waiting in the queue are counted in it instead); or nothing, and the
  incident is posted alone.
* The tick (:class:`DigestStore`) learns the digest's message ts once it is posted, closes
  digests whose channel went quiet, and queues coalesced edits: one
  :class:`~bot.messages.DigestUpdate` per digest and time bucket (the dedupe key), due at
  the bucket's end, so a digest is edited at most once per ``edit_interval``.
* A digested incident's message is the digest (its ``slack_ts``/``thread_ts`` point at it
  once known), so whatever is queued for it later (the card edit after ``/genai ack``, a
  diagnosis) can be claimed; the renderer drops the card edits and the routine notes.

One open digest per channel is a unique index (``open_marker``). On PostgreSQL the intake
transaction locks the open digest's row, so a tick cannot close it under a joining incident.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.messages import DigestUpdate, dump
from bot.store.db import Database
from bot.store.models import Digest, Incident, Outbox
from bot.store.states import Delivery, OutboxState
from bot.times import as_utc

# A closed digest is still edited as its incidents are acknowledged or resolve, this long.
FOLLOW_CLOSED = timedelta(hours=24)
# The runbook notes under new incidents (bot.store.intake's intro keys).
RUNBOOK_NOTES = "incident:%:runbook"
@dataclass(frozen=True)
class DigestPolicy:
    """More than ``threshold`` new incidents in a channel within ``window``: the rest are
    digested. ``threshold`` 0 turns digests off."""

    threshold: int = 10
    window: timedelta = timedelta(seconds=60)
    edit_interval: timedelta = timedelta(seconds=5)
    quiet: timedelta = timedelta(seconds=60)

    @property
    def enabled(self) -> bool:
        return self.threshold > 0


def post_key(digest_id: int) -> str:
    return f"digest:{digest_id}:post"


def edit_key(digest_id: int, bucket: int) -> str:
    return f"digest:{digest_id}:edit:{bucket}"


def alertname_key(alertname: str) -> str:
    """What a digest's buttons carry for an alert name: short and opaque (an alert name has
    no length bound, an option value has 150 characters)."""
    return hashlib.sha256(alertname.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class DigestState:
    """What the tick needs of a followed digest (open, or closed within FOLLOW_CLOSED)."""

    id: int
    public_id: str
    channel: str
    slack_ts: str | None
    is_open: bool
    last_incident_at: datetime
    total: int
    firing: int
    acked: int
    silenced: int
    unlinked: int  # incidents not yet pointing at the digest's message

    @property
    def version(self) -> tuple[int, ...]:
        """Everything the message shows counts of: a change needs an edit."""
        return (int(self.is_open), self.total, self.firing, self.acked, self.silenced)


@dataclass(frozen=True)
class DigestCount:
    """One row of the digest: an alert name at a severity."""

    alertname: str
    severity: str | None
    total: int
    firing: int
    unacked: int  # firing and not acknowledged
    acked: int
    silenced: int  # firing under a silence now


@dataclass(frozen=True)
class DigestEntry:
    public_id: str
    alertname: str
    severity: str | None
    labels: dict[str, Any]
    opened_at: datetime
    firing: bool
    acked: bool


@dataclass(frozen=True)
class DigestSummary:
    """A digest as its message shows it."""

    public_id: str
    channel: str
    is_open: bool
    opened_at: datetime
    last_incident_at: datetime
    closed_at: datetime | None
    counts: list[DigestCount]  # the most incidents first
    newest: list[DigestEntry]

    @property
    def total(self) -> int:
        return sum(c.total for c in self.counts)

    def per_alertname(self) -> dict[str, DigestCount]:
        """The counts summed over severities, by alert name (most incidents first)."""
        out: dict[str, DigestCount] = {}
        for c in self.counts:
            was = out.get(c.alertname)
            out[c.alertname] = c if was is None else DigestCount(
                c.alertname, None, was.total + c.total, was.firing + c.firing,
                was.unacked + c.unacked, was.acked + c.acked, was.silenced + c.silenced)
        return out


class DigestStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ the tick

    def states(self, now: datetime) -> list[DigestState]:
        """Every open digest and those closed within FOLLOW_CLOSED, with their counts."""
        at = as_utc(now)
        silenced = func.sum(case((and_(Incident.open_marker == 1,
                                       Incident.silenced_until > at), 1), else_=0))
        q = (select(Digest.id, Digest.public_id, Digest.channel, Digest.slack_ts,
                    Digest.open_marker, Digest.last_incident_at, func.count(Incident.id),
                    func.count(Incident.open_marker), func.count(Incident.acked_at), silenced,
                    func.count(Incident.id) - func.count(Incident.slack_ts))
             .outerjoin(Incident, Incident.digest_id == Digest.id)
             .where(or_(Digest.open_marker == 1, Digest.closed_at >= at - FOLLOW_CLOSED))
             .group_by(Digest.id, Digest.public_id, Digest.channel, Digest.slack_ts,
                       Digest.open_marker, Digest.last_incident_at)
             .order_by(Digest.id))
        with self.db.session(readonly=True) as s:
            return [DigestState(r[0], r[1], r[2], r[3], r[4] == 1, as_utc(r[5]), int(r[6]),
                                int(r[7]), int(r[8]), int(r[9] or 0), int(r[10]))
                    for r in s.execute(q).all()]

    def learn_ts(self, digest_id: int, now: datetime) -> str | None:
        """Once the digest's post is out: keep its ts, point the digest's incidents at it,
        and let the runbook notes held behind it go. None while it is not posted."""
        at = as_utc(now)
        posted = select(Outbox.slack_ts).where(Outbox.dedupe_key == post_key(digest_id),
                                                Outbox.state == OutboxState.DONE)
        with self.db.session(readonly=True) as s:  # no write transaction until it is out
            ts = s.scalar(posted)
        if not ts:
            return None
        with self.db.session() as s:
            digest = s.get(Digest, digest_id, with_for_update=True)
            if digest is None:
                return None
            if digest.slack_ts is None:
                digest.slack_ts = ts
                s.execute(update(Outbox)
                          .where(Outbox.channel == digest.channel,
                                 Outbox.state == OutboxState.PENDING,
                                 Outbox.kind == Delivery.THREAD_REPLY,
                                 Outbox.dedupe_key.like(RUNBOOK_NOTES),
                                 Outbox.next_attempt_at > at)
                          .values(next_attempt_at=at)
                          .execution_options(synchronize_session=False))
            _link(s, digest_id, digest.slack_ts)
            return digest.slack_ts

    def link(self, digest_id: int, ts: str) -> None:
        """Point incidents that joined before the ts was known at the digest's message."""
        with self.db.session() as s:
            _link(s, digest_id, ts)

    def close(self, digest_id: int, now: datetime, quiet: timedelta) -> bool:
        """Close the digest if its channel has had no new incident for ``quiet`` (checked
        again here: an incident may have joined since it was read)."""
        at = as_utc(now)
        with self.db.session() as s:
            done = s.execute(update(Digest)
                             .where(Digest.id == digest_id, Digest.open_marker == 1,
                                    Digest.last_incident_at <= at - quiet)
                             .values(open_marker=None, closed_at=at)
                             .execution_options(synchronize_session=False))
            return int(getattr(done, "rowcount", 0) or 0) == 1

    def request_edit(self, state: DigestState, now: datetime, interval: timedelta) -> bool:
        """Make sure an edit that renders the digest after ``now`` is queued: the current
        time bucket's, due at the bucket's end (one per bucket whoever asks, this replica or
        another), or the next bucket's when that one is already on its way (it may have
        been rendered before the change). False while the digest's message is not known."""
        if state.slack_ts is None:
            return False
        step = interval.total_seconds()
        first = math.floor(as_utc(now).timestamp() / step)
        insert = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert
        payload = dump(DigestUpdate(digest=state.public_id, ts=state.slack_ts))
        with self.db.session() as s:
            for bucket in (first, first + 1, first + 2):
                key = edit_key(state.id, bucket)
                queued = s.scalar(select(Outbox.state).where(Outbox.dedupe_key == key))
                if queued == OutboxState.PENDING:
                    return True
                if queued is not None:
                    continue
                s.execute(insert(Outbox).values(
                    kind=Delivery.UPDATE, channel=state.channel, dedupe_key=key,
                    payload=payload, state=OutboxState.PENDING, attempts=0,
                    next_attempt_at=datetime.fromtimestamp((bucket + 1) * step, UTC),
                    created_at=as_utc(now),
                ).on_conflict_do_nothing(index_elements=["dedupe_key"]))
                return True
        return False

    # ------------------------------------------------------------------ reads

    def summary(self, public_id: str, now: datetime, newest: int = 5) -> DigestSummary | None:
        """The digest's counts by alert name and severity and its newest incidents."""
        at = as_utc(now)
        firing = Incident.open_marker == 1
        with self.db.session(readonly=True) as s:
            d = s.scalars(select(Digest).where(Digest.public_id == public_id)).first()
            if d is None:
                return None
            rows = s.execute(
                select(Incident.alertname, Incident.severity, func.count(),
                       func.count(Incident.open_marker),
                       func.sum(case((and_(firing, Incident.acked_at.is_(None)), 1), else_=0)),
                       func.count(Incident.acked_at),
                       func.sum(case((and_(firing, Incident.silenced_until > at), 1), else_=0)))
                .where(Incident.digest_id == d.id)
                .group_by(Incident.alertname, Incident.severity)).all()
            latest = s.scalars(select(Incident).where(Incident.digest_id == d.id)
                               .order_by(Incident.id.desc()).limit(newest)).all()
        counts = sorted((DigestCount(r[0], r[1], int(r[2]), int(r[3]), int(r[4] or 0),
                                     int(r[5]), int(r[6] or 0)) for r in rows),
                        key=lambda c: (-c.total, c.alertname, c.severity or ""))
        return DigestSummary(
            d.public_id, d.channel, d.open_marker == 1, as_utc(d.opened_at),
            as_utc(d.last_incident_at), as_utc(d.closed_at) if d.closed_at else None, counts,
            [DigestEntry(i.public_id, i.alertname, i.severity, dict(i.labels or {}),
                         as_utc(i.opened_at), i.open_marker == 1, i.acked_at is not None)
             for i in latest])

    def members(self, public_id: str, key: str) -> tuple[Digest, list[Incident]] | None:
        """The digest and its incidents of the alert name whose :func:`alertname_key` is
        ``key``, oldest first; None if either is unknown."""
        with self.db.session(readonly=True) as s:
            d = s.scalars(select(Digest).where(Digest.public_id == public_id)).first()
            if d is None:
                return None
            names = s.scalars(select(Incident.alertname).where(Incident.digest_id == d.id)
                              .distinct()).all()
            name = next((n for n in names if alertname_key(n) == key), None)
            if name is None:
                return None
            found = s.scalars(select(Incident).where(Incident.digest_id == d.id,
                                                     Incident.alertname == name)
                              .order_by(Incident.id)).all()
            return d, list(found)

    def open_in_channel(self, channel: str, alertname: str) -> list[Incident]:
        """Firing incidents of ``alertname`` in ``channel``, digested or posted (drills
        left out), oldest first."""
        with self.db.session(readonly=True) as s:
            return list(s.scalars(select(Incident).where(
                Incident.channel == channel, Incident.alertname == alertname,
                Incident.open_marker == 1, Incident.drill.is_(False)).order_by(Incident.id)))


def _link(s: Session, digest_id: int, ts: str) -> None:
    for column in (Incident.slack_ts, Incident.thread_ts):
        s.execute(update(Incident).where(Incident.digest_id == digest_id, column.is_(None))
                  .values({column: ts}).execution_options(synchronize_session=False))
