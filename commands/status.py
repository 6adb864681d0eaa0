"""`/genai status`: the guide's daily checklist, one row per check, from live data."""

from __future__ import annotations

from collections.abc import Callable

from bot.report import Report, Row, Section, Status
from bot.words import plural
from commands import promql
from commands.base import Command, Context, ceiling_status, no_args, run_checks

USAGE = "/genai status"


def _names(items: list[str], limit: int = 8) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f" … and {len(items) - limit} more" if len(items) > limit else "")


def check_gpu_nodes(ctx: Context) -> list[Row]:
    selector = ctx.settings.thresholds.gpu_node_selector
    nodes = ctx.kubernetes.list_nodes(selector)
    name = "GPU nodes Ready"
    if not nodes:
        return [
            Row(check=name, status=Status.WARN, value="0 nodes", threshold="all Ready",
                detail=f"no node is labelled {selector}")
        ]
    bad = sorted((n for n in nodes if not n.ready), key=lambda n: n.name)
    cordoned = sorted(n.name for n in nodes if n.unschedulable)
    detail = []
    if bad:
        detail.append("not Ready: " + _names([f"{n.name} ({n.reason})" for n in bad]))
    if cordoned:
        detail.append("cordoned: " + _names(cordoned))
    return [
        Row(
            check=name,
            status=Status.FAIL if bad else Status.OK,
            value=f"{len(nodes) - len(bad)}/{len(nodes)} Ready",
            threshold="all Ready",
            detail="; ".join(detail),
        )
    ]


def check_model_pods(ctx: Context) -> list[Row]:
    namespace = ctx.settings.thresholds.inference_namespace
    # Completed pods (jobs) are not serving and not failing: leave them out of the count.
    pods = [p for p in ctx.kubernetes.list_pods(namespace) if p.phase != "Succeeded"]
    name = "Model pods Running"
    if not pods:
        return [
            Row(check=name, status=Status.WARN, value="0 pods", threshold="all Running",
                detail=f"no pods in namespace {namespace}")
        ]
    bad = sorted((p for p in pods if not p.healthy), key=lambda p: p.name)
    return [
        Row(
            check=name,
            status=Status.FAIL if bad else Status.OK,
            value=f"{len(pods) - len(bad)}/{len(pods)} Running",
            threshold="all Running",
            detail=_names([f"{p.name}: {p.reason}" for p in bad]) if bad else "",
        )
    ]


def _worst_model(ctx: Context, name: str, expr: str, limit: float, threshold: str,
                 fmt: Callable[[float], str], no_data: str) -> list[Row]:
    """One row for a per-model ceiling: the worst model's value, every model in the detail."""
    samples = ctx.prometheus.query(expr)
    if not samples:
        return [Row(check=name, status=Status.UNKNOWN, value="no data", threshold=threshold,
                    detail=no_data)]
    ranked = sorted(samples, key=lambda s: s.value, reverse=True)
    worst = ranked[0]
    model = worst.labels.get("model", "")
    several = len(ranked) > 1
    return [
        Row(
            check=name,
            status=ceiling_status(worst.value, limit, ctx.settings.thresholds.warn_fraction),
            value=fmt(worst.value) + (f" ({model})" if several and model else ""),
            threshold=threshold,
            detail=_names([f"{s.labels.get('model', '?')} {fmt(s.value)}" for s in ranked])
            if several else "",
        )
    ]


def check_error_rate(ctx: Context) -> list[Row]:
    t = ctx.settings.thresholds
    return _worst_model(ctx, "Error rate", promql.ERROR_RATE_BY_MODEL, t.error_rate_max,
                        f"< {t.error_rate_max:.0%}", lambda v: f"{v:.2%}",
                        "no inference_request_total traffic in the last 5m")


def check_p99_latency(ctx: Context) -> list[Row]:
    t = ctx.settings.thresholds
    return _worst_model(ctx, "P99 latency", promql.P99_BY_MODEL, t.p99_latency_max_s,
                        f"< {t.p99_latency_max_s:g} s", lambda v: f"{v:.2f} s",
                        "no inference_request_duration_seconds data in the last 5m")


