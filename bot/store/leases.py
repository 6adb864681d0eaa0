"""What replicas agree on: leases, once-only scheduled runs, the Slack event ids already
handled, and the senders learned as Alertmanager. Each rests on a primary key and
``INSERT … ON CONFLICT``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.store.db import Database
from bot.store.models import ChannelSender, Lease, SchedulerRun, SlackEvent
from bot.times import as_utc, utcnow


def insert_ignore(db: Database, s: Session, model: type[Any], values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True if the row was inserted."""
    dialect: Any = postgresql if db.dialect == "postgresql" else sqlite
    stmt = dialect.insert(model).values(**values).on_conflict_do_nothing()
    return s.execute(stmt.returning(*model.__table__.primary_key.columns)).first() is not None


class LeaseStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def try_lease(self, name: str, holder: str, ttl_s: float, now: datetime) -> bool:
        """Take or renew lease ``name`` until ``now + ttl_s``. True if ``holder`` has it:
        it was free, expired, or already ours."""
        at = as_utc(now)
        values = {"name": name, "holder": holder, "expires_at": at + timedelta(seconds=ttl_s)}
        table = Lease.__table__
        dialect: Any = postgresql if self.db.dialect == "postgresql" else sqlite
        stmt = dialect.insert(Lease).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.name],
            set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
            where=(table.c.holder == holder) | (table.c.expires_at <= at),
        ).returning(table.c.name)
        with self.db.session() as s:
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

    def claim_scheduled_run(self, job: str, scheduled_for: datetime, holder: str, *,
                            now: datetime | None = None) -> bool:
        """True for exactly one caller per (job, scheduled_for), across replicas."""
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session() as s:
            return insert_ignore(self.db, s, SchedulerRun, {
                "job": job, "scheduled_for": as_utc(scheduled_for), "claimed_by": holder,
                "claimed_at": at})

    def seen_slack_event(self, event_id: str, *, now: datetime | None = None) -> bool:
        """Remember a Slack ``event_id``; True if it had been seen already (a retry)."""
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session() as s:
            return not insert_ignore(self.db, s, SlackEvent,
                                     {"event_id": event_id, "received_at": at})

    def prune_slack_events(self, older_than: datetime) -> int:
        """Forget event ids received before ``older_than``; returns how many."""
        stmt = (delete(SlackEvent).where(SlackEvent.received_at < as_utc(older_than))
                .returning(SlackEvent.event_id))
        with self.db.session() as s:
            return len(s.execute(stmt).all())

    def learned_senders(self) -> set[str]:
        with self.db.session(readonly=True) as s:
            return set(s.scalars(select(ChannelSender.sender_id)))

    def learn_sender(self, sender_ids: set[str], channel: str, *,
                     now: datetime | None = None) -> bool:
        """Trust ``sender_ids`` as Alertmanager, but only if no sender is known yet (checked
        in the same transaction). True if they were learned now."""
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session() as s:
            if s.scalar(select(ChannelSender.sender_id).limit(1)) is not None:
                return False
            for sender in sorted(sender_ids):
                insert_ignore(self.db, s, ChannelSender,
                              {"sender_id": sender, "channel": channel, "learned_at": at})
            return True
