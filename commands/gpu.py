"""`/genai gpu [node]`: the fleet's riskiest GPUs first, or every GPU of one node.

Prometheus filters, so only risky GPUs cross the wire. For the fleet:
1. a `risky` query: every GPU at each risk with the value that put it there (each filter
   evaluated once), plus the GPU and node counts; concurrently, the 6 h
   cluster-utilisation range query for the sparkline;
2. a `details` query with every stat, restricted by a host regex to the 25 shown GPUs' nodes.
Three queries at any fleet size. The baseline (every stat of every GPU, 48,000 samples at
1,000 nodes, ranked in Python) runs beside it in `make bench`; README has the figures.
For one node: the details query on that node's name, and the trend.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.errors import SourceError, UsageError
from bot.report import Report, Row, Section, Status
from bot.sources.prometheus import Sample, Series
from bot.words import noun, plural
from commands import promql
from commands.base import Command, Context

USAGE = "/genai gpu [node]"

# The guide's alert thresholds that Settings.thresholds does not carry.
GPU_TEMP_MAX_C = 80.0
GPU_IDLE_MAX_PCT = 20.0

MAX_ROWS = 25  # offenders shown for the fleet; the summary counts all of them
TREND_HOURS = 6
TREND_STEP_S = 600  # 6 h / 10 min -> 37 points
SPARK = "▁▂▃▄▅▆▇█"
HOST_LABELS = ("node", "Hostname", "hostname")
_BY = "max by (node, Hostname, hostname, gpu)"

# Each stat is a template over a series matcher `$S` ("" for the whole fleet), so the same
# expressions serve the fleet, the offenders' nodes and one node.
STATS = {
    "util": "DCGM_FI_DEV_GPU_UTIL$S",
    "mem": "(DCGM_FI_DEV_FB_USED$S / (DCGM_FI_DEV_FB_USED$S + DCGM_FI_DEV_FB_FREE$S))",
    "temp": "DCGM_FI_DEV_GPU_TEMP$S",
    "power": "DCGM_FI_DEV_POWER_USAGE$S",
    "xid": "DCGM_FI_DEV_XID_ERRORS$S",
    "avg1h": "avg_over_time(DCGM_FI_DEV_GPU_UTIL$S[1h])",
}
TREND_QUERY = f"avg({promql.GPU_UTIL})"
NODES_QUERY = f"count by (node, Hostname, hostname) ({promql.GPU_UTIL})"


def stat(name: str, matchers: Sequence[str] = ("",)) -> str:
    """One stat per GPU (host and GPU labels only) over the series any matcher selects. A
    series that two matchers select (its `node` and `Hostname` agree) is kept once by `or`."""
    union = " or ".join(STATS[name].replace("$S", m) for m in matchers)
    return f"{_BY} ({union})"


@dataclass(frozen=True)
class Limits:
    mem_ratio: float
    temp_c: float = GPU_TEMP_MAX_C
    idle_pct: float = GPU_IDLE_MAX_PCT

    def filters(self) -> dict[str, str]:
        """Per risk, the GPUs at that risk as PromQL; the same rules as `risks()`."""
        return {
            "near-OOM": f"{stat('mem')} > {self.mem_ratio:g}",
            "hot": f"{stat('temp')} > {self.temp_c:g}",
            "idle": f"{stat('avg1h')} < {self.idle_pct:g}",
            "XID": f"{stat('xid')} > 0",
        }


# The stat each risk's filter returns as its value (what the ranking sorts on).
RISK_STAT = {"near-OOM": "mem", "hot": "temp", "idle": "avg1h", "XID": "xid"}
# What a GPU must export for each risk to be judged: without it the risk is unknown, not 0.
RISK_SOURCE = {"near-OOM": "DCGM_FI_DEV_FB_USED / DCGM_FI_DEV_FB_FREE",
               "hot": "DCGM_FI_DEV_GPU_TEMP", "idle": "DCGM_FI_DEV_GPU_UTIL",
               "XID": "DCGM_FI_DEV_XID_ERRORS"}


def risky_query(lim: Limits) -> str:
    """Every GPU at each risk, with the value that put it there, plus the fleet's GPU and
    node counts. Each filter is evaluated once, and only risky GPUs cross the wire (a few
    hundred samples in a 1,000-node fleet; 8,000 if every GPU idles at night)."""
    return promql.stats_query({
        "gpus": f"count({promql.GPU_UTIL})",
        "nodes": f"count({NODES_QUERY})",
        # How many GPUs each risk could be judged on: a GPU without the stat is unknown.
        **{f"read:{risk}": f"count({stat(name)})" for risk, name in RISK_STAT.items()},
        **lim.filters(),
    })


def details_query(matchers: Sequence[str]) -> str:
    return promql.stats_query({name: stat(name, matchers) for name in STATS})


def host_matchers(samples: Sequence[Sample]) -> list[str]:
    """`{label=~"a|b"}` for each host label the samples carry: selects their nodes' GPUs."""
    values: dict[str, set[str]] = {label: set() for label in HOST_LABELS}
    for sample in samples:
        for label in HOST_LABELS:
            if value := sample.labels.get(label):
                values[label].add(value)
    return [f"{{{label}=~{promql.label_regex(vals)}}}" for label, vals in values.items() if vals]


