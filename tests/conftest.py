"""Shared fixtures: the stand-ins, real Prometheus fed by the synthetic exporter, a bot, and
the test database (SQLite, and PostgreSQL where the test is marked for both).

The names tests import (`BotFactory`, `WEBHOOK_TOKEN`, `Cluster`) live in
`tests/harness/bots.py`; no test module imports this file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.store import Store
from bot.store.db import Database

if TYPE_CHECKING:
    from bot.server import Bot
    from bot.slack.outbox.worker import OutboxWorker

from tests.harness import fleet
from tests.harness.bots import (
    WEBHOOK_TOKEN,
    BotFactory,
    Cluster,
    bot_settings,
    start_cluster,
    stop_cluster,
)
from tests.harness.exporter import SyntheticExporter
from tests.harness.kube import KubeStandin
from tests.harness.pg import migrated_url
from tests.harness.procs import free_port, require_binary
from tests.harness.slack import SlackStandin

__all__ = ["WEBHOOK_TOKEN", "BotFactory", "Cluster"]  # kept importable here for old callers


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database URL: a SQLite file, or a fresh PostgreSQL schema."""
    with migrated_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def stores(db_url: str) -> Iterator[Callable[[], Store]]:
    """Makes Stores on the test database, each with its own engine and pool (one per
    replica); disposes them afterwards."""
    made: list[Database] = []

    def make() -> Store:
        db = Database(db_url)
        made.append(db)
        return Store(db)

    yield make
    for db in made:
        db.dispose()


@pytest.fixture
def workers() -> Iterator[list[OutboxWorker]]:
    """Outbox workers a test started, stopped at its end."""
    started: list[OutboxWorker] = []
    yield started
    for w in started:
        w.stop()


@pytest.fixture(scope="session")
def clusters() -> Iterator[dict[str, Cluster]]:
    """A healthy and an unhealthy cluster, started in parallel, with rate() warmed up."""
    require_binary("prometheus", "the daily checklist reads real Prometheus")
    out: dict[str, Cluster] = {}
    errors: list[BaseException] = []

    def start(name: str, fill: Callable[[SyntheticExporter, KubeStandin], None]) -> None:
        try:
            cluster = start_cluster(fill)
            out[name] = cluster
            cluster.prometheus.wait_for_scrape()
            cluster.prometheus.wait_for_samples("inference_request_total", count=3)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=start, args=a)
               for a in (("healthy", fleet.healthy), ("unhealthy", fleet.unhealthy))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        if errors:
            raise errors[0]
        yield out
    finally:
        for cluster in out.values():
            stop_cluster(cluster)


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    with SlackStandin() as standin:
        yield standin


@pytest.fixture
def make_bot(slack: SlackStandin) -> Iterator[BotFactory]:
    """Start real bots (Bolt app + uvicorn, in this process) against the stand-ins."""
    from bot.server import Bot  # imported late: the whole app need not load for unit tests

    bots: list[Bot] = []

    def factory(prometheus_url: str, kube_url: str, mode: str = "http", **overrides: Any) -> Bot:
        bot = Bot(bot_settings(slack, prometheus_url, kube_url, mode, **overrides)).start()
        bots.append(bot)
        return bot

    yield factory
    for bot in bots:
        bot.stop()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto in server mode on a free loopback port: boto3 talks real HTTP to it."""
    import os

    from moto.server import ThreadedMotoServer

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "ap-northeast-2"}.items():
        os.environ.setdefault(key, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
