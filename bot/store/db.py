"""Engine, sessions and migrations.

SQLite (the default) runs in WAL mode with ``synchronous=NORMAL``, a 5 s busy timeout and
foreign keys on. SQLAlchemy, not the sqlite3 module, emits BEGIN: write sessions use
``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of failing
with "database is locked" when a read lock cannot be upgraded; read-only sessions use a plain
deferred ``BEGIN``.

PostgreSQL is for several replicas; concurrency there rests on unique constraints and
``SELECT ... FOR UPDATE SKIP LOCKED`` (see :mod:`bot.store.repo`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Any constant: serializes `migrate()` across replicas on PostgreSQL.
_MIGRATION_LOCK_ID = 0x6E41_0B07

_READONLY = "genai_readonly"


def error_reason(exc: SQLAlchemyError) -> str:
    """The driver's own one-line reason ("no such table: actions", "connection refused"),
    without SQLAlchemy's statement, parameters and background link."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic Config without an ini file, pointing at ``bot/migrations``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class Database:
    """One engine plus session factories. Thread-safe; make one per process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        parsed = make_url(url)
        self.url = parsed
        kwargs: dict[str, Any] = {"echo": echo}
        if parsed.get_backend_name() == "sqlite":
            connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": 5.0}
            kwargs["connect_args"] = connect_args
            if parsed.database in (None, "", ":memory:"):
                # One shared connection, or every connection would see its own empty DB.
                kwargs["poolclass"] = StaticPool
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(parsed, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._readonly_engine = self.engine.execution_options(**{_READONLY: True})
        self._readonly_sessions = sessionmaker(
            bind=self._readonly_engine, expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session in one transaction: commit on success, rollback on any error.

        Objects stay readable after the block (``expire_on_commit=False``).
        """
        factory = self._readonly_sessions if readonly else self._sessions
        with factory() as session:
            try:
                yield session
                if not readonly:
                    session.commit()
                # A read-only transaction simply ends when the session closes; an explicit
                # rollback() would expire the loaded objects.
            except BaseException:
                session.rollback()
                raise

    def migrate(self, revision: str = "head") -> None:
        """Run ``alembic upgrade <revision>`` in one transaction (serialized across replicas)."""
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
            command.upgrade(alembic_config(conn), revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self._readonly_engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def ping(self) -> bool:
        """True if a trivial query succeeds."""
        try:
            with self._readonly_engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    assert isinstance(dbapi_connection, sqlite3.Connection)
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    try:
        cur.execute("PRAGMA busy_timeout=5000")
        _wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.execute("PRAGMA foreign_keys=ON")
    finally:
        cur.close()


def _wal(cur: sqlite3.Cursor, attempts: int = 50) -> None:
    """Switch a new database file to WAL (the mode persists in the file). The switch needs
    the file to itself, and SQLite answers "database is locked" at once rather than waiting
    when another connection is busy in it: two replicas starting on a new file. Retry."""
    for attempt in range(attempts):
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY,
                                                               sqlite3.SQLITE_LOCKED)
            if not busy or attempt == attempts - 1:
                raise
            time.sleep(0.1)


def _sqlite_on_begin(conn: Connection) -> None:
    if conn.get_execution_options().get(_READONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
