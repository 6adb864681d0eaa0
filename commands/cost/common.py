"""What every part of the cost report shares: a fetch that turns a failing backend into a
reason, the unknown row, dollars, and the reasons a price can be missing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog

from bot.errors import SourceError
from bot.report import Row, Status
from bot.sources.prometheus import Sample

log = structlog.get_logger(__name__)

T = TypeVar("T")
Stats = dict[str, list[Sample]]  # one stats query's answer, by part name

# Why a dollar figure is missing. Said in the row, never replaced by $0.
NO_GPU_PRICE = "no node_gpu_hourly_cost series: is OpenCost running?"
NO_NODE_PRICE = "no node_total_hourly_cost series: is OpenCost running?"


@dataclass(frozen=True)
class Failed:
    """A value nobody could tell, and why."""

    reason: str


def fetch(fn: Callable[[], T]) -> T | Failed:
    try:
        return fn()
    except SourceError as exc:
        return Failed(str(exc))
    except Exception as exc:  # a bug in one fetch must not sink the report
        log.exception("cost_fetch_failed")
        return Failed(f"internal error ({type(exc).__name__}); see the bot's log")


def money(v: float) -> str:
    return f"${v:,.2f}"


def unknown_row(check: str, reason: str, threshold: str = "") -> Row:
    return Row(check=check, status=Status.UNKNOWN, value="unknown", threshold=threshold,
               detail=reason)


def by_node(samples: list[Sample]) -> dict[str, float]:
    return {s.labels["node"]: s.value for s in samples if s.labels.get("node")}


def no_gpu_price(nodes: list[str], now: Stats) -> str:
    """The reason for missing GPU prices: no series at all, or none for these nodes."""
    if not now.get("node_gpu_price"):
        return NO_GPU_PRICE
    shown = ", ".join(nodes[:5]) + (f" … and {len(nodes) - 5} more" if len(nodes) > 5 else "")
    return f"no node_gpu_hourly_cost for {shown}"
