"""A backtest, end to end: one read of the window, every candidate pair replayed from it,
scored against the incidents, and the verdict."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.sources.prometheus import PrometheusSource
from bot.store.tune_signals import IncidentOutcome, Outcome
from bot.tune import candidates
from bot.tune.history import Grid, History, passing_sample, read
from bot.tune.replay import hold_steps
from bot.tune.rule import AlertRule, Comparison
from bot.tune.score import Pair, PairStats, Verdict, choose, evaluate


@dataclass
class Backtest:
    rule: AlertRule
    comparison: Comparison
    window: str  # as the user wrote it: "7d"
    history: History
    thresholds: list[float]
    fors: list[int]
    stats: dict[Pair, PairStats]
    current: Pair
    incidents: list[IncidentOutcome] | None  # None: no database, so no signal or noise
    verdict: Verdict | None
    elapsed_s: float

    @property
    def no_data(self) -> bool:
        return self.history.present_max is None

    def count(self, outcome: Outcome) -> int:
        return sum(1 for i in self.incidents or () if i.outcome is outcome)


def grid_for(rule: AlertRule, end_s: float, window_s: int) -> Grid:
    fors = candidates.fors(rule.for_s)
    return Grid.ending(end_s, window_s, rule.interval_s, hold_steps(max(fors), rule.interval_s))


def run(source: PrometheusSource, rule: AlertRule, comparison: Comparison, *, end_s: float,
        window_s: int, window: str, incidents: Sequence[IncidentOutcome] | None,
        max_points: int | None = None) -> Backtest:
    """Raises SourceError when Prometheus fails (the command shows it as unknown)."""
    started = time.perf_counter()
    grid = grid_for(rule, end_s, window_s)
    fors = candidates.fors(rule.for_s)
    history = read(source, comparison, candidates.lenient_bound(comparison), grid,
                   max_points=max_points)
    thresholds = candidates.thresholds(
        comparison, passing_sample(history, comparison.op, comparison.threshold))
    current = Pair(comparison.threshold, rule.for_s)
    stats = evaluate(history, comparison, rule.labels, thresholds, fors, incidents or (),
                     now_s=int(end_s))
    verdict = choose(stats, current, incidents) if incidents is not None else None
    return Backtest(rule=rule, comparison=comparison, window=window, history=history,
                    thresholds=thresholds, fors=fors, stats=stats, current=current,
                    incidents=list(incidents) if incidents is not None else None,
                    verdict=verdict, elapsed_s=time.perf_counter() - started)