def check_gpu_util(ctx: Context) -> list[Row]:
    t = ctx.settings.thresholds
    lo, hi = t.gpu_util_min_pct, t.gpu_util_max_pct
    u = promql.GPU_UTIL
    stats = promql.split_stats(ctx.prometheus.query(promql.stats_query({
        "avg": f"avg({u})",
        "n": f"count({u})",
        "low": f"count({u} < {lo:g})",
        "high": f"count({u} > {hi:g})",
    })))
    name = "GPU utilisation"
    threshold = f"{lo:g}–{hi:g}%"
    if "avg" not in stats:
        return [Row(check=name, status=Status.UNKNOWN, value="no data", threshold=threshold,
                    detail="no DCGM_FI_DEV_GPU_UTIL series (is dcgm-exporter scraped?)")]
    avg = stats["avg"][0].value
    n = int(stats["n"][0].value)
    low = int(stats["low"][0].value) if "low" in stats else 0
    high = int(stats["high"][0].value) if "high" in stats else 0
    return [
        Row(
            check=name,
            status=Status.OK if lo <= avg <= hi else Status.WARN,
            value=f"{avg:.0f}% avg",
            threshold=threshold,
            detail=f"{plural(n, 'GPU')}: {low} under {lo:g}%, {high} over {hi:g}%",
        )
    ]


def check_gpu_memory(ctx: Context) -> list[Row]:
    t = ctx.settings.thresholds
    ratio = promql.GPU_MEM_RATIO
    stats = promql.split_stats(ctx.prometheus.query(promql.stats_query({
        "worst": f"topk(1, {ratio})",
        "n": f"count({ratio})",
        "over": f"count({ratio} > {t.gpu_mem_max_ratio:g})",
        "gpus": f"count({promql.GPU_UTIL})",
    })))
    name = "GPU memory"
    threshold = f"< {t.gpu_mem_max_ratio:.0%}"
    if "worst" not in stats:
        return [Row(check=name, status=Status.UNKNOWN, value="no data", threshold=threshold,
                    detail="no DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE series")]
    worst = stats["worst"][0]
    n = int(stats["n"][0].value)
    over = int(stats["over"][0].value) if "over" in stats else 0
    gpus = int(stats["gpus"][0].value) if "gpus" in stats else n
    status = ceiling_status(worst.value, t.gpu_mem_max_ratio, t.warn_fraction)
    detail = (f"worst {promql.gpu_name(worst.labels)}; {over} of {plural(n, 'GPU')} over "
              f"{t.gpu_mem_max_ratio:.0%}")
    if gpus > n:
        # GPUs without a memory reading are not under the ceiling: they are unknown.
        if status is Status.OK:
            status = Status.UNKNOWN
        detail += (f"; {gpus - n} of {plural(gpus, 'GPU')} export no DCGM_FI_DEV_FB_USED / "
                   "DCGM_FI_DEV_FB_FREE")
    return [Row(check=name, status=status, value=f"{worst.value:.0%} max",
                threshold=threshold, detail=detail)]


CHECKS = (
    ("GPU nodes Ready", check_gpu_nodes),
    ("Model pods Running", check_model_pods),
    ("Error rate", check_error_rate),
    ("P99 latency", check_p99_latency),
    ("GPU utilisation", check_gpu_util),
    ("GPU memory", check_gpu_memory),
)


def run(ctx: Context, args: list[str]) -> Report:
    no_args(args, USAGE)
    rows = run_checks(ctx, CHECKS)
    counts = {s: sum(1 for r in rows if r.status is s) for s in Status}
    summary = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
    return Report(
        title="Daily checklist",
        summary=summary,
        sections=[Section(rows=rows)],
        footer=f"namespace {ctx.settings.thresholds.inference_namespace} · "
        f"GPU nodes {ctx.settings.thresholds.gpu_node_selector}",
    )


COMMAND = Command(
    name="status",
    usage=USAGE,
    summary="the daily checklist: GPU nodes, model pods, error rate, P99, GPU use and memory",
    run=run,
)
