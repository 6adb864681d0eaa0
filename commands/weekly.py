"""`/genai weekly`: the guide's weekly checklist, four sections from live data.

1. Cost analysis: this week's cluster cost against last week's (OpenCost's
   `node_total_hourly_cost`), and the namespaces whose GPU cost rose more than 30%.
2. Capacity planning: 7-day trends (1 h step) of GPU utilisation, pending pods and GPU
   nodes. GPU nodes are counted from DCGM (hosts exporting `DCGM_FI_DEV_GPU_UTIL`) rather than
   kube-state-metrics' `kube_node_labels`, whose node labels are only exported when
   allow-listed; DCGM's host label is `Hostname` or `hostname` (or a relabelled `node`).
3. Security patches: ECR scan findings of the images running in the inference namespace.
4. Backup verification: age of the newest EBS snapshot behind each PVC in that namespace.

A failing source turns only its own section's rows `unknown`, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import structlog

from bot.errors import SourceError
from bot.report import Report, Row, Section, Status
from bot.sources.inventory import (
    ScanResult,
    claim_volumes,
    newest_snapshots,
    running_images,
    scan_findings,
)
from bot.sources.prometheus import Sample, Series
from bot.words import noun, plural
from commands import promql
from commands.base import Command, Context, no_args

USAGE = "/genai weekly"
log = structlog.get_logger(__name__)

ANOMALY_RISE = 0.30  # a namespace's GPU cost rising more than this week over week
TOP_ANOMALIES = 3
TREND_STEP_S = 3600.0
TREND_DAYS = 7
SPARK_WIDTH = 28
_SPARKS = "▁▂▃▄▅▆▇█"

WEEK_COST = "sum(avg_over_time(node_total_hourly_cost[7d])) * 24 * 7"
LAST_WEEK_COST = "sum(avg_over_time(node_total_hourly_cost[7d] offset 7d)) * 24 * 7"
GPU_COST_BY_NS = "(container_gpu_allocation * on(node) group_left node_gpu_hourly_cost)"
# $ per week per namespace: the hourly average over the week (a 1 h subquery), times 168 h.
WEEK_GPU_BY_NS = f"sum by (namespace) (avg_over_time({GPU_COST_BY_NS}[7d:1h])) * 24 * 7"
LAST_WEEK_GPU_BY_NS = (
    f"sum by (namespace) (avg_over_time({GPU_COST_BY_NS}[7d:1h] offset 7d)) * 24 * 7"
)
GPU_NODES = f"count(count by (node, Hostname, hostname) ({promql.GPU_UTIL}))"
PENDING_PODS = 'sum(kube_pod_status_phase{phase="Pending"})'

COST_ROWS = ("Cluster cost week over week", "GPU cost anomalies")
CAPACITY_ROWS = ("GPU utilisation trend", "Pending pods trend", "GPU nodes trend")
SECURITY_ROWS = ("Image scan findings", "Images not scanned")
# bot.sources.inventory's reasons when no scan exists for an image (a gap: warn). Any other
# reason (scan failed, in progress, findings unavailable, another registry) is unreadable.
SCAN_MISSING = frozenset({"not in ECR", "no scan yet", "image not found in ECR",
                          "repository not found in ECR"})
BACKUP_ROWS = ("EBS snapshots",)


def sparkline(values: Sequence[float], width: int = SPARK_WIDTH) -> str:
    """A unicode sparkline of `values`, averaged down to at most `width` characters."""
    if not values:
        return ""
    if len(values) > width:
        buckets = [values[i * len(values) // width:(i + 1) * len(values) // width]
                   for i in range(width)]
        values = [sum(b) / len(b) for b in buckets if b]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        return _SPARKS[0 if hi <= 0 else 3] * len(values)
    top = len(_SPARKS) - 1
    return "".join(_SPARKS[round((v - lo) / (hi - lo) * top)] for v in values)


def _money(v: float) -> str:
    return f"${v:,.0f}" if abs(v) >= 100 else f"${v:,.2f}"


def _change(now: float, before: float) -> float | None:
    return (now - before) / before if before > 0 else None


def _pct(change: float | None) -> str:
    return "new" if change is None else f"{change:+.0%}"


def _names(items: list[str], limit: int = 5) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f" … and {len(items) - limit} more" if len(items) > limit else "")


# -- 1. cost ------------------------------------------------------------------------------------


def cost_rows(ctx: Context) -> list[Row]:
    """One Prometheus round trip for both weeks' totals and per-namespace GPU cost."""
    stats = promql.split_stats(ctx.prometheus.query(promql.stats_query({
        "week": WEEK_COST,
        "last": LAST_WEEK_COST,
        "gpu_week": WEEK_GPU_BY_NS,
        "gpu_last": LAST_WEEK_GPU_BY_NS,
    })))
    threshold = f"rise ≤ {ANOMALY_RISE:.0%} w/w"
    rows: list[Row] = []
    name = COST_ROWS[0]
    if "week" not in stats:
        rows.append(Row(check=name, status=Status.UNKNOWN, value="no data", threshold=threshold,
                        detail="no node_total_hourly_cost series (is OpenCost/Kubecost "
                        "scraped?)"))
    elif "last" not in stats:
        # Nothing to compare with is not "no rise": the trend is unknown.
        week = stats["week"][0].value
        rows.append(Row(check=name, status=Status.UNKNOWN, value=f"{_money(week)} this week",
                        threshold=threshold, detail="no node_total_hourly_cost data for last "
                        "week to compare (Prometheus holds less than 14 days?)"))
    else:
        week, last = stats["week"][0].value, stats["last"][0].value
        change = _change(week, last)
        rose = change is not None and change > ANOMALY_RISE
        rows.append(Row(
            check=name, status=Status.WARN if rose else Status.OK,
            value=f"{_money(week)} vs {_money(last)} ({_pct(change)})", threshold=threshold,
            detail="this week against the 7 days before" + (
                "; cost rose sharply, see the anomalies below" if rose else ""),
        ))
    rows.append(_gpu_anomalies(stats.get("gpu_week", []), stats.get("gpu_last", [])))
    return rows


