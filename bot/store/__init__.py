"""Durable store, one module per aggregate behind a thin facade.

- :mod:`~bot.store.intake`: notifications into incidents (the group-commit path);
- :mod:`~bot.store.incidents`: what people do to incidents, and the audit log;
- :mod:`~bot.store.escalations`: escalation steps, each fired once;
- :mod:`~bot.store.digests`: storm digests, one message counting a channel's storm;
- :mod:`~bot.store.outbox`: typed messages on their way to Slack;
- :mod:`~bot.store.pace`: when each channel may take its next message, for every replica;
- :mod:`~bot.store.fatigue`: alert-fatigue figures;
- :mod:`~bot.store.leases`: leases, once-only runs, handled Slack events.

SQLite by default, PostgreSQL for several replicas; every public method is one transaction.
"""

from sqlalchemy.exc import SQLAlchemyError

from bot.errors import StartupError
from bot.store.db import Database, alembic_config, error_reason
from bot.store.digests import DigestStore
from bot.store.escalations import EscalationStore
from bot.store.fatigue import FatigueRow, FatigueStore
from bot.store.incidents import Changed, IncidentStore, NotFound
from bot.store.intake import IntakeItem, IntakeResult, IntakeStore
from bot.store.keys import group_hash, new_public_id, notification_hash
from bot.store.leases import LeaseStore
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
)
from bot.store.outbox import DEFAULT_MAX_ATTEMPTS, OutboxRow, OutboxStore
from bot.store.pace import PaceStore
from bot.store.tune_signals import TuneSignalStore
from bot.times import utcnow

__all__ = [
    "Action",
    "AlertEvent",
    "Base",
    "Changed",
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
    "OutboxRow",
    "SchedulerRun",
    "SlackEvent",
    "Store",
    "alembic_config",
    "group_hash",
    "new_public_id",
    "notification_hash",
    "open_store",
    "utcnow",
]


class Store:
    """The aggregates over one database. Thread-safe; share one per process."""

    def __init__(self, db: Database, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> None:
        self.db = db
        self.intake = IntakeStore(db)
        self.incidents = IncidentStore(db)
        self.escalations = EscalationStore(db)
        self.digests = DigestStore(db)
        self.outbox = OutboxStore(db, max_attempts)
        self.pace = PaceStore(db)
        self.fatigue = FatigueStore(db)
        self.tune_signals = TuneSignalStore(db)
        self.leases = LeaseStore(db)


def open_store(url: str, *, migrate: bool = True) -> Store:
    """A :class:`Store` on ``url``, migrated to head unless ``migrate=False``. A database
    that cannot be reached or migrated is a :class:`~bot.errors.StartupError` (one line,
    no password).

    ``sqlite://`` (in memory) shares one connection: fine for single-threaded tests only;
    use a file for anything concurrent.
    """
    db = Database(url)
    if migrate:
        try:
            db.migrate()
        except SQLAlchemyError as exc:
            db.dispose()
            where = db.url.render_as_string(hide_password=True)
            raise StartupError(f"cannot open the database {where}: {error_reason(exc)}"
                               ) from None
    return Store(db)
