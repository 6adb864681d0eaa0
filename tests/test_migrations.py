"""Upgrades: replicas that start together run each migration once (a PostgreSQL advisory
lock; SQLite's write lock), on an empty database and on one at the previous schema; and
`genai-bot migrate` runs them as a Job would."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import Database
from tests.harness.pg import head_revision, pg_schema, require_pg

ROOT = Path(__file__).resolve().parent.parent
HEAD = head_revision()


class Upgrades(logging.Handler):
    """Alembic's "Running upgrade A -> B" lines, from every thread."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Running upgrade"):
            with self._lock:
                self.steps.append(message.split(",", 1)[0].removeprefix("Running upgrade "))


@pytest.fixture
def upgrades() -> Iterator[Upgrades]:
    handler = Upgrades()
    logger = logging.getLogger("alembic.runtime.migration")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def replicas_start(url: str, n: int = 2) -> list[str | None]:
    """``n`` replicas migrate at the same moment; each one's revision afterwards."""
    barrier = threading.Barrier(n)
    revisions: list[str | None] = [None] * n
    errors: list[BaseException] = []

    def start(i: int) -> None:
        database = Database(url)
        try:
            barrier.wait(10)
            database.migrate()
            revisions[i] = database.current_revision()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            database.dispose()

    threads = [threading.Thread(target=start, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    return revisions


@pytest.mark.integration
@pytest.mark.parametrize("start_at", [None, "0003"])
def test_two_replicas_on_postgresql_run_each_migration_once(upgrades: Upgrades,
                                                            start_at: str | None) -> None:
    require_pg()
    with pg_schema("mig") as url:
        if start_at is not None:  # the schema the previous release left
            old = Database(url)
            old.migrate(start_at)
            old.dispose()
            upgrades.steps.clear()
        assert replicas_start(url, 3) == [HEAD] * 3
    chain = [" -> 0001", "0001 -> 0002", "0002 -> 0003", "0003 -> 0004"]
    expected = chain[-1:] if start_at else chain
    assert [s.strip() for s in upgrades.steps] == [e.strip() for e in expected]


def test_two_replicas_on_sqlite_run_each_migration_once(upgrades: Upgrades,
                                                        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    assert replicas_start(url) == [HEAD, HEAD]
    assert len(upgrades.steps) == 4 and len(set(upgrades.steps)) == 4


def test_genai_bot_migrate_as_a_job(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENAI_")}
    env.update(PYTHONPATH=str(ROOT), GENAI_DATABASE_URL=f"sqlite:///{tmp_path / 'job.db'}",
               GENAI_LOG_FORMAT="json")
    cmd = [sys.executable, "-m", "bot.cli", "migrate"]
    first = subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert f"database at revision {HEAD} (head)" in first.stdout
    again = subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=60)
    assert again.returncode == 0 and "Running upgrade" not in again.stderr
    env["GENAI_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    down = subprocess.run(cmd, env=env, text=True, capture_output=True, timeout=60)
    assert down.returncode == 2 and "Traceback" not in down.stderr
    assert "cannot open the database" in down.stderr
