"""One read of a rule's history: the left side of its comparison at every evaluation of the
window, as compact per-series arrays.

Prometheus does the per-series filtering: the query is `(left) <op> <most lenient candidate>`,
so only evaluations where some candidate could pass cross the wire, and every candidate
threshold is replayed exactly from them (a value missing from the answer is absent or fails
the most lenient threshold, and so fails every candidate). The window is read once, at the
rule's evaluation step: up to four time slices side by side (Prometheus evaluates a query on
one core), each in chunks of at most 11,000 steps. A lead-in of the longest candidate `for`
before the window replays alerts already pending when it begins.

A second, coarse query (`count(left)`, about 100 steps) says whether the expression had data
at all: a replay of nothing must read "no data", never "0 firings".
"""

from __future__ import annotations

from array import array
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bot.sources.prometheus import PrometheusSource, Series
from bot.tune.rule import Comparison, Op, number

COVERAGE_POINTS = 100
SAMPLE_LIMIT = 100_000  # values kept for the quantile candidates
MAX_SLICES = 4  # parallel range queries over one window
MIN_SLICE_POINTS = 2_500  # a shorter window is one query
# Its own pool: its tasks never wait on it, so concurrent backtests only queue.
_POOL = ThreadPoolExecutor(max_workers=2 * (MAX_SLICES + 1), thread_name_prefix="tune-read")


@dataclass
class SeriesHistory:
    labels: dict[str, str]  # the alert's identity: the series' labels without __name__
    ks: array[int] = field(default_factory=lambda: array("q"))  # evaluation indexes
    vs: array[float] = field(default_factory=lambda: array("d"))


@dataclass(frozen=True)
class Grid:
    """Evaluation k of the window is at `origin_s + k * interval_s`, k = 0..last; the
    lead-in runs from `first` (<= 0)."""

    origin_s: int
    interval_s: int
    first: int
    last: int

    def time(self, k: int) -> int:
        return self.origin_s + k * self.interval_s

    @classmethod
    def ending(cls, end_s: float, window_s: int, interval_s: int, lead: int) -> Grid:
        last_t = int(end_s) // interval_s * interval_s
        evals = max(1, window_s // interval_s)
        return cls(origin_s=last_t - (evals - 1) * interval_s, interval_s=interval_s,
                   first=-lead, last=evals - 1)


@dataclass
class History:
    grid: Grid
    bound: float  # the filter: only values passing `op bound` were read
    series: list[SeriesHistory]
    points: int
    present_max: int | None  # most series present at once (coarse); None: no data at all
    present_from_s: int | None  # first coarse step with any series
    queries: int


def filter_expr(comparison: Comparison, bound: float) -> str:
    return f"({comparison.left}) {comparison.op.value} {number(bound)}"


def slices(first: int, last: int) -> list[tuple[int, int]]:
    """The window's evaluations `first..last` cut into up to MAX_SLICES consecutive slices of
    at least MIN_SLICE_POINTS, read side by side."""
    total = last - first + 1
    n = max(1, min(MAX_SLICES, total // MIN_SLICE_POINTS))
    size = -(-total // n)
    return [(a, min(last, a + size - 1)) for a in range(first, last + 1, size)]


def read(source: PrometheusSource, comparison: Comparison, bound: float, grid: Grid,
         *, max_points: int | None = None, timeout_s: float = 60.0) -> History:
    """Read the window once; raises SourceError (the caller makes that `unknown`)."""
    before = source.queries_issued
    step = grid.interval_s
    expr = filter_expr(comparison, bound)
    kwargs = {"max_points": max_points} if max_points else {}

    def part(a: int, b: int) -> list[list[Series]]:
        return list(source.query_range_chunks(expr, grid.time(a), grid.time(b), step,
                                              timeout_s=timeout_s, **kwargs))

    # Time slices and the coarse count run side by side: Prometheus evaluates each query on
    # one core, so a long window is read in a fraction of the time, still each sample once.
    coverage = _POOL.submit(_coverage, source, comparison, grid, timeout_s)
    parts = [_POOL.submit(part, a, b) for a, b in slices(grid.first, grid.last)]
    by_key: dict[tuple[tuple[str, str], ...], SeriesHistory] = {}
    points = 0
    for future in parts:
        for chunk in future.result():
            for series in chunk:
                labels = {k: v for k, v in series.labels.items() if k != "__name__"}
                key = tuple(sorted(labels.items()))
                entry = by_key.get(key)
                if entry is None:
                    entry = by_key[key] = SeriesHistory(labels=labels)
                ks, vs = entry.ks, entry.vs
                for t, v in series.points:
                    ks.append(round((t - grid.origin_s) / step))
                    vs.append(v)
                points += len(series.points)
    present_max, present_from = coverage.result()
    return History(grid=grid, bound=bound, series=list(by_key.values()), points=points,
                   present_max=present_max, present_from_s=present_from,
                   queries=source.queries_issued - before)


def _coverage(source: PrometheusSource, comparison: Comparison, grid: Grid,
              timeout_s: float) -> tuple[int | None, int | None]:
    start, end = grid.time(0), grid.time(grid.last)
    step = max(grid.interval_s, -(-(end - start) // COVERAGE_POINTS // grid.interval_s)
               * grid.interval_s)
    counts = [p for chunk in source.query_range_chunks(
        f"count({comparison.left})", start, end, step, timeout_s=timeout_s)
        for s in chunk for p in s.points]
    if not counts:
        return None, None
    return int(max(v for _, v in counts)), int(min(t for t, _ in counts))


def passing_sample(history: History, op: Op, threshold: float) -> list[float]:
    """Values inside the window that pass `op threshold`; a stride sample past
    SAMPLE_LIMIT (they only place the quantile candidates)."""
    stride = max(1, history.points // SAMPLE_LIMIT)
    out: list[float] = []
    for s in history.series:
        vs, ks = s.vs, s.ks
        out.extend(vs[i] for i in range(0, len(vs), stride)
                   if ks[i] >= 0 and op.holds(vs[i], threshold))
    return out
