"""`/genai tune`'s backtest on backfilled history: 7 days at the rule's 1-minute step over
1,000 series, and 30 days over 100 series. Goal: under 10 s each.

The rule is `tune_bench_ratio > 0.9 for 5m` (a GPUMemoryHigh stand-in). Each series idles
between 30% and 70%, with short spikes and flapping over 90%, sustained episodes at 95-99%,
and one in ten sits near the threshold (86-89%) for hours: values the lenient candidate
(0.855) lets through. The incidents are the current rule's firings, replayed here: long ones
handled, short ones noise.

Timed: `bot.tune.backtest.run` end to end (the read of the window in parallel time slices,
the coarse count, every candidate pair replayed and scored): the first run after Prometheus
started, then the best and median of three more.
Printed with the PromQL queries it issued, the samples Prometheus returned, and the peak
Python memory of a separate run under tracemalloc.
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.sources.prometheus import PrometheusSource
from bot.store.tune_signals import IncidentOutcome, Outcome
from bot.tune import backtest
from bot.tune.replay import clip, firings, hold_steps, runs
from bot.tune.rule import AlertRule, Op, parse_comparison
from tests.harness.prom_history import HistoryPrometheus
from tests.harness.prometheus import backfill_openmetrics

STEP = 60
METRIC = "tune_bench_ratio"
RULE = AlertRule(name="TuneBench", expr=f"{METRIC} > 0.9", for_s=300, interval_s=STEP,
                 group="bench", origin="bench", labels={"severity": "warning"})
CASES = ((7, 1000), (30, 100))  # (days, series)
_VALUE = [f"{i / 100:.2f}" for i in range(101)]  # two decimals: a lookup, not a format


def _labels(i: int) -> dict[str, str]:
    return {"gpu": str(i % 8), "node": f"gpu-node-{i // 8:04d}"}


def series_values(i: int, minutes: int) -> list[int]:
    """Percent values (0-100) of series `i`, one a minute."""
    rng = random.Random(i)
    base = rng.randint(30, 70)
    out = rng.choices(range(base - 5, base + 6), k=minutes)

    def put(start: int, length: int, lo: int, hi: int) -> None:
        for k in range(start, min(minutes, start + length)):
            out[k] = rng.randint(lo, hi)

    weeks = max(1, minutes // 10080)
    for _ in range(6 * weeks):  # short spikes: never fire at 5m
        put(rng.randrange(minutes), rng.randint(1, 4), 91, 97)
    for _ in range(2 * weeks):  # flapping bursts
        start = rng.randrange(minutes)
        for j in range(0, 30, 3):
            put(start + j, rng.randint(1, 2), 91, 95)
    for _ in range(2 * weeks):  # noise: 6 to 9 minutes over 90%
        put(rng.randrange(minutes), rng.randint(6, 9), 91, 93)
    if rng.random() < 0.4:  # a real episode
        put(rng.randrange(minutes), rng.randint(30, 90), 95, 99)
    if i % 10 == 0:  # near the threshold for hours
        for _ in range(weeks):
            put(rng.randrange(minutes), rng.randint(600, 1500), 86, 89)
    return out


def write_history(path: Path, n_series: int, minutes: int, start: int) -> int:
    stamps = [f" {start + k * STEP}\n" for k in range(minutes)]
    with path.open("w", buffering=1 << 22) as out:
        out.write(f"# TYPE {METRIC} gauge\n")
        for i in range(n_series):
            head = f'{METRIC}{{gpu="{i % 8}",node="gpu-node-{i // 8:04d}"}} '
            out.write("".join([head + _VALUE[v] + stamps[k]
                               for k, v in enumerate(series_values(i, minutes))]))
        out.write("# EOF\n")
    return n_series * minutes


def incidents(n_series: int, minutes: int, start: int) -> list[IncidentOutcome]:
    """The current rule's firings as incidents: 20 minutes or longer handled, else noise."""
    hold = hold_steps(RULE.for_s, STEP)
    out = []
    for i in range(n_series):
        values = series_values(i, minutes)
        fired = firings(runs(range(minutes), [v / 100 for v in values], Op.GT, 0.9), hold)
        for a, b in clip(fired, 0, minutes - 1):
            labels = {**_labels(i), **RULE.labels, "alertname": RULE.name}
            out.append(IncidentOutcome(
                public_id=f"s{i}-{a}", began=datetime.fromtimestamp(start + a * STEP, UTC),
                ended=datetime.fromtimestamp(start + (b + 1) * STEP, UTC),
                outcome=Outcome.SIGNAL if b - a >= 20 else Outcome.NOISE,
                labels=labels, alert_labels=(labels,)))
    return out


@contextmanager
def _served(workdir: Path, n_series: int, minutes: int, start: int
            ) -> Iterator[tuple[HistoryPrometheus, float]]:
    began = time.perf_counter()
    source = workdir / "history.om"
    write_history(source, n_series, minutes, start)
    backfill_openmetrics(source, workdir / "tsdb", max_block_duration="24h")
    source.unlink()
    prom = HistoryPrometheus([], tsdb_path=workdir / "tsdb").start()
    try:
        yield prom, time.perf_counter() - began
    finally:
        prom.stop()


def case(days: int, n_series: int, workdir: Path) -> list[object]:
    lead = hold_steps(900, STEP)
    minutes = days * 1440 + lead
    end = int(time.time()) // STEP * STEP - STEP
    start = end - (minutes - 1) * STEP
    found = incidents(n_series, minutes, start)
    comparison = parse_comparison(RULE.expr)
    with _served(workdir, n_series, minutes, start) as (prom, prep_s):
        source = PrometheusSource(prom.url, timeout_s=60)

        def once() -> backtest.Backtest:
            return backtest.run(source, RULE, comparison, end_s=end, window_s=days * 86400,
                                window=f"{days}d", incidents=found)

        began = time.perf_counter()
        once()  # the first run after Prometheus started: its page cache still cold
        first = time.perf_counter() - began
        seconds: list[float] = []
        for _ in range(3):
            began = time.perf_counter()
            result = once()
            seconds.append(time.perf_counter() - began)
        tracemalloc.start()
        once()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        verdict = result.verdict
        now, best = result.stats[result.current], verdict.pair if verdict else None
        after = f"{result.stats[best].firings}" if best else "keep"
        return [f"{days} d", n_series, f"{n_series * minutes:,}", f"{prep_s:.0f}",
                f"{first:.2f}", f"{min(seconds):.2f}", f"{statistics.median(seconds):.2f}",
                result.history.queries, f"{result.history.points:,}",
                len(result.stats), f"{peak / 2**20:.0f} MiB",
                f"{now.firings} → {after}"]


def run() -> tuple[list[str], list[list[object]]]:
    header = ["window", "series", "samples backfilled", "prepare s", "first run s", "best s",
              "median s", "queries", "samples returned", "pairs", "peak Python memory",
              "firings now → recommended"]
    rows: list[list[object]] = []
    for days, n_series in CASES:
        workdir = Path(tempfile.mkdtemp(prefix="genai-bench-tune-"))
        try:
            rows.append(case(days, n_series, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return header, rows
