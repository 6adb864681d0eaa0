"""The replay fires exactly when Prometheus would.

Series with known crossings (short spikes, flapping, gaps shorter and longer than the
5-minute lookback, series appearing and vanishing mid-window, values exactly at the
threshold) are backfilled into a real Prometheus that evaluates the rule. The backtest reads
the rule from its rules API and the history in one query; the replay's firing intervals, for
the current threshold and `for` and for other candidate pairs, are then written as
`promtool test rules` expectations at every evaluation time, on the same series and rules.
promtool must agree everywhere. The pure parts (the run-based replay against a literal
state machine, the expression split, durations, candidates) are checked on their own.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.prometheus import PrometheusSource
from bot.store.tune_signals import IncidentOutcome, Outcome
from bot.tune import candidates, lookup
from bot.tune.backtest import grid_for
from bot.tune.history import History, read
from bot.tune.replay import clip, firings, hold_steps, reference, runs
from bot.tune.rule import Comparison, NotTunable, Op, duration, parse_comparison, parse_duration
from bot.tune.score import Pair, PairStats, choose, evaluate
from tests.harness.binaries import require_binary
from tests.harness.procs import PrometheusProcess
from tests.harness.prom_history import GridSeries, promtool_values, served

STEP = 60
EVALS = 240  # four hours at the rule's 1m step
METRIC = "tune_signal"
HIGH, LOW = 0.95, 0.5
# (threshold, for): the rule's own first, then candidates on both sides of it.
PAIRS = [(0.9, 300), (0.9, 0), (0.95, 60), (0.92, 600), (0.855, 900), (0.9, 90)]


def _spans(*spans: tuple[int, int, float], base: float | None = LOW) -> list[float | None]:
    values: list[float | None] = [base] * EVALS
    for a, b, v in spans:
        for k in range(a, b + 1):
            values[k] = v
    return values


def _missing(values: list[float | None], a: int, b: int) -> list[float | None]:
    return [None if a <= k <= b else v for k, v in enumerate(values)]


def crossings() -> dict[str, list[float | None]]:
    flap = _spans(*((k, k + (k % 3), HIGH) for k in range(20, 80, 4)), (100, 120, 0.97))
    rng = random.Random(13)
    walk: list[float | None] = []
    level = 0.88
    for k in range(EVALS):
        level = min(1.0, max(0.8, level + rng.choice((-0.02, -0.01, 0.0, 0.01, 0.02))))
        walk.append(None if 140 <= k <= 150 or rng.random() < 0.03 else round(level, 2))
    return {
        "spikes": _spans((10, 10, HIGH), (20, 21, HIGH), (30, 33, HIGH), (40, 45, HIGH),
                         (60, 66, HIGH), (70, 76, 0.93)),
        "sustained": _spans((80, 130, 0.97)),
        "flapping": flap,
        "gap_within_lookback": _missing(_spans((50, 80, HIGH)), 58, 60),
        "gap_past_lookback": _missing(_spans((50, 100, HIGH)), 60, 68),
        "appears_mid_window": [None] * 100 + _spans((100, 125, HIGH))[100:],
        "vanishes_while_firing": _spans((150, 175, HIGH))[:171] + [None] * (EVALS - 171),
        "at_threshold": _spans((30, 60, 0.9), (61, 70, 0.9000001), (90, 120, 0.9)),
        "from_the_start": _spans((0, 12, HIGH)),
        "till_the_end": _spans((200, EVALS - 1, HIGH)),
        "random_walk": walk,
    }


def grid_series() -> list[GridSeries]:
    return [GridSeries(METRIC, {"case": name, "gpu": str(i)}, values)
            for i, (name, values) in enumerate(crossings().items())]


def rule_group(pairs: list[tuple[float, int]]) -> dict[str, object]:
    return {"groups": [{"name": "tune-parity", "interval": "1m", "rules": [
        {"alert": f"TuneParity{i}", "expr": f"{METRIC} > {t!r}", "for": duration(f),
         "labels": {"severity": "warning"}}
        for i, (t, f) in enumerate(pairs)]}]}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, int,
                                                                      Path]]:
    work = tmp_path_factory.mktemp("tune-parity")
    rules = work / "rules.yaml"
    rules.write_text(yaml.safe_dump(rule_group(PAIRS), sort_keys=False))
    # Four hours that ended an hour ago, on the minute grid.
    start = (int(time.time()) - 5 * 3600) // 3600 * 3600
    with served(work / "prom", grid_series(), start, STEP, rule_files=[rules]) as prom:
        yield prom, start, rules


def _history(prom: PrometheusProcess, start: int) -> tuple[History, Comparison, int]:
    source = PrometheusSource(prom.url, timeout_s=10)
    choice = lookup.find(source, "TuneParity0")
    assert choice.rule is not None and choice.comparison is not None, choice
    rule = choice.rule
    assert (rule.origin, rule.interval_s, rule.for_s) == ("Prometheus", STEP, 300)
    assert rule.labels == {"severity": "warning"}
    end = start + (EVALS - 1) * STEP
    grid = grid_for(rule, end, EVALS * STEP)
    assert (grid.origin_s, grid.last, grid.first) == (start, EVALS - 1, -15)
    history = read(source, choice.comparison, candidates.lenient_bound(choice.comparison), grid)
    assert history.queries == 2  # the window once, and the coarse count
    # Read again in chunks of 7 steps (38 queries): the same evaluations, none twice.
    chunked = read(source, choice.comparison, candidates.lenient_bound(choice.comparison), grid,
                   max_points=7)
    assert chunked.queries == -(-(EVALS + 15) // 7) + 1
    def arrays(h: History) -> list[tuple[list[tuple[str, str]], list[int], list[float]]]:
        return sorted((sorted(s.labels.items()), list(s.ks), list(s.vs)) for s in h.series)

    assert arrays(chunked) == arrays(history)
    assert history.present_max == len(crossings())  # all at once, between 100 and 170
    return history, choice.comparison, end


def _replayed(history: History, op: Op, pairs: list[tuple[float, int]]
              ) -> dict[int, dict[int, list[dict[str, str]]]]:
    """pair index -> evaluation -> the firing alerts' labels, from the replay."""
    out: dict[int, dict[int, list[dict[str, str]]]] = {}
    for i, (threshold, for_s) in enumerate(pairs):
        at: dict[int, list[dict[str, str]]] = {}
        for s in history.series:
            fired = firings(runs(s.ks, s.vs, op, threshold), hold_steps(for_s, STEP))
            for a, b in clip(fired, 0, EVALS - 1):
                for k in range(a, b + 1):
                    at.setdefault(k, []).append({**s.labels, "severity": "warning"})
        out[i] = at
    return out


