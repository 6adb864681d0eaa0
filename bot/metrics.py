"""The bot's own Prometheus metrics, served at /metrics: the whole alert path (webhook, outbox,
Slack calls, alert-to-post latency), the commands and the job pool, and the process.

Names follow Prometheus conventions (``genai_bot_…``, ``_total``, ``_seconds``). Counters
whose label values are known up front start at 0, so ``increase()`` sees their first event.
The shipped alert rules (manifests/prometheus-rules.yaml) read several of these by name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

COMMANDS = Counter(
    "genai_bot_commands_total",
    "Slash commands handled, by subcommand and outcome.",
    ["command", "outcome"],
    registry=REGISTRY,
)
COMMAND_SECONDS = Histogram(
    "genai_bot_command_duration_seconds",
    "Time from ack to the report delivered, by subcommand.",
    ["command"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 30, 60),
    registry=REGISTRY,
)
ACK_SECONDS = Histogram(
    "genai_bot_ack_seconds",
    "Time from the request reaching the listener to ack().",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3),
    registry=REGISTRY,
)
JOBS_QUEUED = Gauge(
    "genai_bot_jobs_in_flight", "Commands and clicks accepted and not yet finished.",
    registry=REGISTRY,
)
JOB_QUEUE_DEPTH = Gauge(
    "genai_bot_job_queue_depth", "Jobs waiting for a free worker of the job pool.",
    registry=REGISTRY,
)

WEBHOOK_OUTCOMES = ("stored", "duplicate", "400", "401", "413", "503")
WEBHOOK_REQUESTS = Counter(
    "genai_bot_webhook_requests_total",
    "Alertmanager webhook requests, by outcome: stored, duplicate, or the HTTP status refused.",
    ["outcome"],
    registry=REGISTRY,
)
for _outcome in WEBHOOK_OUTCOMES:
    WEBHOOK_REQUESTS.labels(outcome=_outcome)

SLACK_CALLS = Counter(
    "genai_bot_slack_api_calls_total",
    "Slack Web API calls, by method and outcome: ok, ratelimited, connection_error, or "
    "Slack's error code.",
    ["method", "outcome"],
    registry=REGISTRY,
)
for _method in ("chat.postMessage", "chat.update", "conversations.history",
                "conversations.replies"):
    for _result in ("ok", "ratelimited", "connection_error"):
        SLACK_CALLS.labels(method=_method, outcome=_result)

_LATENCY_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
ALERT_TO_POST = Histogram(
    "genai_bot_alert_to_post_seconds",
    "From an alert's startsAt to its card posted in Slack.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
NOTIFICATION_TO_POST = Histogram(
    "genai_bot_notification_to_post_seconds",
    "From Alertmanager's notification reaching the bot to the card posted in Slack.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)

OutboxSnapshot = Callable[[], tuple[dict[str, int], float]]
"""Rows per state and the age in seconds of the oldest pending row (0 when none)."""


class OutboxCollector(Collector):
    """Outbox rows by state and the age of the oldest pending row, read from the database
    at scrape time (shared by every replica, so each reports the same). Registered once; the
    running bot says where to read them (:meth:`watch`)."""

    def __init__(self) -> None:
        self._snapshot: OutboxSnapshot | None = None
        self._lock = threading.Lock()

    def watch(self, snapshot: OutboxSnapshot | None) -> None:
        with self._lock:
            self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            snapshot = self._snapshot
        if snapshot is None:
            return
        try:
            counts, oldest = snapshot()
        except Exception:  # a scrape must not fail because the database blinked
            return
        rows = GaugeMetricFamily("genai_bot_outbox_rows", "Outbox rows by state.",
                                 labels=["state"])
        for state, n in sorted(counts.items()):
            rows.add_metric([state], n)
        yield rows
        yield GaugeMetricFamily("genai_bot_outbox_oldest_pending_age_seconds",
                                "Age of the oldest outbox row not yet delivered (0: none).",
                                value=oldest)


OUTBOX = OutboxCollector()
REGISTRY.register(OUTBOX)
