"""Who spends the GPU money: namespaces by GPU allocation × price, and Kubecost's own view."""

from __future__ import annotations

from bot.report import Row, Status
from bot.sources.costs import Allocation
from bot.words import plural
from commands.cost.common import NO_GPU_PRICE, Failed, Stats, money, unknown_row


def namespace_rows(now: Stats | Failed, limit: int = 5) -> list[Row]:
    name = "Top namespaces (GPU)"
    threshold = "GPU allocation × node GPU price"
    if isinstance(now, Failed):
        return [unknown_row(name, now.reason)]
    unpriced = {s.labels.get("namespace", "?"): round(s.value)
                for s in now.get("ns_unpriced", [])}
    # GPUs allocated on nodes without a price: their namespaces' dollars are unknown, not 0.
    missing = "; ".join(f"{ns} {plural(gpus, 'GPU')}" for ns, gpus in sorted(unpriced.items()))
    missing += (f" on nodes without a price ({NO_GPU_PRICE})" if not now.get("node_gpu_price")
                else " on nodes without node_gpu_hourly_cost")
    if "ns" not in now:
        reason = (f"GPUs allocated but none priced: {missing}" if unpriced
                  else "no container_gpu_allocation series (is OpenCost scraped?)")
        return [unknown_row(name, reason, threshold)]
    ranked = sorted(now["ns"], key=lambda s: (-s.value, s.labels.get("namespace", "")))
    total = sum(s.value for s in ranked)
    more = f" … and {len(ranked) - limit} more" if len(ranked) > limit else ""
    top = ranked[0]
    value = f"{top.labels.get('namespace', '?')} {money(top.value * 24)}/day"
    if unpriced:
        # Shares of a partial total would be wrong, and the ranking may be too: say so.
        parts = [f"{s.labels.get('namespace', '?')} {money(s.value * 24)}/day"
                 for s in ranked[:limit]]
        return [Row(check=name, status=Status.UNKNOWN, value=value, threshold=threshold,
                    detail="; ".join(parts) + more + f"; shares unknown: {missing}")]
    parts = [f"{s.labels.get('namespace', '?')} {money(s.value * 24)}/day"
             + (f" ({s.value / total:.0%})" if total > 0 else "") for s in ranked[:limit]]
    return [Row(check=name, status=Status.OK, value=value, threshold=threshold,
                detail="; ".join(parts) + more)]


def kubecost_rows(window: str, allocs: list[Allocation] | Failed, limit: int = 5) -> list[Row]:
    name = f"Top namespaces (Kubecost, {window})"
    if isinstance(allocs, Failed):
        return [unknown_row(name, allocs.reason)]
    named = [a for a in allocs if not a.name.startswith("__")]  # __idle__, __unallocated__
    if not named:
        return [unknown_row(name, f"the allocation API returned no namespaces for {window}")]
    parts = [f"{a.name} {money(a.total)} (GPU {money(a.gpu)})" for a in named[:limit]]
    idle = [a for a in allocs if a.name == "__idle__"]
    if idle:
        parts.append(f"idle {money(idle[0].total)}")
    return [Row(check=name, status=Status.OK, value=f"{named[0].name} {money(named[0].total)}",
                threshold="Allocation API totalCost", detail="; ".join(parts))]