def _promtool_test(rules: Path, expected: dict[int, dict[int, list[dict[str, str]]]]
                   ) -> dict[str, object]:
    return {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": s.selector(), "values": promtool_values(s.values)}
                         for s in grid_series()],
        "alert_rule_test": [
            {"eval_time": f"{k}m", "alertname": f"TuneParity{i}",
             "exp_alerts": [{"exp_labels": labels} for labels in at.get(k, [])]}
            for i, at in expected.items() for k in range(EVALS)],
    }]}


def _promtool(path: Path) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool", "promtool test rules is the reference")
    return subprocess.run([binary, "test", "rules", str(path)], capture_output=True, text=True,
                          timeout=120, check=False)


def test_replay_agrees_with_promtool_at_every_evaluation(
        world: tuple[PrometheusProcess, int, Path], tmp_path: Path) -> None:
    prom, start, rules = world
    history, comparison, end = _history(prom, start)
    assert all(t >= candidates.lenient_bound(comparison) for t, _ in PAIRS)
    expected = _replayed(history, comparison.op, PAIRS)
    assert sum(len(v) for v in expected[0].values()) > 50  # the rule itself fires plenty
    test_file = tmp_path / "parity.yaml"
    test_file.write_text(yaml.safe_dump(_promtool_test(rules, expected), sort_keys=False))
    done = _promtool(test_file)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]

    # The scoring path counts the same firings (intervals and time firing) as checked above.
    thresholds = sorted({t for t, _ in PAIRS})
    fors = sorted({f for _, f in PAIRS})
    stats = evaluate(history, comparison, {}, thresholds, fors, [], now_s=end)
    for i, (threshold, for_s) in enumerate(PAIRS):
        fired_evals = sum(len(v) for v in expected[i].values())
        assert stats[Pair(threshold, for_s)].firing_s == fired_evals * STEP, (threshold, for_s)


