"""The real PostgreSQL the suite runs against (127.0.0.1:5432, trust auth, database `test`):
one reachability check per session, and a fresh schema per test so tests never see each
other's rows and leave nothing behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from bot.store import Database
from tests.harness.procs import unavailable

PG_URL = os.environ.get("GENAI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_state: dict[str, str | None] = {}


def pg_unreachable() -> str | None:
    """None if PostgreSQL answers, else the reason (checked once per session)."""
    if "reason" not in _state:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            _state["reason"] = None
        except OperationalError as exc:
            _state["reason"] = f"PostgreSQL at {PG_URL} unreachable: {exc.orig}"
        finally:
            engine.dispose()
    return _state["reason"]


def require_pg() -> None:
    """Skip the test without PostgreSQL; fail it under GENAI_REQUIRE_INTEGRATION=1."""
    reason = pg_unreachable()
    if reason is not None:
        unavailable(reason)


@contextmanager
def pg_schema(prefix: str = "t") -> Iterator[str]:
    """A URL whose connections work in a new, empty schema; the schema is dropped after."""
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def migrated_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database for a `sqlite` / `postgresql` test parameter: a SQLite file in
    `tmp_path`, or a fresh PostgreSQL schema (skipped, or failed in CI, when unreachable)."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        _migrate(url)
        yield url
        return
    require_pg()
    with pg_schema() as url:
        _migrate(url)
        yield url


def _migrate(url: str) -> None:
    database = Database(url)
    try:
        database.migrate()
    finally:
        database.dispose()


def head_revision() -> str:
    """The newest migration's revision id (what a migrated database reports)."""
    from alembic.script import ScriptDirectory

    from bot.store import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head
