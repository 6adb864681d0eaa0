"""What tests need to start the bot against the stand-ins: the `make_bot` factory's type, the
webhook token the bots are configured with, their settings, and a synthetic `Cluster`.

`tests/conftest.py` builds its fixtures (`clusters`, `slack`, `make_bot`) from these; a test
module imports the names from here, never from conftest.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.config import Settings, load_settings

from .exporter import SyntheticExporter
from .kube import KubeStandin
from .procs import PrometheusProcess, free_port
from .slack import SlackStandin

if TYPE_CHECKING:
    from bot.server import Bot

BotFactory = Callable[..., "Bot"]
"""`make_bot(prometheus_url, kube_url, mode="http", **overrides) -> Bot` (started)."""

WEBHOOK_TOKEN = "test-webhook-token"
"""The Bearer token every test bot expects on its Alertmanager webhook."""


@dataclass
class Cluster:
    """One synthetic cluster: its exporter, the Prometheus scraping it, its API stand-in."""

    exporter: SyntheticExporter
    prometheus: PrometheusProcess
    kube: KubeStandin

    @property
    def prometheus_url(self) -> str:
        return self.prometheus.url


def start_cluster(fill: Callable[[SyntheticExporter, KubeStandin], None]) -> Cluster:
    exporter = SyntheticExporter().start()
    kube = KubeStandin().start()
    fill(exporter, kube)
    prom = PrometheusProcess([exporter.target]).start()
    return Cluster(exporter, prom, kube)


def stop_cluster(cluster: Cluster) -> None:
    cluster.prometheus.stop()
    cluster.exporter.stop()
    cluster.kube.stop()


def http_bot_env(slack: SlackStandin, port: int) -> dict[str, str]:
    """The environment of a bot process in HTTP mode on the stand-in, listening on ``port``:
    for tests and benchmarks that run the real process (they add their own settings)."""
    return {"GENAI_SLACK__MODE": "http", "GENAI_SLACK__BOT_TOKEN": slack.bot_token,
            "GENAI_SLACK__SIGNING_SECRET": slack.signing_secret,
            "GENAI_SLACK__API_BASE_URL": slack.api_url,
            "GENAI_HTTP__HOST": "127.0.0.1", "GENAI_HTTP__PORT": str(port)}


def bot_settings(slack: SlackStandin, prometheus_url: str, kube_url: str, mode: str = "http",
                 /, **overrides: Any) -> Settings:
    """Settings for a bot on the stand-ins; ``overrides`` merge into each section (so
    ``slack={"socket_liveness_s": 2}`` keeps the stand-in's tokens)."""
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
