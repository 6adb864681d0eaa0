"""`/genai cost [1d|7d|30d]`: run-rate against the daily budget, GPU $/h, top namespaces,
idle-GPU dollars, the spot mix, AWS Cost Explorer, and the guide's savings table as hints.

Sources: OpenCost/Kubecost metrics in Prometheus (`node_total_hourly_cost`,
`node_gpu_hourly_cost`, `node_gpu_count`, `container_gpu_allocation`,
`kubecost_cluster_management_cost`), DCGM utilisation, the GPU nodes' Karpenter capacity-type
label, the optional Kubecost Allocation API and the opt-in Cost Explorer. Two Prometheus
queries whatever the fleet size; a failing backend turns only its rows `unknown`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import structlog

from bot.errors import SourceError, UsageError
from bot.report import Report, Row, Section, Status
from bot.sources.costs import Allocation, CostSources, DayCost
from bot.sources.kubernetes import NodeInfo
from bot.sources.prometheus import Sample
from commands import promql
from commands.base import Command, Context, ceiling_status

log = structlog.get_logger(__name__)

USAGE = "/genai cost [1d|7d|30d]"
WINDOWS = {"1d": 1, "7d": 7, "30d": 30}
SUBQUERY_STEP = {"1d": "1m", "7d": "5m", "30d": "15m"}
STEP_MINUTES = {"1m": 1, "5m": 5, "15m": 15}
IDLE_UTIL_PCT = 20.0
CAPACITY_TYPE = "karpenter.sh/capacity-type"
ENABLE_CE = ("AWS Cost Explorer is off. Enable it with GENAI_COST__COST_EXPLORER=true "
             "(AWS charges $0.01 per request; this command makes one per run).")

# The guide's cost table: (measure, low, high, what it applies to).
SAVINGS = (
    ("Spot instances for the on-demand GPU nodes", 0.60, 0.90, "ondemand"),
    ("Autoscaling away idle GPUs", 0.30, 0.50, "idle"),
    ("Model quantization (INT8/FP8)", 0.20, 0.40, "gpu"),
    ("Request batching", 0.20, 0.30, "gpu"),
    ("Consolidating idle GPU nodes", 0.10, 0.20, "idle"),
)

# Per-node and fleet figures in one round trip (see promql.stats_query).
NOW_PARTS = {
    "total": "sum(node_total_hourly_cost)",
    "mgmt": "sum(kubecost_cluster_management_cost)",
    "gpu": "sum(node_gpu_hourly_cost * on(node) group_left() node_gpu_count)",
    "node_total": "max by (node) (node_total_hourly_cost)",
    "node_gpu_price": "max by (node) (node_gpu_hourly_cost)",
    "node_gpus": "max by (node) (node_gpu_count)",
    "ns": "sum by (namespace) (container_gpu_allocation"
          " * on(node) group_left() max by (node) (node_gpu_hourly_cost))",
    "gpus_seen": f"count(avg_over_time({promql.GPU_UTIL}[1h]))",
    "idle": f"count by (node, Hostname, hostname) "
            f"(avg_over_time({promql.GPU_UTIL}[1h]) < {IDLE_UTIL_PCT:g})",
}

T = TypeVar("T")


@dataclass(frozen=True)
class Failed:
    reason: str


def parse_window(args: list[str]) -> str:
    if not args:
        return "1d"
    if len(args) > 1 or args[0] not in WINDOWS:
        raise UsageError(f"unknown window {args[0]!r}. Usage: {USAGE}")
    return args[0]


def window_parts(window: str) -> dict[str, str]:
    """Spend over the window: a subquery samples the fleet's $/h every `step`; each point
    stands for `step` of money, so the sum times step/60 is dollars. The count says how many
    hours Prometheus actually holds (a young Prometheus holds less than the window)."""
    step = SUBQUERY_STEP[window]
    hourly = "(sum(node_total_hourly_cost) + (sum(kubecost_cluster_management_cost) or vector(0)))"
    per_hour = 60 / STEP_MINUTES[step]
    return {
        "spent": f"sum_over_time({hourly}[{window}:{step}]) / {per_hour:g}",
        "hours": f"count_over_time({hourly}[{window}:{step}]) / {per_hour:g}",
    }


def _money(v: float) -> str:
    return f"${v:,.2f}"


def _unknown(check: str, reason: str, threshold: str = "") -> Row:
    return Row(check=check, status=Status.UNKNOWN, value="unknown", threshold=threshold,
               detail=reason)


def _fetch(fn: Callable[[], T]) -> T | Failed:
    try:
        return fn()
    except SourceError as exc:
        return Failed(str(exc))
    except Exception as exc:  # a bug in one fetch must not sink the report
        log.exception("cost_fetch_failed")
        return Failed(f"internal error ({type(exc).__name__}); see the bot's log")


def _by_node(samples: list[Sample]) -> dict[str, float]:
    return {s.labels["node"]: s.value for s in samples if s.labels.get("node")}


@dataclass
class Figures:
    """What the hints need; None where a backend could not tell."""

    gpu_day: float | None = None
    idle_day: float | None = None
    ondemand_gpu_day: float | None = None


# -- rows -------------------------------------------------------------------------------------


def run_rate_rows(ctx: Context, now: dict[str, list[Sample]] | Failed) -> list[Row]:
    budget = ctx.settings.cost.daily_budget_usd
    threshold = f"< {_money(budget)}/day"
    name = "Daily run-rate"
    if isinstance(now, Failed):
        return [_unknown(name, now.reason, threshold)]
    if "total" not in now:
        return [_unknown(name, "no node_total_hourly_cost series (is OpenCost scraped?)",
                         threshold)]
    total_h = now["total"][0].value
    mgmt_h = now["mgmt"][0].value if "mgmt" in now else 0.0
    rate = (total_h + mgmt_h) * 24
    detail = f"{_money(total_h)}/h nodes"
    if "mgmt" in now:
        detail += f" + {_money(mgmt_h)}/h cluster management"
    detail += f"; {rate / budget:.0%} of the budget"
    status = ceiling_status(rate, budget, ctx.settings.thresholds.warn_fraction)
    return [Row(check=name, status=status,
                value=f"{_money(rate)}/day", threshold=threshold, detail=detail)]


def spend_rows(ctx: Context, window: str, spent: dict[str, list[Sample]] | Failed) -> list[Row]:
    days = WINDOWS[window]
    budget = ctx.settings.cost.daily_budget_usd
    name = f"Spend, last {window}"
    threshold = f"< {_money(budget * days)}"
    if isinstance(spent, Failed):
        return [_unknown(name, spent.reason, threshold)]
    if "spent" not in spent or "hours" not in spent or spent["hours"][0].value <= 0:
        return [_unknown(name, f"Prometheus holds no node_total_hourly_cost in the last "
                               f"{window}", threshold)]
    dollars = spent["spent"][0].value
    hours = spent["hours"][0].value
    per_day = dollars / hours * 24
    detail = f"avg {_money(per_day)}/day over {hours:.1f} h of data"
    if hours < days * 24 * 0.9:
        detail += f" (Prometheus holds only {hours:.1f} h of the {days * 24} h window)"
    return [Row(check=name,
                status=ceiling_status(per_day, budget, ctx.settings.thresholds.warn_fraction),
                value=_money(dollars), threshold=threshold, detail=detail)]


def gpu_rows(now: dict[str, list[Sample]] | Failed, figures: Figures) -> list[Row]:
    name = "GPU cost"
    if isinstance(now, Failed):
        return [_unknown(name, now.reason)]
    if "gpu" not in now:
        return [_unknown(name, "no node_gpu_hourly_cost × node_gpu_count series")]
    gpu_h = now["gpu"][0].value
    figures.gpu_day = gpu_h * 24
    gpus = sum(s.value for s in now.get("node_gpus", []))
    detail = f"{gpus:.0f} GPUs priced"
    share = ""
    if "total" in now and now["total"][0].value > 0:
        share = f", {gpu_h / now['total'][0].value:.0%} of node cost"
    return [Row(check=name, status=Status.OK, value=f"{_money(gpu_h)}/h{share}",
                threshold="share of node cost",
                detail=f"{_money(gpu_h * 24)}/day; {detail}")]


def namespace_rows(now: dict[str, list[Sample]] | Failed, limit: int = 5) -> list[Row]:
    name = "Top namespaces (GPU)"
    if isinstance(now, Failed):
        return [_unknown(name, now.reason)]
    if "ns" not in now:
        return [_unknown(name, "no container_gpu_allocation joined with node_gpu_hourly_cost")]
    ranked = sorted(now["ns"], key=lambda s: (-s.value, s.labels.get("namespace", "")))
    total = sum(s.value for s in ranked) or 1.0
    parts = [f"{s.labels.get('namespace', '?')} {_money(s.value * 24)}/day "
             f"({s.value / total:.0%})" for s in ranked[:limit]]
    top = ranked[0]
    more = f" … and {len(ranked) - limit} more" if len(ranked) > limit else ""
    return [Row(check=name, status=Status.OK,
                value=f"{top.labels.get('namespace', '?')} {_money(top.value * 24)}/day",
                threshold="GPU allocation × node GPU price",
                detail="; ".join(parts) + more)]


def kubecost_rows(window: str, allocs: list[Allocation] | Failed, limit: int = 5) -> list[Row]:
    name = f"Top namespaces (Kubecost, {window})"
    if isinstance(allocs, Failed):
        return [_unknown(name, allocs.reason)]
    named = [a for a in allocs if not a.name.startswith("__")]  # __idle__, __unallocated__
    if not named:
        return [_unknown(name, f"the allocation API returned no namespaces for {window}")]
    parts = [f"{a.name} {_money(a.total)} (GPU {_money(a.gpu)})" for a in named[:limit]]
    idle = [a for a in allocs if a.name == "__idle__"]
    if idle:
        parts.append(f"idle {_money(idle[0].total)}")
    return [Row(check=name, status=Status.OK, value=f"{named[0].name} {_money(named[0].total)}",
                threshold="Allocation API totalCost", detail="; ".join(parts))]


def idle_rows(now: dict[str, list[Sample]] | Failed, figures: Figures) -> list[Row]:
    name = "Idle GPUs"
    threshold = f"util < {IDLE_UTIL_PCT:g}% over 1h"
    if isinstance(now, Failed):
        return [_unknown(name, now.reason, threshold)]
    if "gpus_seen" not in now:
        return [_unknown(name, "no DCGM_FI_DEV_GPU_UTIL series (is dcgm-exporter scraped?)",
                         threshold)]
    prices = _by_node(now.get("node_gpu_price", []))
    per_host: dict[str, int] = {}
    for s in now.get("idle", []):
        host = promql.gpu_host(s.labels)
        per_host[host] = per_host.get(host, 0) + int(s.value)
    n = sum(per_host.values())
    dollars_h = sum(count * prices.get(host, 0.0) for host, count in per_host.items())
    unpriced = sorted(h for h in per_host if h not in prices)
    figures.idle_day = dollars_h * 24
    parts = [f"{host}: {count} × {_money(prices[host])}/h" if host in prices
             else f"{host}: {count} (no price)" for host, count in sorted(per_host.items())]
    if unpriced:
        parts.append("no node_gpu_hourly_cost for " + ", ".join(unpriced))
    seen = int(now["gpus_seen"][0].value)
    return [Row(check=name, status=Status.WARN if n else Status.OK,
                value=f"{n} of {seen} GPUs, {_money(dollars_h * 24)}/day",
                threshold=threshold, detail="; ".join(parts))]


def spot_rows(ctx: Context, nodes: list[NodeInfo] | Failed,
              now: dict[str, list[Sample]] | Failed, figures: Figures) -> list[Row]:
    name = "Spot / on-demand (GPU nodes)"
    if isinstance(nodes, Failed):
        return [_unknown(name, nodes.reason)]
    if not nodes:
        return [Row(check=name, status=Status.OK, value="0 GPU nodes",
                    detail=f"no node is labelled {ctx.settings.thresholds.gpu_node_selector}")]
    kinds: dict[str, list[str]] = {}
    for node in nodes:
        kinds.setdefault(node.labels.get(CAPACITY_TYPE, "unlabelled"), []).append(node.name)
    spot, ondemand = kinds.get("spot", []), kinds.get("on-demand", [])
    value = f"{len(spot)} spot / {len(ondemand)} on-demand"
    others = {k: v for k, v in kinds.items() if k not in ("spot", "on-demand")}
    value += "".join(f" / {len(v)} {k}" for k, v in sorted(others.items()))
    detail: list[str] = []
    if not isinstance(now, Failed):
        totals = _by_node(now.get("node_total", []))
        gpu_price = _by_node(now.get("node_gpu_price", []))
        gpus = _by_node(now.get("node_gpus", []))
        for kind, names in sorted(kinds.items()):
            priced = [n for n in names if n in totals]
            if priced:
                detail.append(f"{kind} {_money(sum(totals[n] for n in priced) * 24)}/day")
        od_priced = [n for n in ondemand if n in gpu_price and n in gpus]
        if od_priced:
            figures.ondemand_gpu_day = sum(gpu_price[n] * gpus[n] for n in od_priced) * 24
            detail.append(f"on-demand GPU part {_money(figures.ondemand_gpu_day)}/day")
        elif not ondemand:
            figures.ondemand_gpu_day = 0.0
    else:
        detail.append(f"no prices ({now.reason})")
    status = Status.WARN if ondemand and not spot else Status.OK
    return [Row(check=name, status=status, value=value,
                threshold=f"label {CAPACITY_TYPE}", detail="; ".join(detail))]


def explorer_rows(ctx: Context, window: str, days: list[DayCost] | Failed,
                  limit: int = 5) -> list[Row]:
    daily, top = "AWS daily cost (Cost Explorer)", "AWS top services"
    budget = ctx.settings.cost.daily_budget_usd
    threshold = f"< {_money(budget)}/day"
    if isinstance(days, Failed):
        return [_unknown(daily, days.reason, threshold), _unknown(top, days.reason)]
    if not days:
        reason = f"Cost Explorer returned no days for the last {window}"
        return [_unknown(daily, reason, threshold), _unknown(top, reason)]
    last = days[-1]
    mark = " (estimated)" if last.estimated else ""
    shown = days[-7:]
    detail = "; ".join(f"{d.start} {_money(d.total)}" for d in shown)
    if len(days) > len(shown):
        detail = f"… {len(days) - len(shown)} earlier days; " + detail
    total = sum(d.total for d in days)
    services: dict[str, float] = {}
    for d in days:
        for svc, amount in d.services.items():
            services[svc] = services.get(svc, 0.0) + amount
    ranked = sorted(services.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [Row(check=daily,
                status=ceiling_status(last.total, budget, ctx.settings.thresholds.warn_fraction),
                value=f"{_money(last.total)} on {last.start}{mark}", threshold=threshold,
                detail=f"{_money(total)} over {len(days)} days: {detail}")]
    if ranked:
        rows.append(Row(check=top, status=Status.OK,
                        value=f"{ranked[0][0]} {_money(ranked[0][1])}",
                        threshold=f"UnblendedCost, last {window}",
                        detail="; ".join(f"{k} {_money(v)} ({v / total:.0%})" if total else k
                                         for k, v in ranked[:limit])))
    else:
        rows.append(_unknown(top, "Cost Explorer returned no SERVICE groups"))
    return rows


def hint_lines(figures: Figures) -> list[str]:
    lines = []
    bases = {
        "gpu": (figures.gpu_day, "of GPU spend", "needs node_gpu_hourly_cost"),
        "idle": (figures.idle_day, "of idle-GPU spend",
                 "needs DCGM utilisation and node GPU prices"),
        "ondemand": (figures.ondemand_gpu_day, "of on-demand GPU spend",
                     "needs node capacity types and GPU prices"),
    }
    for measure, lo, hi, base in SAVINGS:
        amount, what, missing = bases[base]
        band = f"{lo:.0%}–{hi:.0%}"
        if amount is None:
            lines.append(f"{measure} ({band}): no estimate, {missing}")
        elif amount <= 0:
            lines.append(f"{measure} ({band}): nothing to save now ($0/day {what})")
        else:
            lines.append(f"{measure} ({band}): about {_money(amount * lo)}–"
                         f"{_money(amount * hi)}/day of {_money(amount)}/day {what}")
    lines.append("Estimates: the guide's savings ranges applied to the current run-rate, "
                 "not a quote.")
    return lines


# -- the command --------------------------------------------------------------------------------


def run(ctx: Context, args: list[str]) -> Report:
    window = parse_window(args)
    cost = ctx.settings.cost
    sources = CostSources(cost, ctx.aws)
    pool = ctx.fanout

    def stats(parts: dict[str, str]) -> Callable[[], dict[str, list[Sample]]]:
        return lambda: promql.split_stats(ctx.prometheus.query(promql.stats_query(parts)))

    f_now: Future[dict[str, list[Sample]] | Failed] = pool.submit(_fetch, stats(NOW_PARTS))
    f_win: Future[dict[str, list[Sample]] | Failed] = pool.submit(
        _fetch, stats(window_parts(window)))
    f_nodes: Future[list[NodeInfo] | Failed] = pool.submit(
        _fetch, lambda: ctx.kubernetes.list_nodes(ctx.settings.thresholds.gpu_node_selector))
    f_kc: Future[list[Allocation] | Failed] | None = None
    if cost.kubecost_url:
        f_kc = pool.submit(_fetch, lambda: sources.allocation(window))
    f_ce: Future[list[DayCost] | Failed] | None = None
    if cost.cost_explorer:
        today = datetime.now(UTC).date()
        start: date = today - timedelta(days=WINDOWS[window])
        f_ce = pool.submit(_fetch, lambda: sources.cost_and_usage(start, today))

    now = f_now.result()
    figures = Figures()
    budget_rows = run_rate_rows(ctx, now) + spend_rows(ctx, window, f_win.result())
    where = gpu_rows(now, figures) + namespace_rows(now)
    if f_kc is not None:
        where += kubecost_rows(window, f_kc.result())
    where += idle_rows(now, figures) + spot_rows(ctx, f_nodes.result(), now, figures)

    sections = [Section(title="Run-rate and budget", rows=budget_rows),
                Section(title="Where the GPU money goes", rows=where)]
    if f_ce is not None:
        sections.append(Section(title="AWS Cost Explorer",
                                rows=explorer_rows(ctx, window, f_ce.result())))
    else:
        sections.append(Section(title="AWS Cost Explorer", lines=[ENABLE_CE]))
    sections.append(Section(title="Savings hints (estimates)", lines=hint_lines(figures)))

    rate = budget_rows[0]
    summary = (f"Run-rate {rate.value} against a budget of "
               f"{_money(cost.daily_budget_usd)}/day" if rate.status is not Status.UNKNOWN
               else f"Run-rate unknown: {rate.detail}")
    return Report(
        title=f"Cost, last {window}",
        summary=summary,
        sections=sections,
        footer="OpenCost/Kubecost metrics in Prometheus"
        + (" · Kubecost Allocation API" if cost.kubecost_url else "")
        + (" · AWS Cost Explorer" if cost.cost_explorer else "")
        + f" · GPU nodes {ctx.settings.thresholds.gpu_node_selector}",
    )


COMMAND = Command(
    name="cost",
    usage=USAGE,
    summary="run-rate vs the daily budget, GPU $/h, top namespaces, idle-GPU dollars, spot "
            "mix, Cost Explorer and savings hints",
    run=run,
    examples=("/genai cost", "/genai cost 7d"),
)