def node_matchers(node: str) -> list[str]:
    return [f"{{{label}={promql.label_string(node)}}}" for label in HOST_LABELS]


def gpu_key(labels: Mapping[str, str]) -> tuple[str, str]:
    return promql.gpu_host(labels), labels.get("gpu", "?")


@dataclass
class Gpu:
    host: str
    index: str
    hosts: set[str] = field(default_factory=set)  # every host label value seen
    values: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.host}/gpu{self.index}"

    def get(self, stat: str) -> float | None:
        return self.values.get(stat)


def _over(value: float | None, limit: float) -> bool:
    return value is not None and value > limit


def risks(gpu: Gpu, lim: Limits) -> list[str]:
    """The GPU's problems, in ranking order: near-OOM, hot, idle, XID."""
    out = []
    if _over(gpu.get("mem"), lim.mem_ratio):
        out.append("near-OOM")
    if _over(gpu.get("temp"), lim.temp_c):
        out.append("hot")
    avg = gpu.get("avg1h")
    if avg is not None and avg < lim.idle_pct:
        out.append("idle")
    if gpu.get("xid"):
        out.append("XID")
    return out


_CATEGORY = {"near-OOM": 0, "hot": 1, "idle": 2, "XID": 3}


def rank_key(gpu: Gpu, lim: Limits) -> tuple[int, float, str, int]:
    """Near-OOM by memory desc, then hot by temperature desc, then idle by 1 h average asc,
    then XID; healthy GPUs last. Ties by name."""
    found = risks(gpu, lim)
    category = _CATEGORY[found[0]] if found else 9
    if category == 0:
        score = -(gpu.get("mem") or 0.0)
    elif category == 1:
        score = -(gpu.get("temp") or 0.0)
    elif category == 2:
        score = gpu.get("avg1h") or 0.0
    else:
        score = 0.0
    index = int(gpu.index) if gpu.index.isdigit() else 0
    return category, score, gpu.host, index


def collect(samples_by_stat: Mapping[str, list[Sample]]) -> list[Gpu]:
    gpus: dict[tuple[str, str], Gpu] = {}
    for stat, samples in samples_by_stat.items():
        for sample in samples:
            host, index = key = gpu_key(sample.labels)
            gpu = gpus.get(key)
            if gpu is None:
                gpu = gpus[key] = Gpu(host=host, index=index)
            gpu.hosts.update(v for k in HOST_LABELS if (v := sample.labels.get(k)))
            gpu.values[stat] = sample.value
    return list(gpus.values())


def _fmt(value: float | None, fmt: str) -> str:
    return "?" if value is None else fmt.format(value)


def unread(gpu: Gpu) -> list[str]:
    """The risks this GPU exports no reading for."""
    return [risk for risk, name in RISK_STAT.items() if gpu.get(name) is None]


