"""The intake's side of storm digests: for each new incident, inside the intake
transaction, join the channel's open digest, open one (past the threshold of the window),
or neither (post it alone). See :mod:`bot.store.digests` for the whole design.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from bot.messages import DigestPost
from bot.store.digests import RUNBOOK_NOTES, DigestPolicy, post_key
from bot.store.keys import new_public_id
from bot.store.models import Digest, Incident, Outbox
from bot.store.outbox import add_message
from bot.store.states import Delivery, OutboxState

# The posts of new incidents (bot.store.intake's post keys).
_POSTS = "incident:%:post"
_ABSORBED = "not sent: counted in the storm digest instead"


@dataclass(frozen=True)
class Joined:
    """The digest a new incident is counted in; ``slack_ts`` once its message exists."""

    id: int
    slack_ts: str | None


@dataclass(frozen=True)
class _Statements:
    open_digest: Any
    recent: Any
    insert_digest: Any
    touch: Any
    defer_runbooks: Any
    absorb_posts: Any
    absorb_incidents: Any
    absorb_runbooks: Any


@functools.cache
def _statements() -> _Statements:
    """Prebuilt once, as the intake's own (building a statement costs more than running
    it)."""
    d, inc, out = (cast(Table, m.__table__) for m in (Digest, Incident, Outbox))
    recent = (select(inc.c.id)
              .where(inc.c.channel == bindparam("channel"),
                     inc.c.opened_at >= bindparam("since"), inc.c.drill.is_(False))
              .limit(bindparam("k")).subquery())
    return _Statements(
        open_digest=select(d.c.id, d.c.slack_ts)
        .where(d.c.channel == bindparam("channel"), d.c.open_marker == 1).with_for_update(),
        recent=select(func.count()).select_from(recent),
        insert_digest=d.insert().returning(d.c.id),
        touch=update(d).where(d.c.id == bindparam("digest"), d.c.last_incident_at < bindparam("at"))
        .values(last_incident_at=bindparam("at")),
        defer_runbooks=update(out)
        .where(out.c.channel == bindparam("in_channel"), out.c.state == OutboxState.PENDING,
               out.c.kind == Delivery.THREAD_REPLY, out.c.dedupe_key.like(RUNBOOK_NOTES),
               out.c.next_attempt_at < bindparam("until"))
        .values(next_attempt_at=bindparam("until")),
        # A post still waiting for its turn when the digest opens is not sent: its incident
        # joins the digest. Only rows still pending: one a worker claimed meanwhile goes out.
        absorb_posts=update(out)
        .where(out.c.channel == bindparam("in_channel"), out.c.state == OutboxState.PENDING,
               out.c.dedupe_key.like(_POSTS),
               out.c.incident_id.in_(select(inc.c.id).where(
                   inc.c.channel == bindparam("in_channel"), inc.c.drill.is_(False),
                   inc.c.digest_id.is_(None))))
        .values(state=OutboxState.DONE, last_error=_ABSORBED).returning(out.c.incident_id),
        absorb_incidents=update(inc).where(inc.c.id.in_(bindparam("ids", expanding=True)))
        .values(digest_id=bindparam("digest")),
        absorb_runbooks=update(out)
        .where(out.c.incident_id.in_(bindparam("ids", expanding=True)),
               out.c.state == OutboxState.PENDING, out.c.dedupe_key.like(RUNBOOK_NOTES))
        .values(state=OutboxState.DONE, last_error=_ABSORBED),
    )


class DigestRouter:
    """The digest decisions of one intake transaction. The open digest of a channel is
    looked up once per transaction; its ``last_incident_at`` is written once, at
    :meth:`finish`."""

    def __init__(self, s: Session, policy: DigestPolicy, now: datetime) -> None:
        self.s = s
        self.policy = policy
        self.now = now
        self._open: dict[str, Joined] = {}
        self._touched: set[int] = set()

    def join(self, channel: str) -> Joined | None:
        """The digest a new incident of ``channel`` is counted in (opened now if it is the
        first past the threshold), or None: post it alone."""
        found = self._open.get(channel) or self._lookup(channel)
        if found is not None:
            self._open[channel] = found
            self._touched.add(found.id)
        return found

    def _lookup(self, channel: str) -> Joined | None:
        stmt = _statements()
        row = self.s.execute(stmt.open_digest, {"channel": channel}).first()
        if row is not None:
            return Joined(row.id, row.slack_ts)
        # LIMIT k: a count past the threshold changes nothing, so it stops there.
        recent = self.s.execute(stmt.recent, {"channel": channel, "k": self.policy.threshold,
                                              "since": self.now - self.policy.window})
        if recent.scalar_one() < self.policy.threshold:
            return None
        public_id = new_public_id()
        digest_id = self.s.execute(stmt.insert_digest, {
            "public_id": public_id, "channel": channel, "open_marker": 1,
            "opened_at": self.now, "last_incident_at": self.now}).scalar_one()
        add_message(self.s, DigestPost(digest=public_id), channel, post_key(digest_id),
                    self.now)
        self._absorb(channel, digest_id)
        # The storm's first single posts are ahead of the digest in the channel's queue,
        # each with its runbook reply: the runbooks wait until the digest is out (the tick
        # brings them forward then; the window is only the bound).
        self.s.execute(stmt.defer_runbooks,
                       {"in_channel": channel, "until": self.now + self.policy.window})
        return Joined(digest_id, None)

    def _absorb(self, channel: str, digest_id: int) -> None:
        """The storm's first incidents whose posts have not gone out yet are counted in the
        digest instead: in a burst that is nearly all of them, and the channel gets one
        message where it would have had ``threshold`` cards and their runbooks."""
        stmt = _statements()
        ids = list(self.s.execute(stmt.absorb_posts, {"in_channel": channel}).scalars())
        if ids:
            self.s.execute(stmt.absorb_incidents, {"ids": ids, "digest": digest_id})
            self.s.execute(stmt.absorb_runbooks, {"ids": ids})

    def finish(self) -> None:
        for digest_id in self._touched:
            self.s.execute(_statements().touch, {"digest": digest_id, "at": self.now})
