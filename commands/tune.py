"""`/genai tune <alert> [7d|30d]`: backtest an alert's threshold and `for` against history,
and recommend the change that keeps every incident people handled and drops the most noise.

The rule comes from Prometheus (else the shipped manifest); the history is one read of the
window (bot.tune.history); the incidents and what people did about them come from the store.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from bot.errors import SourceError, UsageError
from bot.report import Report, Row, Section, Status
from bot.roles import Role
from bot.store.tune_signals import IncidentOutcome, Outcome
from bot.times import clock
from bot.times import humanize_duration as humanize
from bot.tune import backtest, lookup
from bot.tune.backtest import Backtest
from bot.tune.candidates import strictness
from bot.tune.rule import duration, number
from bot.tune.score import Pair, PairStats
from bot.tune.snippet import describe, snippet
from bot.words import plural
from commands.base import Command, Context

USAGE = "/genai tune <alert> [7d|30d]"
WINDOWS = {"7d": 7 * 86400, "30d": 30 * 86400}
MAX_ROWS = 12
_ALERT = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]{0,199}$")


def parse_args(args: list[str]) -> tuple[str, str]:
    if not args or len(args) > 2:
        raise UsageError(f"give an alert name and optionally a window. Usage: {USAGE}")
    alert = args[0]
    if not _ALERT.match(alert):
        raise UsageError(f"{alert!r} is not an alert name. Usage: {USAGE}")
    window = args[1].lower() if len(args) > 1 else "7d"
    if window not in WINDOWS:
        raise UsageError(f"window {args[1]!r}: use 7d or 30d. Usage: {USAGE}")
    return alert, window


def run(ctx: Context, args: list[str]) -> Report:
    alert, window = parse_args(args)
    choice = lookup.find(ctx.prometheus, alert)
    title = f"Tune {alert}, last {window}"
    if choice.rule is None or choice.comparison is None:
        return Report(title=title, summary=f"Cannot tune {alert}: {choice.refusal}.",
                      sections=[Section(lines=choice.notes)] if choice.notes else [])
    rule, comparison = choice.rule, choice.comparison
    end_s = time.time()
    incidents, store_note = _incidents(ctx, alert, end_s, WINDOWS[window])
    try:
        result = backtest.run(ctx.prometheus, rule, comparison, end_s=end_s,
                              window_s=WINDOWS[window], window=window, incidents=incidents)
    except SourceError as exc:
        return Report(title=title, summary="History unavailable: nothing replayed.",
                      sections=[Section(rows=[Row(
                          check=f"{alert} history", status=Status.UNKNOWN, value="unknown",
                          threshold=describe(comparison, comparison.threshold, rule.for_s),
                          detail=str(exc))], lines=choice.notes)])
    return render(result, [*choice.notes, *([store_note] if store_note else [])])


def _incidents(ctx: Context, alert: str, end_s: float, window_s: int
               ) -> tuple[list[IncidentOutcome] | None, str]:
    if ctx.store is None:
        return None, "No database: which firings people handled is unknown."
    until = datetime.fromtimestamp(end_s, UTC)
    try:
        return ctx.store.tune_signals.outcomes(
            alert, until - timedelta(seconds=window_s), until), ""
    except SourceError as exc:  # the replay still stands; only the scoring is unknown
        return None, (f"Cannot read the incidents ({exc.reason}): which firings people "
                      "handled is unknown.")


def render(b: Backtest, notes: list[str]) -> Report:
    title = f"Tune {b.rule.name}, last {b.window}"
    rule_section = Section(title="Rule and history", lines=[*_rule_lines(b), *notes])
    if b.no_data:
        return Report(title=title, summary="No data: the expression returned nothing in the "
                      "window, so nothing can be replayed.", sections=[
                          Section(rows=[Row(check=f"{b.rule.name} history",
                                            status=Status.UNKNOWN, value="no data",
                                            detail=f"{b.comparison.left} had no series (a "
                                            "recording rule younger than the window, or a "
                                            "metric not scraped?)")]),
                          rule_section])
    sections = [Section(title="Candidates (threshold and for)", rows=_rows(b)), rule_section]
    verdict = b.verdict
    if verdict is not None and verdict.pair is not None:
        sections.insert(1, Section(title="PrometheusRule", code=snippet(
            b.rule, b.comparison, b.stats[b.current], b.stats[verdict.pair],
            b.count(Outcome.SIGNAL), b.window)))
    return Report(title=title, summary=_summary(b), sections=sections, footer=_footer(b))


def _summary(b: Backtest) -> str:
    now = b.stats[b.current]
    shown = describe(b.comparison, b.current.threshold, b.current.for_s)
    if b.verdict is None:
        return (f"{shown}: {plural(now.firings, 'firing')} in {b.window}. Which of them people "
                "handled is unknown (no incidents to compare with), so there is no "
                "recommendation.")
    v = b.verdict
    if v.pair is None:
        return f"{v.reason}. {shown}: {plural(now.firings, 'firing')} in {b.window}."
    after = b.stats[v.pair]
    later = f"; handled incidents caught up to {humanize(v.delay_s)} later" if v.delay_s else ""
    return (f"Recommend {describe(b.comparison, v.pair.threshold, v.pair.for_s)} instead of "
            f"{shown}: {plural(after.firings, 'firing')} instead of {now.firings} in "
            f"{b.window}; {v.reason}{later}.")


def _rule_lines(b: Backtest) -> list[str]:
    rule, h = b.rule, b.history
    assumed = " (assumed: the rule file names no interval)" if rule.interval_assumed else ""
    lines = [f"{rule.name} from {rule.origin}, group {rule.group}: {rule.expr}"
             + (f" for {duration(rule.for_s)}" if rule.for_s else ""),
             f"Evaluated every {duration(rule.interval_s)}{assumed}; replayed at that step "
             "with Prometheus' pending → firing rules."]
    if h.present_max is not None:
        since = (f", data from {clock(datetime.fromtimestamp(h.present_from_s, UTC))}"
                 if h.present_from_s is not None
                 and h.present_from_s > h.grid.origin_s + 86400 else "")
        lines.append(f"History: up to {plural(h.present_max, 'series', 'series')} at once"
                     f"{since}; {plural(len(h.series), 'series', 'series')} passed "
                     f"{b.comparison.op.value} {number(h.bound)} at some point "
                     f"({plural(h.points, 'evaluation')}).")
    if b.incidents is not None:
        lines.append(f"Incidents in the window: {b.count(Outcome.SIGNAL)} handled "
                     f"(acknowledged, diagnosed or resolved by hand), {b.count(Outcome.NOISE)} "
                     f"noise (resolved by themselves, nobody acknowledged), "
                     f"{b.count(Outcome.OPEN)} still open.")
        missed = b.count(Outcome.SIGNAL) - len(b.stats[b.current].signal)
        if missed > 0:
            lines.append(f"{plural(missed, 'handled incident')} match no replayed firing of "
                         "the current rule (missing data, or the rule changed) and are left out "
                         "of the comparison.")
    if rule.keep_firing_for_s:
        lines.append(f"keep_firing_for {duration(rule.keep_firing_for_s)} is not replayed: "
                     "replayed firings end when the condition stops.")
    return lines


def _shown_pairs(b: Backtest) -> list[Pair]:
    """Current, recommended, the best per `for`, then the least noisy; at most MAX_ROWS."""
    stats = b.stats
    keep = stats[b.current].signal

    def rank(p: Pair) -> tuple[bool, int, int, float]:
        s = stats[p]
        return (not keep <= s.signal, len(s.noise), s.firings, abs(p.threshold - b.current
                                                                   .threshold))

    ranked = sorted(stats, key=rank)
    ref = b.current
    if b.verdict is not None and b.verdict.pair is not None:
        ref = b.verdict.pair
    out = list(dict.fromkeys([b.current, ref]))
    for for_s in b.fors:
        best = next((p for p in ranked if p.for_s == for_s and stats[p].firings), None)
        if best is not None and best not in out:
            out.append(best)
    # Where it breaks: the least strict threshold, at the reference `for`, that loses a
    # handled incident (it may never fire at all).
    edge = [p for p in stats if p.for_s == ref.for_s and not keep <= stats[p].signal]
    if edge:
        out.append(min(edge, key=lambda p: strictness(b.comparison, p.threshold)))
    out += [p for p in ranked if p not in out and stats[p].firings]
    return list(dict.fromkeys(out))[:MAX_ROWS]


def _rows(b: Backtest) -> list[Row]:
    keep = b.stats[b.current].signal
    noise_total = len(b.stats[b.current].noise)
    recommended = b.verdict.pair if b.verdict is not None else None
    rows = []
    for pair in _shown_pairs(b):
        s = b.stats[pair]
        tags = [t for t, on in (("current", pair == b.current),
                                ("recommended", pair == recommended)) if on]
        lost = len(keep - s.signal)
        status = Status.OK if pair == recommended else Status.WARN if lost else Status.INFO
        rows.append(Row(check=describe(b.comparison, pair.threshold, pair.for_s),
                        status=status, threshold=", ".join(tags),
                        value=f"{plural(s.firings, 'firing')} · {humanize(s.firing_s)} firing",
                        detail=_detail(b, s, keep, noise_total, lost)))
    return rows


def _detail(b: Backtest, s: PairStats, keep: set[str], noise_total: int, lost: int) -> str:
    if b.incidents is None:
        return "handled and noise: unknown (no incidents to compare with)"
    parts = [f"handled incidents caught {len(s.signal & keep)}/{len(keep)}"
             + (f" (loses {lost})" if lost else ""),
             f"noise incidents {len(s.noise)}/{noise_total}",
             f"firings on handled {s.signal_firings}, on noise {s.noise_firings}"]
    now = b.stats[b.current]
    delays = [s.first_fire[i] - now.first_fire[i] for i in keep & s.signal]
    if delays and max(delays) > 0:
        parts.append(f"caught up to {humanize(max(delays))} later")
    return " · ".join(parts)


def _footer(b: Backtest) -> str:
    h = b.history
    return (f"{len(b.thresholds)} thresholds (5% steps and quantiles of firing values) × "
            f"{len(b.fors)} for durations, from one read of the window: {h.queries} queries, "
            f"{b.elapsed_s:.1f} s.")


COMMAND = Command(
    name="tune", usage=USAGE, role=Role.RESPONDER,
    summary="backtest an alert's threshold and for against history; recommends the change "
            "that keeps every handled incident and drops the most noise, as a PrometheusRule",
    run=run, examples=("/genai tune GPUMemoryHigh", "/genai tune InferenceLatencyHigh 30d"),
)
