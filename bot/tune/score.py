"""Every candidate pair's firings, scored against the incidents people handled, and the
choice: keep every handled incident the current rule catches, drop the most noise.

A replayed firing catches an incident when its labels agree with the incident's (on every
label both carry) and the two overlap in time, give or take two evaluation intervals (the
rule group's own evaluation phase, and Alertmanager's startsAt and endsAt).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.store.tune_signals import IncidentOutcome, Outcome
from bot.tune.history import History
from bot.tune.replay import clip, firings, hold_steps, runs
from bot.tune.rule import Comparison
from bot.words import plural

MIN_DECIDED = 3  # handled + noise incidents needed before recommending anything


@dataclass(frozen=True, order=True)
class Pair:
    threshold: float
    for_s: int


@dataclass
class PairStats:
    pair: Pair
    firings: int = 0
    firing_s: int = 0
    signal_firings: int = 0  # firings that overlap a handled incident
    noise_firings: int = 0  # firings that overlap only incidents nobody handled
    signal: set[str] = field(default_factory=set)  # handled incidents caught
    noise: set[str] = field(default_factory=set)  # noise incidents caught
    first_fire: dict[str, int] = field(default_factory=dict)  # handled incident -> time


@dataclass(frozen=True)
class _Window:
    id: str
    begin: int
    end: int
    signal: bool
    noise: bool


class _Matcher:
    """The incidents whose labels agree with a series' labels (the rule's laid over them) on
    every label both carry, found by lookup instead of comparing each series with each
    incident: incidents are indexed by the values of the labels they share with a series'
    label names, once per distinct set of names."""

    def __init__(self, windows: Sequence[_Window], incidents: Sequence[IncidentOutcome],
                 rule_labels: dict[str, str]) -> None:
        self.rule = {k: v for k, v in rule_labels.items() if "{{" not in v}
        self.entries = [(w, inc.alert_labels or (inc.labels,))
                        for w, inc in zip(windows, incidents, strict=True)]
        self.tables: dict[frozenset[str], list[tuple[tuple[str, ...],
                                                     dict[tuple[str, ...], list[_Window]]]]] = {}

    def _table(self, names: frozenset[str]) -> list[tuple[tuple[str, ...],
                                                          dict[tuple[str, ...], list[_Window]]]]:
        by_shared: dict[tuple[str, ...], dict[tuple[str, ...], list[_Window]]] = {}
        for window, label_sets in self.entries:
            for seen in label_sets:
                shared = tuple(sorted(k for k in seen if k in names and k != "alertname"))
                bucket = by_shared.setdefault(shared, {}).setdefault(
                    tuple(seen[k] for k in shared), [])
                if window not in bucket:
                    bucket.append(window)
        return list(by_shared.items())

    def windows(self, labels: dict[str, str]) -> list[_Window]:
        identity = {**labels, **self.rule}
        names = frozenset(identity)
        table = self.tables.get(names)
        if table is None:
            table = self.tables[names] = self._table(names)
        out: list[_Window] = []
        for shared, found in table:
            for window in found.get(tuple(identity[k] for k in shared), ()):
                if window not in out:
                    out.append(window)
        return out


def evaluate(history: History, comparison: Comparison, rule_labels: dict[str, str],
             thresholds: Sequence[float], fors: Sequence[int],
             incidents: Sequence[IncidentOutcome], now_s: int) -> dict[Pair, PairStats]:
    """Replay every (threshold, for) pair over the history, once per threshold and series."""
    grid = history.grid
    step = grid.interval_s
    pad = 2 * step
    windows = [_Window(i.public_id, int(i.began.timestamp()) - pad,
                       (int(i.ended.timestamp()) if i.ended else now_s) + pad,
                       i.outcome is Outcome.SIGNAL, i.outcome is Outcome.NOISE)
               for i in incidents]
    holds = [(f, hold_steps(f, step)) for f in fors]
    stats = {Pair(t, f): PairStats(Pair(t, f)) for t in thresholds for f in fors}
    matcher = _Matcher(windows, incidents, rule_labels)
    compat: dict[int, list[_Window]] = {}
    for threshold in thresholds:
        for index, series in enumerate(history.series):
            condition = runs(series.ks, series.vs, comparison.op, threshold)
            if not condition:
                continue
            mine = compat.get(index)
            if mine is None:
                mine = compat[index] = matcher.windows(series.labels)
            for for_s, hold in holds:
                _score(stats[Pair(threshold, for_s)],
                       clip(firings(condition, hold), 0, grid.last), mine, grid.origin_s, step)
    return stats


def _score(st: PairStats, fired: list[tuple[int, int]], windows: list[_Window], origin: int,
           step: int) -> None:
    for a, b in fired:
        st.firings += 1
        st.firing_s += (b - a + 1) * step
        start, end = origin + a * step, origin + (b + 1) * step
        signal = noise = False
        for w in windows:
            if start <= w.end and end >= w.begin:
                if w.signal:
                    signal = True
                    st.signal.add(w.id)
                    if start < st.first_fire.get(w.id, start + 1):
                        st.first_fire[w.id] = start
                elif w.noise:
                    noise = True
                    st.noise.add(w.id)
        if signal:
            st.signal_firings += 1
        elif noise:
            st.noise_firings += 1


@dataclass(frozen=True)
class Verdict:
    """The recommended pair and why; without one, ``reason`` is the whole sentence to show
    (keep the rule, or too little history to say)."""

    pair: Pair | None
    reason: str
    delay_s: int = 0  # the most a handled incident would have been caught later


def choose(stats: dict[Pair, PairStats], current: Pair,
           incidents: Sequence[IncidentOutcome]) -> Verdict:
    now = stats[current]
    handled = sum(1 for i in incidents if i.outcome is Outcome.SIGNAL)
    noisy = sum(1 for i in incidents if i.outcome is Outcome.NOISE)
    decided = handled + noisy
    if decided < MIN_DECIDED:
        return Verdict(None, f"Too little history to recommend a change: "
                             f"{plural(decided, 'decided incident')} in the window, at least "
                             f"{MIN_DECIDED} needed (a longer window may have more)")
    if not now.signal and not now.noise:
        return Verdict(None, f"No recommendation: the replay matches none of the {decided} "
                             "decided incidents (did the rule, its labels or its data change "
                             "in the window?)")
    keep = now.signal
    eligible = [s for s in stats.values() if keep <= s.signal and s.firings > 0]

    def cost(s: PairStats) -> tuple[int, int, int, int, float]:
        changed = (s.pair.threshold != current.threshold) + (s.pair.for_s != current.for_s)
        return (len(s.noise), s.firings, changed, abs(s.pair.for_s - current.for_s),
                abs(s.pair.threshold - current.threshold))

    best = min(eligible, key=cost)
    if cost(best)[:2] >= cost(now)[:2]:
        return Verdict(None, "Keep the rule: no candidate drops noise without losing a "
                             "handled incident")
    delay = max((best.first_fire[i] - now.first_fire[i] for i in keep), default=0)
    if keep:
        reason = (f"keeps all {len(keep)} handled incidents the rule caught and drops "
                  f"{len(now.noise) - len(best.noise)} of {len(now.noise)} noise incidents")
    else:
        reason = (f"drops {len(now.noise) - len(best.noise)} of {len(now.noise)} noise "
                  "incidents; nobody handled any incident in the window, so nothing shows "
                  "which firings matter: check with the alert's owners first")
    return Verdict(best.pair, reason, delay_s=max(0, delay))
