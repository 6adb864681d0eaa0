"""Which thresholds and `for` durations a backtest tries.

Thresholds: the current one; steps of 5% of it, one to the lenient side and three to the
strict side; and quantiles of the values that pass the current threshold (where its
firings actually sit). `for`: 1, 5, 10 and 15 minutes and the current one.

The lenient step is the lowest (for `>`) threshold tried: the history query asks
Prometheus only for values that pass it, which is enough to replay every candidate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.tune.rule import Comparison

FOR_CANDIDATES_S = (60, 300, 600, 900)
STEP_FRACTION = 0.05
STEPS = (-1, 1, 2, 3)  # in steps to the strict side
QUANTILES = (0.5, 0.75, 0.9, 0.99)


def fors(current_s: int) -> list[int]:
    return sorted({*FOR_CANDIDATES_S, current_s})


def step(comparison: Comparison) -> float:
    return abs(comparison.threshold) * STEP_FRACTION


def _toward_strict(comparison: Comparison, value: float, k: float) -> float:
    return value + k if comparison.op.upward else value - k


def lenient_bound(comparison: Comparison) -> float:
    """The most lenient threshold tried (the history query's filter)."""
    return _nice(_toward_strict(comparison, comparison.threshold, -step(comparison)))


def strictness(comparison: Comparison, threshold: float) -> float:
    """Orders thresholds from lenient to strict, whatever the comparison's direction."""
    return threshold if comparison.op.upward else -threshold


def _nice(value: float) -> float:
    """Three significant digits: a number a person would write into a rule."""
    return float(f"{value:.3g}") if value else 0.0


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of ascending values (linear interpolation, like numpy's default)."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def thresholds(comparison: Comparison, passing: Sequence[float]) -> list[float]:
    """Candidate thresholds, lenient to strict. ``passing``: observed values that pass the
    current threshold (any order; a sample of them is enough)."""
    current = comparison.threshold
    bound = lenient_bound(comparison)
    found = {current, bound}
    delta = step(comparison)
    found.update(_nice(_toward_strict(comparison, current, k * delta)) for k in STEPS if delta)
    ordered = sorted(passing)
    if ordered:
        # The strict side of the passing values: the top for `>`, the bottom for `<`.
        up = comparison.op.upward
        found.update(_nice(quantile(ordered, q if up else 1 - q)) for q in QUANTILES)
    floor = strictness(comparison, bound)
    return sorted((t for t in found if strictness(comparison, t) >= floor),
                  key=lambda t: strictness(comparison, t))
