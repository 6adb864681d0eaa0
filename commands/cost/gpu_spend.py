"""What the GPUs cost: the fleet's GPU $/h and the dollars of GPUs sitting idle."""

from __future__ import annotations

from bot.report import Row, Status
from bot.words import plural
from commands import promql
from commands.cost.common import (
    NO_GPU_PRICE,
    Failed,
    Stats,
    by_node,
    money,
    no_gpu_price,
    unknown_row,
)
from commands.cost.queries import IDLE_UTIL_PCT
from commands.cost.savings import Figures


def gpu_rows(now: Stats | Failed, figures: Figures) -> list[Row]:
    name = "GPU cost"
    if isinstance(now, Failed):
        figures.gpu_day = now
        return [unknown_row(name, now.reason)]
    if "gpu" not in now:
        reason = (NO_GPU_PRICE if not now.get("node_gpu_price")
                  else "no node_gpu_count series to multiply node_gpu_hourly_cost by")
        figures.gpu_day = Failed(reason)
        return [unknown_row(name, reason)]
    gpu_h = now["gpu"][0].value
    prices = by_node(now.get("node_gpu_price", []))
    counts = by_node(now.get("node_gpus", []))
    gpus = round(sum(counts.values()))
    share = ""
    if "total" in now and now["total"][0].value > 0:
        share = f", {gpu_h / now['total'][0].value:.0%} of node cost"
    unpriced = sorted(n for n, c in counts.items() if c > 0 and n not in prices)
    if unpriced:
        # The join drops nodes without a price: the sum is a floor, not the fleet's cost.
        reason = no_gpu_price(unpriced, now)
        figures.gpu_day = Failed(reason)
        return [Row(check=name, status=Status.UNKNOWN, value=f"≥ {money(gpu_h)}/h{share}",
                    threshold="share of node cost",
                    detail=f"≥ {money(gpu_h * 24)}/day; {reason}")]
    figures.gpu_day = gpu_h * 24
    return [Row(check=name, status=Status.OK, value=f"{money(gpu_h)}/h{share}",
                threshold="share of node cost",
                detail=f"{money(gpu_h * 24)}/day; {plural(gpus, 'GPU')} priced")]


def idle_rows(now: Stats | Failed, figures: Figures) -> list[Row]:
    name = "Idle GPUs"
    threshold = f"util < {IDLE_UTIL_PCT:g}% over 1h"
    if isinstance(now, Failed):
        figures.idle_day = now
        return [unknown_row(name, now.reason, threshold)]
    if "gpus_seen" not in now:
        reason = "no DCGM_FI_DEV_GPU_UTIL series (is dcgm-exporter scraped?)"
        figures.idle_day = Failed(reason)
        return [unknown_row(name, reason, threshold)]
    prices = by_node(now.get("node_gpu_price", []))
    per_host: dict[str, int] = {}
    for s in now.get("idle", []):
        host = promql.gpu_host(s.labels)
        per_host[host] = per_host.get(host, 0) + int(s.value)
    n = sum(per_host.values())
    seen = int(now["gpus_seen"][0].value)
    of_seen = f"{n} of {plural(seen, 'GPU')}"
    dollars_h = sum(count * prices[host] for host, count in per_host.items() if host in prices)
    parts = [f"{host}: {count} × {money(prices[host])}/h" if host in prices
             else f"{host}: {count} (no price)" for host, count in sorted(per_host.items())]
    unpriced = sorted(h for h in per_host if h not in prices)
    if unpriced:
        # An idle GPU without a price costs an unknown amount, never $0.
        reason = no_gpu_price(unpriced, now)
        figures.idle_day = Failed(reason)
        dollars = (f"≥ {money(dollars_h * 24)}/day" if len(unpriced) < len(per_host)
                   else "unknown $/day")
        return [Row(check=name, status=Status.UNKNOWN, value=f"{of_seen}, {dollars}",
                    threshold=threshold, detail="; ".join([*parts, reason]))]
    figures.idle_day = dollars_h * 24
    return [Row(check=name, status=Status.WARN if n else Status.OK,
                value=f"{of_seen}, {money(dollars_h * 24)}/day",
                threshold=threshold, detail="; ".join(parts))]
