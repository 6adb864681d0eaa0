"""The channel pace: when each Slack channel may take its next write, shared by every replica.

Slack takes about one message a second per channel, whichever replica sends it, so the pace
lives in the database (``channel_pace``) rather than in each process. A writer first
*reserves* the channel (:meth:`PaceStore.reserve`): one upsert that succeeds only when the
channel's ``next_at`` has passed, and then holds the channel for the whole send. When the
send is over the writer *settles* it (:meth:`PaceStore.settle`): the channel frees
``interval`` after the send ended (or after a 429's Retry-After). Another replica's post
therefore reaches Slack at least ``interval`` after this one was answered, however long the
request took; a writer that dies mid-send holds the channel only until its reservation runs
out.

Times are the database's own clock on PostgreSQL (``statement_timestamp()``), so replicas on
hosts whose clocks disagree still share one pace; SQLite is one host, whose clock it uses.
On PostgreSQL the pace's commits do not wait for the WAL flush: they are visible to the other
replicas at once all the same, and a database crash could only forget the last second's
holds, i.e. let one message through early, never lose or double one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Interval,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.store.db import Database
from bot.store.models import ChannelPace, UTCDateTime
from bot.times import as_utc, utcnow


@dataclass(frozen=True)
class Reservation:
    """The answer to :meth:`PaceStore.reserve`. ``until`` is the channel's ``next_at`` as
    written by the reservation when ``taken`` (the token :meth:`PaceStore.settle` needs),
    else as another writer left it; ``wait_s`` is how long until then (0 when taken)."""

    channel: str
    taken: bool
    until: datetime
    wait_s: float


class _Clock:
    """``now`` and ``now + s`` as SQL: the database's statement time on PostgreSQL (one value
    for the whole statement), this host's time bound as a parameter on SQLite."""

    def __init__(self, postgresql: bool) -> None:
        self.postgresql = postgresql
        self.wall = utcnow()

    def at(self, seconds: float = 0.0) -> ColumnElement[datetime]:
        if self.postgresql:
            now: ColumnElement[datetime] = func.statement_timestamp(type_=DateTime(timezone=True))
            return now + literal(timedelta(seconds=seconds), Interval()) if seconds else now
        return literal(self.wall + timedelta(seconds=seconds), UTCDateTime())

    def now(self, returned: Any) -> datetime:
        """The statement's ``now``: as the database returned it on PostgreSQL."""
        return as_utc(returned) if self.postgresql and returned is not None else self.wall


class PaceStore:
    """Reservations of channel slots. Every method is one short transaction; none waits for
    a channel to free."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._postgresql = db.dialect == "postgresql"

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self.db.session() as s:
            if self._postgresql:  # see the module's docstring
                s.execute(text("SET LOCAL synchronous_commit = off"))
            yield s

    def _insert(self) -> Any:
        return (pg_insert if self._postgresql else sqlite_insert)(ChannelPace)

    def reserve(self, channel: str, hold_s: float) -> Reservation:
        """Take the channel if its ``next_at`` has passed, and hold it for ``hold_s`` (long
        enough for a send to end: it is shortened by :meth:`settle`). Not taken: nothing is
        written, and the answer says until when another writer holds it."""
        clock = _Clock(self._postgresql)
        stmt = self._insert().values(channel=channel, next_at=clock.at(hold_s))
        stmt = stmt.on_conflict_do_update(
            index_elements=[ChannelPace.channel], set_={"next_at": stmt.excluded.next_at},
            where=ChannelPace.next_at <= clock.at(),
        ).returning(ChannelPace.next_at, clock.at())
        with self._session() as s:
            won = s.execute(stmt).first()
            if won is not None:
                return Reservation(channel, True, as_utc(won[0]), 0.0)
            return self._busy(s, channel, clock)

    def _busy(self, s: Session, channel: str, clock: _Clock) -> Reservation:
        held = s.execute(select(ChannelPace.next_at, clock.at())
                         .where(ChannelPace.channel == channel)).one()
        until, now = as_utc(held[0]), clock.now(held[1])
        return Reservation(channel, False, until, max(0.0, (until - now).total_seconds()))

    def settle(self, channel: str, after_s: float,
               reserved: datetime | None = None) -> datetime | None:
        """The channel frees ``after_s`` from now. With ``reserved`` (a taken reservation's
        ``until``) that replaces the reservation, shorter or longer; otherwise, or when the
        reservation is no longer there (it ran out and someone else took the channel), the
        channel is only ever held longer, never freed earlier: a 429's Retry-After seen by
        one replica holds the channel for all. Returns the new ``next_at``, or None when a
        longer hold stands."""
        clock = _Clock(self._postgresql)
        stmt = self._insert().values(channel=channel, next_at=clock.at(after_s))
        extend = ChannelPace.next_at < stmt.excluded.next_at
        if reserved is not None:
            extend = or_(ChannelPace.next_at == as_utc(reserved), extend)
        stmt = stmt.on_conflict_do_update(
            index_elements=[ChannelPace.channel], set_={"next_at": stmt.excluded.next_at},
            where=extend,
        ).returning(ChannelPace.next_at)
        with self._session() as s:
            until = s.scalar(stmt)
            return as_utc(until) if until is not None else None

    def held(self) -> dict[str, float]:
        """Channels held right now, each with the seconds until it frees."""
        clock = _Clock(self._postgresql)
        with self.db.session(readonly=True) as s:
            found = s.execute(select(ChannelPace.channel, ChannelPace.next_at, clock.at())
                              .where(ChannelPace.next_at > clock.at())).all()
        return {ch: (as_utc(until) - clock.now(now)).total_seconds()
                for ch, until, now in found}

