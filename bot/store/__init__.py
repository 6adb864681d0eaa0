"""Durable store: incidents, alert events, the audit log, the Slack outbox, drills, Slack event
dedupe, scheduler runs and leases. SQLite by default, PostgreSQL for several replicas."""

from bot.store.db import Database, alembic_config
from bot.store.models import (
    Action,
    AlertEvent,
    Base,
    Drill,
    DrillEvent,
    Incident,
    Lease,
    Outbox,
    SchedulerRun,
    SlackEvent,
    UTCDateTime,
    utcnow,
)
from bot.store.repo import (
    FatigueRow,
    IntakeItem,
    IntakeResult,
    NotFound,
    OutboxPayloadBuilder,
    OutboxRow,
    Store,
    group_hash,
    new_public_id,
    notification_hash,
)

__all__ = [
    "Action",
    "AlertEvent",
    "Base",
    "Database",
    "Drill",
    "DrillEvent",
    "FatigueRow",
    "Incident",
    "IntakeItem",
    "IntakeResult",
    "Lease",
    "NotFound",
    "Outbox",
    "OutboxPayloadBuilder",
    "OutboxRow",
    "SchedulerRun",
    "SlackEvent",
    "Store",
    "UTCDateTime",
    "alembic_config",
    "group_hash",
    "new_public_id",
    "notification_hash",
    "open_store",
    "utcnow",
]


def open_store(url: str, *, migrate: bool = True) -> Store:
    """A :class:`Store` on ``url``, migrated to head unless ``migrate=False``.

    ``sqlite://`` (in memory) shares one connection: fine for single-threaded tests only;
    use a file for anything concurrent.
    """
    db = Database(url)
    if migrate:
        db.migrate()
    return Store(db)
