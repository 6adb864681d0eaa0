"""Shared fixtures: the stand-ins, real Prometheus fed by the synthetic exporter, and a bot."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bot.server import Bot

from bot.config import Settings, load_settings
from tests.harness import fleet
from tests.harness.exporter import SyntheticExporter
from tests.harness.kube import KubeStandin
from tests.harness.procs import PrometheusProcess, free_port, require_binary
from tests.harness.slack import SlackStandin


@dataclass
class Cluster:
    """One synthetic cluster: its exporter, the Prometheus scraping it, its API stand-in."""

    exporter: SyntheticExporter
    prometheus: PrometheusProcess
    kube: KubeStandin

    @property
    def prometheus_url(self) -> str:
        return self.prometheus.url


def _start_cluster(fill: Callable[[SyntheticExporter, KubeStandin], None]) -> Cluster:
    exporter = SyntheticExporter().start()
    kube = KubeStandin().start()
    fill(exporter, kube)
    prom = PrometheusProcess([exporter.target]).start()
    return Cluster(exporter, prom, kube)


def _stop_cluster(cluster: Cluster) -> None:
    cluster.prometheus.stop()
    cluster.exporter.stop()
    cluster.kube.stop()


@pytest.fixture(scope="session")
def clusters() -> Iterator[dict[str, Cluster]]:
    """A healthy and an unhealthy cluster, started in parallel, with rate() warmed up."""
    require_binary("prometheus", "the daily checklist reads real Prometheus")
    out: dict[str, Cluster] = {}
    errors: list[BaseException] = []

    def start(name: str, fill: Callable[[SyntheticExporter, KubeStandin], None]) -> None:
        try:
            cluster = _start_cluster(fill)
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
            _stop_cluster(cluster)


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    with SlackStandin() as standin:
        yield standin


BotFactory = Callable[..., "Bot"]
WEBHOOK_TOKEN = "test-webhook-token"


def bot_settings(slack: SlackStandin, prometheus_url: str, kube_url: str, mode: str = "http",
                 **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "slack": {"bot_token": slack.bot_token, "app_token": slack.app_token,
                  "signing_secret": slack.signing_secret, "mode": mode,
                  "api_base_url": slack.api_url},
        "http": {"host": "127.0.0.1", "port": free_port()},
        "prometheus": {"url": prometheus_url, "timeout_s": 5},
        "kubernetes": {"mode": "url", "url": kube_url, "timeout_s": 5},
        "log_format": "json",
        "webhook_token": WEBHOOK_TOKEN,
        "database_url": f"sqlite:///{tempfile.mkdtemp(prefix='genai-test-')}/bot.db",
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return load_settings(**base)


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
