"""Prometheus' pending -> firing semantics, replayed over one series. Pure: no I/O.

What `AlertingRule.Eval` does at each evaluation `ts`, for one output series of the rule:
- the series is in the result (its value passes the comparison): if it has no active alert,
  a pending one starts with `ActiveAt = ts`; if it is pending and `ts - ActiveAt >= for`,
  it fires (`for: 0` fires at the first evaluation);
- the series is not in the result (the value fails the comparison, or the series is absent,
  i.e. no sample within the 5-minute lookback): a pending alert is dropped and a firing one
  resolves. When the series passes again, a new pending alert starts from that evaluation.

So an alert fires exactly on the evaluations of a run of consecutive passing evaluations
that lie at least `for` after the run's first one, and resolves at the evaluation after the
run. :func:`runs` finds the runs, :func:`firings` the firing part of each; :func:`reference`
is the step-by-step state machine, kept as the executable statement of the semantics (the
tests check one against the other and both against `promtool test rules`).

Evaluations are integer indexes on the rule's evaluation grid (time = origin + k * interval).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.tune.rule import Op

Run = tuple[int, int]  # first and last evaluation index, inclusive
_NONE = -(1 << 62)  # no evaluation yet (indexes are small, possibly negative in a lead-in)


def hold_steps(for_s: int, interval_s: int) -> int:
    """Evaluations after ActiveAt before firing: the least k with k * interval >= for."""
    return -(-for_s // interval_s) if for_s > 0 else 0


def runs(ks: Sequence[int], vs: Sequence[float], op: Op, threshold: float) -> list[Run]:
    """Maximal runs of consecutive evaluations at which the series was present and its value
    passed `op threshold`. ``ks`` ascending; evaluations missing from ``ks`` are absent."""
    out: list[Run] = []
    start = prev = _NONE
    # One comparison form per loop: `<` and `<=` negate both sides into `>` and `>=`.
    sign = 1.0 if op.upward else -1.0
    limit = sign * threshold
    strict = op in (Op.GT, Op.LT)
    for k, v in zip(ks, vs, strict=True):
        value = sign * v
        if (value > limit) if strict else (value >= limit):
            if k != prev + 1:
                if prev != _NONE:
                    out.append((start, prev))
                start = k
            prev = k
    if prev != _NONE:
        out.append((start, prev))
    return out


def firings(condition_runs: Sequence[Run], hold: int) -> list[Run]:
    """The firing evaluations of each run: from `hold` evaluations after its start to its
    end, for the runs that last that long. The alert resolves at `last + 1`."""
    return [(a + hold, b) for a, b in condition_runs if b - a >= hold]


def clip(fired: Sequence[Run], first: int, last: int) -> list[Run]:
    """Firings restricted to evaluations `first..last` (a window after a lead-in)."""
    return [(max(a, first), min(b, last)) for a, b in fired if b >= first and a <= last]


def reference(values: Sequence[float | None], op: Op, threshold: float, for_s: int,
              interval_s: int) -> list[bool]:
    """Firing or not at each evaluation, computed step by step as Prometheus does.
    ``values[k]`` is the series' value at evaluation k, None where it is absent."""
    active_at: int | None = None
    firing = False
    out: list[bool] = []
    for k, value in enumerate(values):
        if value is None or not op.holds(value, threshold):
            active_at, firing = None, False  # pending dropped, or firing resolved
        else:
            if active_at is None:
                active_at = k
            if not firing and (k - active_at) * interval_s >= for_s:
                firing = True
        out.append(firing)
    return out