def _gpu_anomalies(week: list[Sample], last: list[Sample]) -> Row:
    name = COST_ROWS[1]
    threshold = f"GPU cost rise ≤ {ANOMALY_RISE:.0%} per namespace"
    if not week:
        return Row(check=name, status=Status.UNKNOWN, value="no data", threshold=threshold,
                   detail="no container_gpu_allocation × node_gpu_hourly_cost data this week")
    if not last:
        # Without last week every namespace would look "new": unknown, not an anomaly.
        return Row(check=name, status=Status.UNKNOWN, value="no data for last week",
                   threshold=threshold,
                   detail=f"{plural(len(week), 'namespace')} with GPU cost this week; no "
                   "container_gpu_allocation × node_gpu_hourly_cost data for last week to "
                   "compare (Prometheus holds less than 14 days?)")
    before = {s.labels.get("namespace", "?"): s.value for s in last}
    risen: list[tuple[float, str]] = []
    for s in week:
        ns = s.labels.get("namespace", "?")
        prev = before.get(ns)
        change = None if prev is None else _change(s.value, prev)
        if s.value > 0 and (change is None or change > ANOMALY_RISE):
            was = "none" if prev is None else _money(prev)  # no allocation last week
            risen.append((s.value - (prev or 0.0), f"{ns} {was} → {_money(s.value)} "
                                                   f"({_pct(change)})"))
    risen.sort(reverse=True)
    if not risen:
        return Row(check=name, status=Status.OK, value="none", threshold=threshold,
                   detail=f"{plural(len(week), 'namespace')} with GPU cost this week")
    top = [text for _, text in risen[:TOP_ANOMALIES]]
    return Row(check=name, status=Status.WARN, value=plural(len(risen), "namespace"),
               threshold=threshold, detail="; ".join(top))


# -- 2. capacity --------------------------------------------------------------------------------


def capacity_rows(ctx: Context) -> list[Row]:
    """One range query (7 days, 1 h step) carries all three trends, tagged by `__stat`."""
    end = datetime.now(UTC)
    start = end - timedelta(days=TREND_DAYS)
    series = ctx.prometheus.query_range(promql.stats_query({
        "util": f"avg({promql.GPU_UTIL})",
        "pending": PENDING_PODS,
        "nodes": GPU_NODES,
    }), start, end, TREND_STEP_S)
    by_stat: dict[str, Series] = {s.labels.get(promql.STAT_LABEL, ""): s for s in series}
    t = ctx.settings.thresholds
    return [
        _trend_row(CAPACITY_ROWS[0], by_stat.get("util"), lambda v: f"{v:.0f}%",
                   f"≤ {t.gpu_util_max_pct:g}% (last 24 h)", lambda pts: _util_status(ctx, pts),
                   "no DCGM_FI_DEV_GPU_UTIL history"),
        _trend_row(CAPACITY_ROWS[1], by_stat.get("pending"), lambda v: f"{v:.0f}",
                   "not growing", _pending_status, "no kube_pod_status_phase history "
                   "(is kube-state-metrics scraped?)"),
        _trend_row(CAPACITY_ROWS[2], by_stat.get("nodes"), lambda v: f"{v:.0f}",
                   "informational", _nodes_status, "no DCGM hosts in the last 7 days"),
    ]


