"""The PromQL behind `/genai cost` and its window argument: the fleet now (one query) and the
spend over the window (one query), whatever the fleet size."""

from __future__ import annotations

from bot.errors import UsageError
from commands import promql

USAGE = "/genai cost [1d|7d|30d]"
WINDOWS = {"1d": 1, "7d": 7, "30d": 30}
SUBQUERY_STEP = {"1d": "1m", "7d": "5m", "30d": "15m"}
STEP_MINUTES = {"1m": 1, "5m": 5, "15m": 15}
IDLE_UTIL_PCT = 20.0

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
    # GPUs allocated on nodes without a price: their namespaces' dollars are unknown, not 0.
    "ns_unpriced": "sum by (namespace) (container_gpu_allocation"
                   " unless on(node) node_gpu_hourly_cost)",
    "gpus_seen": f"count(avg_over_time({promql.GPU_UTIL}[1h]))",
    "idle": f"count by (node, Hostname, hostname) "
            f"(avg_over_time({promql.GPU_UTIL}[1h]) < {IDLE_UTIL_PCT:g})",
}


def parse_window(args: list[str]) -> str:
    if not args:
        return "1d"
    if len(args) > 1 or args[0] not in WINDOWS:
        raise UsageError(f"unknown window {args[0]!r}. Usage: {USAGE}")
    return args[0]


def window_parts(window: str) -> dict[str, str]:
    """Spend over the window: a subquery samples the fleet's $/h every `step`; each point
    stands for `step` of money, so the sum times step/60 is dollars. The count says how many
    hours Prometheus actually holds (a young Prometheus holds less than the window), and
    `mgmt_hours` how many of them carry the cluster management cost the sum adds."""
    step = SUBQUERY_STEP[window]
    mgmt = "sum(kubecost_cluster_management_cost)"
    hourly = f"(sum(node_total_hourly_cost) + ({mgmt} or vector(0)))"
    per_hour = 60 / STEP_MINUTES[step]
    return {
        "spent": f"sum_over_time({hourly}[{window}:{step}]) / {per_hour:g}",
        "hours": f"count_over_time({hourly}[{window}:{step}]) / {per_hour:g}",
        "mgmt_hours": f"count_over_time({mgmt}[{window}:{step}]) / {per_hour:g}",
    }
