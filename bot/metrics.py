"""The bot's own Prometheus metrics, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

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
    "genai_bot_jobs_in_flight", "Commands accepted and not yet delivered.", registry=REGISTRY
)