TrendJudge = Callable[[list[float]], tuple[Status, str]]


def _trend_row(name: str, series: Series | None, fmt: Callable[[float], str], threshold: str,
               judge: TrendJudge, no_data: str) -> Row:
    if series is None or not series.points:
        return Row(check=name, status=Status.UNKNOWN, value="no data", threshold=threshold,
                   detail=no_data)
    values = [v for _, v in series.points]
    status, hint = judge(values)
    spark = sparkline(values)
    return Row(check=name, status=status,
               value=f"{fmt(values[0])} → {fmt(values[-1])} {spark}",
               threshold=threshold,
               detail=f"7 days, 1 h step, min {fmt(min(values))}, max {fmt(max(values))}"
               + (f"; {hint}" if hint else ""))


def _recent(values: list[float]) -> float:
    tail = values[-24:]  # the last 24 hourly points
    return sum(tail) / len(tail)


def _util_status(ctx: Context, values: list[float]) -> tuple[Status, str]:
    t = ctx.settings.thresholds
    recent = _recent(values)
    if recent > t.gpu_util_max_pct:
        return Status.WARN, f"last 24 h avg {recent:.0f}% > {t.gpu_util_max_pct:g}%: scale up"
    if recent < t.gpu_util_min_pct:
        return Status.OK, (f"last 24 h avg {recent:.0f}% < {t.gpu_util_min_pct:g}%: room to "
                           "consolidate")
    return Status.OK, f"last 24 h avg {recent:.0f}%"


def _pending_status(values: list[float]) -> tuple[Status, str]:
    if values[-1] > values[0]:
        return Status.WARN, "pending pods grew: capacity is short (check Karpenter)"
    return Status.OK, ""


def _nodes_status(values: list[float]) -> tuple[Status, str]:
    delta = values[-1] - values[0]
    return Status.OK, (f"{delta:+.0f} {noun(round(abs(delta)), 'node')} over the week"
                       if delta else "")


# -- 3. security --------------------------------------------------------------------------------


# A pool of its own, made once: waiting on the shared fan-out from inside one of its threads
# could starve it.
_SCANS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ecr-scan")


def security_rows(ctx: Context) -> list[Row]:
    if ctx.aws is None:
        raise SourceError("aws", "AWS is not configured")
    aws = ctx.aws
    namespace = ctx.settings.thresholds.inference_namespace
    images = running_images(ctx.kubernetes, namespace)
    threshold = "0 critical, 0 high"
    if not images:
        return [Row(check=SECURITY_ROWS[0], status=Status.WARN, value="0 images",
                    threshold=threshold, detail=f"no Running pods in namespace {namespace}")]
    registry = ctx.settings.weekly.ecr_registry_id
    futures = [_SCANS.submit(scan_findings, aws, image, registry) for image in sorted(images)]
    results: list[ScanResult] = [f.result() for f in futures]  # a SourceError propagates
    scanned = [r for r in results if not r.not_scanned]
    unscanned = [r for r in results if r.not_scanned]
    of_all = f"{len(scanned)} of {plural(len(results), 'image')} scanned"
    rows = [_findings_row(scanned, of_all, threshold)]
    if unscanned:
        # A scan that ran but cannot be read is unknown; one that never ran is a gap to fix.
        unreadable = any(r.not_scanned not in SCAN_MISSING for r in unscanned)
        rows.append(Row(
            check=SECURITY_ROWS[1], status=Status.UNKNOWN if unreadable else Status.WARN,
            value=f"{len(unscanned)} of {plural(len(results), 'image')}",
            threshold="every image scanned",
            # ECR's statuses arrive as "scan findings_unavailable": make them words.
            detail=_names([f"{r.image}: not scanned: {r.not_scanned.replace('_', ' ')}"
                           for r in unscanned]),
        ))
    return rows


def _findings_row(scanned: list[ScanResult], of_all: str, threshold: str) -> Row:
    if not scanned:
        # No image has scan results: nothing is known to be clean.
        return Row(check=SECURITY_ROWS[0], status=Status.UNKNOWN, value="unknown",
                   threshold=threshold, detail=f"{of_all}: see {SECURITY_ROWS[1]}")
    critical = sum(r.critical for r in scanned)
    high = sum(r.high for r in scanned)
    worst = sorted((r for r in scanned if r.critical or r.high),
                   key=lambda r: (r.critical, r.high), reverse=True)
    # The counts cover the scanned images only; the detail says how many those are.
    found = _names([f"{r.image}: {r.critical} critical, {r.high} high" for r in worst], 3)
    return Row(
        check=SECURITY_ROWS[0],
        status=Status.FAIL if critical else Status.WARN if high else Status.OK,
        value=f"{critical} critical, {high} high", threshold=threshold,
        detail=f"{found}; {of_all}" if worst else f"{of_all}, all clean",
    )