def test_the_promtool_check_can_fail(world: tuple[PrometheusProcess, int, Path],
                                     tmp_path: Path) -> None:
    """One firing alert left out at one evaluation, and promtool says so."""
    prom, start, rules = world
    history, comparison, _ = _history(prom, start)
    expected = _replayed(history, comparison.op, PAIRS[:1])
    k = min(expected[0])
    expected[0][k] = expected[0][k][1:]
    test_file = tmp_path / "broken.yaml"
    test_file.write_text(yaml.safe_dump(_promtool_test(rules, expected), sort_keys=False))
    done = _promtool(test_file)
    assert done.returncode != 0 and "TuneParity0" in done.stdout + done.stderr


# -- the pure parts -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from([0.5, 0.9, 0.95, 1.0])),
                       max_size=60),
       op=st.sampled_from(list(Op)), threshold=st.sampled_from([0.5, 0.9, 0.95]),
       for_s=st.sampled_from([0, 30, 60, 90, 300, 600]))
def test_runs_and_firings_equal_the_state_machine(values: list[float | None], op: Op,
                                                  threshold: float, for_s: int) -> None:
    ks = [k for k, v in enumerate(values) if v is not None]
    vs = [v for v in values if v is not None]
    fired = firings(runs(ks, vs, op, threshold), hold_steps(for_s, STEP))
    got = [any(a <= k <= b for a, b in fired) for k in range(len(values))]
    assert got == reference(values, op, threshold, for_s, STEP)


def test_a_lead_in_replays_alerts_pending_when_the_window_opens() -> None:
    condition = runs([-4, -3, -2, -1, 0, 1, 2], [1.0] * 7, Op.GT, 0.5)
    assert condition == [(-4, 2)]
    assert clip(firings(condition, 5), 0, 10) == [(1, 2)]  # pending since -4: fires at 1
    assert clip(firings(condition, 0), 0, 10) == [(0, 2)]


@pytest.mark.parametrize(("expr", "left", "op", "threshold"), [
    ("DCGM_FI_DEV_GPU_TEMP > 80", "DCGM_FI_DEV_GPU_TEMP", Op.GT, 80.0),
    ("0.9 < a / (a + b)", "a / (a + b)", Op.GT, 0.9),
    ('rate(x{a=~"b>c|<"}[5m]) >= 0x10', 'rate(x{a=~"b>c|<"}[5m])', Op.GE, 16.0),
    ("avg_over_time(u[1h]) < 20", "avg_over_time(u[1h])", Op.LT, 20.0),
    ("sum by (m) (e)\n  # the errors\n  / sum by (m) (r)\n  > 0.01",
     "sum by (m) (e) / sum by (m) (r)", Op.GT, 0.01),
    ("x <= (-1e3)", "x", Op.LE, -1000.0),
    ("order_total > 3", "order_total", Op.GT, 3.0),  # `or` inside a name is no set operator
])
def test_expressions_split_into_left_op_number(expr: str, left: str, op: Op,
                                               threshold: float) -> None:
    c = parse_comparison(expr)
    assert (c.left, c.op, c.threshold) == (left, op, threshold)
    assert parse_comparison(c.expr()) == c


@pytest.mark.parametrize(("expr", "why"), [
    ("a > 1 or b > 2", "`or`"), ("a > bool 1", "`bool`"), ("a > b", "not a number"),
    ("x == 48", "exact values"), ("up", "no comparison"), ("1 < a < 3", "chains"),
    ("a > NaN", "finite"),
])
def test_other_expressions_are_refused_with_the_reason(expr: str, why: str) -> None:
    with pytest.raises(NotTunable, match=why):
        parse_comparison(expr)