def gpu_row(gpu: Gpu, lim: Limits) -> Row:
    found = risks(gpu, lim)
    missing = unread(gpu)
    status = Status.OK
    if "near-OOM" in found or "XID" in found:
        status = Status.FAIL
    elif found:
        status = Status.WARN
    elif missing:
        status = Status.UNKNOWN  # no risk seen, but not every risk could be looked at
    value = (f"util {_fmt(gpu.get('util'), '{:.0f}')}% · mem {_fmt(gpu.get('mem'), '{:.0%}')}"
             f" · {_fmt(gpu.get('temp'), '{:.0f}')} °C · {_fmt(gpu.get('power'), '{:.0f}')} W")
    detail = [f"1 h avg util {_fmt(gpu.get('avg1h'), '{:.0f}')}%"]
    xid = gpu.get("xid")
    if xid:
        detail.append(f"last XID {xid:.0f}")
    if missing:
        detail.append("unknown: " + ", ".join(f"{risk} (no {RISK_SOURCE[risk]})"
                                               for risk in missing))
    return Row(check=gpu.name, status=status, value=value,
               threshold=", ".join(found), detail="; ".join(detail))


def sparkline(values: list[float]) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = hi - lo
    top = len(SPARK) - 1
    return "".join(SPARK[round((v - lo) / span * top) if span else top // 2] for v in values)


def _trend(ctx: Context) -> str:
    end = datetime.now(UTC)
    series: list[Series] = ctx.prometheus.query_range(
        TREND_QUERY, end - timedelta(hours=TREND_HOURS), end, TREND_STEP_S)
    points = [v for _, v in series[0].points] if series else []
    if not points:
        return f"cluster util {TREND_HOURS} h: no data"
    return (f"cluster util {TREND_HOURS} h {sparkline(points)} "
            f"{min(points):.0f}–{max(points):.0f}%, now {points[-1]:.0f}%")


def _legend(lim: Limits) -> str:
    return (f"near-OOM: memory > {lim.mem_ratio:.0%} · hot: > {lim.temp_c:g} °C · "
            f"idle: 1 h avg util < {lim.idle_pct:g}% · memory = FB_USED / (FB_USED + FB_FREE)")


def run(ctx: Context, args: list[str]) -> Report:
    if len(args) > 1:
        raise UsageError(f"unexpected argument {args[1]!r}. Usage: {USAGE}")
    lim = Limits(mem_ratio=ctx.settings.thresholds.gpu_mem_max_ratio)
    trend_future = ctx.fanout.submit(_trend, ctx)
    try:
        report = _node_report(ctx, args[0], lim) if args else _fleet_report(ctx, lim)
    except SourceError as exc:
        trend_future.cancel()
        return _unknown("GPU data unavailable", str(exc))
    try:
        trend = trend_future.result()
    except SourceError as exc:
        trend = f"cluster util {TREND_HOURS} h: unknown ({exc})"
    if not report.private:
        report.summary = f"{report.summary} · {trend}" if report.summary else trend
    return report


def _unknown(summary: str, detail: str) -> Report:
    return Report(title="GPUs", summary=summary, sections=[Section(rows=[
        Row(check="DCGM GPUs", status=Status.UNKNOWN, value="unknown", detail=detail)])])


def _no_data() -> Report:
    return Report(title="GPUs", summary="", sections=[Section(rows=[
        Row(check="DCGM GPUs", status=Status.UNKNOWN, value="no data",
            detail="no DCGM_FI_DEV_* series (is dcgm-exporter scraped?)")])])


def _summary(gpus: int, nodes: int, counts: Mapping[str, int], read: Mapping[str, int]) -> str:
    """Counts per risk; a risk read on fewer GPUs than exist says so instead of a bare 0."""
    def count(risk: str) -> str:
        seen = read.get(risk, 0)
        if seen == 0:
            return f"{risk} unknown"
        if seen < gpus:
            return f"{counts.get(risk, 0)} {risk} (of {seen} read)"
        return f"{counts.get(risk, 0)} {risk}"

    return (f"{plural(gpus, 'GPU')} on {plural(nodes, 'node')} · " +
            " · ".join(count(risk) for risk in ("hot", "near-OOM", "idle", "XID")))


def unread_rows(gpus: int, read: Mapping[str, int]) -> list[Row]:
    """One `unknown` row per risk some GPUs export no reading for."""
    rows = []
    for risk, source in RISK_SOURCE.items():
        missing = gpus - read.get(risk, 0)
        if missing > 0:
            rows.append(Row(check=f"{risk} check", status=Status.UNKNOWN,
                            value=f"unknown on {missing} of {plural(gpus, 'GPU')}",
                            detail=f"no {source} samples: the dcgm-exporter counters "
                                   f"(its CSV) must include them to judge {risk}"))
    return rows


def _fleet_report(ctx: Context, lim: Limits) -> Report:
    by_stat = promql.split_stats(ctx.prometheus.query(risky_query(lim)))
    gpus, nodes = (int(by_stat[k][0].value) if by_stat.get(k) else 0 for k in ("gpus", "nodes"))
    if not gpus:
        return _no_data()
    counts = {risk: len(by_stat.get(risk, [])) for risk in RISK_STAT}
    read = {risk: int(by_stat[f"read:{risk}"][0].value) if by_stat.get(f"read:{risk}") else 0
            for risk in RISK_STAT}
    # Rank on the values the filters returned: each GPU carries the stat of every risk it
    # has, which is all rank_key reads. Details are then fetched for the shown ones only.
    flagged = collect({RISK_STAT[risk]: by_stat.get(risk, []) for risk in RISK_STAT})
    top = sorted(flagged, key=lambda g: rank_key(g, lim))[:MAX_ROWS]
    shown: list[Gpu] = []
    if top:
        wanted = {(g.host, g.index) for g in top}
        samples = [s for risk in RISK_STAT for s in by_stat.get(risk, [])
                   if gpu_key(s.labels) in wanted]
        details = collect(promql.split_stats(
            ctx.prometheus.query(details_query(host_matchers(samples)))))
        # Values may have moved since the first query: rank again on the fresh ones.
        fresh = [g for g in details if (g.host, g.index) in wanted and risks(g, lim)]
        shown = sorted(fresh, key=lambda g: rank_key(g, lim))
    lines = []
    more = len(flagged) - len(shown)
    if more > 0:
        lines.append(f"… and {more} more {noun(more, 'GPU')} over a threshold "
                     "(see the counts above; /genai gpu <node> for one node)")
    unknown = unread_rows(gpus, read)
    if not shown:
        lines.append("No GPU over a threshold" + (" where it could be read." if unknown
                                                   else "."))
    return Report(
        title="GPUs: riskiest first",
        summary=_summary(gpus, nodes, counts, read),
        sections=[Section(rows=unknown + [gpu_row(g, lim) for g in shown], lines=lines)],
        footer=_legend(lim),
    )


def _node_report(ctx: Context, node: str, lim: Limits) -> Report:
    mine = collect(promql.split_stats(ctx.prometheus.query(details_query(node_matchers(node)))))
    if not mine:
        names = sorted({v for s in ctx.prometheus.query(NODES_QUERY)
                        for k in HOST_LABELS if (v := s.labels.get(k))})
        if not names:
            return _no_data()
        close = difflib.get_close_matches(node, names, n=5, cutoff=0.0)
        return Report.message(
            "Unknown node",
            f"No DCGM GPUs on node {node!r}. Closest node names: {', '.join(close)}.",
            f"Usage: {USAGE}",
        )
    mine.sort(key=lambda g: rank_key(g, lim))
    counts = dict.fromkeys(("near-OOM", "hot", "idle", "XID"), 0)
    read = dict.fromkeys(RISK_STAT, len(mine))
    for gpu in mine:
        for risk in risks(gpu, lim):
            counts[risk] += 1
        for risk in unread(gpu):
            read[risk] -= 1
    return Report(
        title=f"GPUs on {node}",
        summary=_summary(len(mine), 1, counts, read),
        sections=[Section(rows=[gpu_row(g, lim) for g in mine])],
        footer=_legend(lim),
    )


COMMAND = Command(
    name="gpu",
    usage=USAGE,
    summary="riskiest GPUs first (near-OOM, hot, idle, XID) with a 6 h utilisation trend; "
    "or every GPU of one node",
    run=run,
    examples=("/genai gpu", "/genai gpu gpu-node-0042"),
)