# -- 4. backups ---------------------------------------------------------------------------------


def backup_rows(ctx: Context) -> list[Row]:
    if ctx.aws is None:
        raise SourceError("aws", "AWS is not configured")
    namespace = ctx.settings.thresholds.inference_namespace
    max_age = ctx.settings.weekly.backup_max_age_h
    threshold = f"newest snapshot < {max_age:g} h old"
    name = BACKUP_ROWS[0]
    claims = claim_volumes(ctx.kubernetes, namespace)
    if not claims:
        return [Row(check=name, status=Status.WARN, value="0 volumes", threshold=threshold,
                    detail=f"no PVCs in namespace {namespace}")]
    volumes = [c for c in claims if c.volume_id]
    skipped = [f"{c.claim}: not checked: {c.note}" for c in claims if not c.volume_id]
    if not volumes:
        # PVCs exist but none resolves to an EBS volume: their backups are unknown, not "0/0".
        return [Row(check=name, status=Status.UNKNOWN, value="unknown", threshold=threshold,
                    detail=f"no EBS volume behind the {plural(len(claims), 'PVC')} in "
                    f"{namespace}: " + _names(skipped))]
    newest = newest_snapshots(ctx.aws, [c.volume_id for c in volumes if c.volume_id])
    now = datetime.now(UTC)
    stale: list[str] = []
    fresh = 0
    for c in volumes:
        assert c.volume_id is not None
        taken = newest.get(c.volume_id)
        if taken is None:
            stale.append(f"{c.claim} ({c.volume_id}): no snapshot")
            continue
        age_h = (now - taken.astimezone(UTC)).total_seconds() / 3600
        if age_h > max_age:
            stale.append(f"{c.claim} ({c.volume_id}): newest {age_h:.0f} h old")
        else:
            fresh += 1
    status = Status.FAIL if stale else Status.OK
    return [Row(
        check=name, status=status,
        value=f"{fresh}/{plural(len(volumes), 'volume')} fresh", threshold=threshold,
        detail=_names(stale + skipped) if stale or skipped
        else f"{plural(len(volumes), 'EBS volume')} behind PVCs in {namespace}",
    )]


# -- the report ---------------------------------------------------------------------------------

SectionCheck = Callable[[Context], list[Row]]

SECTIONS: tuple[tuple[str, SectionCheck, tuple[str, ...]], ...] = (
    ("Cost analysis", cost_rows, COST_ROWS),
    ("Capacity planning", capacity_rows, CAPACITY_ROWS),
    ("Security patches", security_rows, SECURITY_ROWS[:1]),
    ("Backup verification", backup_rows, BACKUP_ROWS),
)


def _guarded_section(check: SectionCheck, row_names: tuple[str, ...], ctx: Context) -> list[Row]:
    """A failing source makes every row of its own section unknown, with the reason."""
    try:
        return check(ctx)
    except SourceError as exc:
        reason = str(exc)
    except Exception as exc:  # a bug in one section must not sink the others
        log.exception("weekly_section_failed", check=check.__name__)
        reason = f"internal error ({type(exc).__name__}); see the bot's log"
    return [Row(check=n, status=Status.UNKNOWN, value="unknown", detail=reason)
            for n in row_names]


def run(ctx: Context, args: list[str]) -> Report:
    no_args(args, USAGE)
    futures = [(title, ctx.fanout.submit(_guarded_section, check, names, ctx))
               for title, check, names in SECTIONS]
    sections = [Section(title=title, rows=future.result()) for title, future in futures]
    rows = [r for s in sections for r in s.rows]
    counts = {s: sum(1 for r in rows if r.status is s) for s in Status}
    return Report(
        title="Weekly checklist",
        summary=", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s]),
        sections=sections,
        footer=f"namespace {ctx.settings.thresholds.inference_namespace} · week over week · "
        f"backups < {ctx.settings.weekly.backup_max_age_h:g} h",
    )


COMMAND = Command(
    name="weekly",
    usage=USAGE,
    summary="the weekly checklist: cost week over week, capacity trends, image scan findings, "
    "backup snapshot age",
    run=run,
)
