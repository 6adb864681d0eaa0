"""`/genai cost [1d|7d|30d]`: run-rate against the daily budget, GPU $/h, top namespaces,
idle-GPU dollars, the spot mix, AWS Cost Explorer, and the guide's savings table as hints.

Sources: OpenCost/Kubecost metrics in Prometheus (`node_total_hourly_cost`,
`node_gpu_hourly_cost`, `node_gpu_count`, `container_gpu_allocation`,
`kubecost_cluster_management_cost`), DCGM utilisation, the GPU nodes' Karpenter capacity-type
label, the optional Kubecost Allocation API and the opt-in Cost Explorer. Two Prometheus
queries whatever the fleet size; a failing backend turns only its rows `unknown`, and a
missing price reads `unknown` with the reason, never $0.

The parts: `queries` (PromQL and the window), `budget` (run-rate, spend), `gpu_spend`
(GPU $/h, idle GPUs), `namespaces`, `spot`, `explorer` (Cost Explorer), `savings` (hints),
`common` (fetching, dollars, the unknown row).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, date, datetime, timedelta

from bot.report import Report, Section, Status
from bot.sources.costs import Allocation, CostSources, DayCost
from bot.sources.kubernetes import NodeInfo
from commands import promql
from commands.base import Command, Context
from commands.cost.budget import run_rate_rows, spend_rows
from commands.cost.common import Failed, Stats, fetch, money
from commands.cost.explorer import ENABLE_CE, explorer_rows
from commands.cost.gpu_spend import gpu_rows, idle_rows
from commands.cost.namespaces import kubecost_rows, namespace_rows
from commands.cost.queries import NOW_PARTS, USAGE, WINDOWS, parse_window, window_parts
from commands.cost.savings import Figures, hint_lines
from commands.cost.spot import spot_rows


def run(ctx: Context, args: list[str]) -> Report:
    window = parse_window(args)
    cost = ctx.settings.cost
    sources = CostSources(cost, ctx.aws)
    pool = ctx.fanout

    def stats(parts: dict[str, str]) -> Callable[[], Stats]:
        return lambda: promql.split_stats(ctx.prometheus.query(promql.stats_query(parts)))

    f_now: Future[Stats | Failed] = pool.submit(fetch, stats(NOW_PARTS))
    f_win: Future[Stats | Failed] = pool.submit(fetch, stats(window_parts(window)))
    f_nodes: Future[list[NodeInfo] | Failed] = pool.submit(
        fetch, lambda: ctx.kubernetes.list_nodes(ctx.settings.thresholds.gpu_node_selector))
    f_kc: Future[list[Allocation] | Failed] | None = None
    if cost.kubecost_url:
        f_kc = pool.submit(fetch, lambda: sources.allocation(window))
    f_ce: Future[list[DayCost] | Failed] | None = None
    if cost.cost_explorer:
        today = datetime.now(UTC).date()
        start: date = today - timedelta(days=WINDOWS[window])
        f_ce = pool.submit(fetch, lambda: sources.cost_and_usage(start, today))

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
               f"{money(cost.daily_budget_usd)}/day" if rate.status is not Status.UNKNOWN
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

__all__ = ["COMMAND", "USAGE", "WINDOWS", "parse_window", "run"]