def test_durations_and_candidates() -> None:
    assert [parse_duration(d) for d in ("0s", "5m", "1h30m", "2h", "90s")] == [
        0, 300, 5400, 7200, 90]
    assert [duration(s) for s in (0, 90, 300, 5400, 86400)] == ["0s", "1m30s", "5m", "1h30m",
                                                                "1d"]
    with pytest.raises(ValueError):
        parse_duration("5 minutes")
    up = Comparison("x", Op.GT, 0.9)
    assert candidates.lenient_bound(up) == 0.855
    # Steps of 5% (0.855 lenient; 0.945, 0.99, 1.04 strict) and the passing values' upper
    # quantiles (p50 0.97, p75 0.975, p90 0.984, p99 0.989).
    assert candidates.thresholds(up, [0.92, 0.97, 0.97, 0.99]) == [
        0.855, 0.9, 0.945, 0.97, 0.975, 0.984, 0.989, 0.99, 1.04]
    down = Comparison("avg_over_time(u[1h])", Op.LT, 20.0)
    assert candidates.lenient_bound(down) == 21.0
    # For `<` the strict side is the bottom: p50 7.5, then 6.25, 5.5, 5.05.
    assert candidates.thresholds(down, [5.0, 10.0]) == [
        21.0, 20.0, 19.0, 18.0, 17.0, 7.5, 6.25, 5.5, 5.05]
    assert candidates.fors(300) == [60, 300, 600, 900]
    assert candidates.fors(7200) == [60, 300, 600, 900, 7200]


def _outcome(i: int, outcome: Outcome) -> IncidentOutcome:
    at = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=i)
    return IncidentOutcome(f"i{i}", at, at + timedelta(minutes=10), outcome, {})


def test_the_choice_keeps_every_handled_incident_and_drops_the_most_noise() -> None:
    incidents = [_outcome(0, Outcome.SIGNAL), _outcome(1, Outcome.SIGNAL),
                 *(_outcome(i, Outcome.NOISE) for i in range(2, 6))]
    now, tight, tighter, slow = (Pair(0.9, 300), Pair(0.95, 300), Pair(0.99, 300),
                                 Pair(0.9, 900))
    stats = {
        now: PairStats(now, firings=6, signal={"i0", "i1"}, noise={"i2", "i3", "i4", "i5"},
                       first_fire={"i0": 100, "i1": 200}),
        tight: PairStats(tight, firings=3, signal={"i0", "i1"}, noise={"i2"},
                         first_fire={"i0": 100, "i1": 200}),
        tighter: PairStats(tighter, firings=1, signal={"i0"}, noise=set(),  # loses i1
                           first_fire={"i0": 100}),
        slow: PairStats(slow, firings=3, signal={"i0", "i1"}, noise={"i2"},
                        first_fire={"i0": 700, "i1": 800}),
    }
    verdict = choose(stats, now, incidents)
    # `tight` and `slow` tie on noise and firings; `tight` changes less and is not slower.
    assert (verdict.pair, verdict.delay_s) == (tight, 0)
    assert verdict.reason == ("keeps all 2 handled incidents the rule caught and drops 3 of 4 "
                              "noise incidents")
    del stats[tight]
    assert choose(stats, now, incidents).delay_s == 600
    assert choose({now: stats[now]}, now, incidents).reason.startswith("Keep the rule")
    few = choose(stats, now, incidents[:2])
    assert few.pair is None and few.reason.startswith("Too little history to recommend a "
                                                      "change: 2 decided incidents")
    # Nobody handled anything: the least noisy pair that still fires, said with a caveat.
    unhandled = [_outcome(i, Outcome.NOISE) for i in range(2, 6)]
    quiet = {p: replace(s, signal=set(), first_fire={}) for p, s in stats.items()}
    verdict = choose(quiet, now, unhandled)
    assert verdict.pair == tighter and "nobody handled any incident" in verdict.reason
