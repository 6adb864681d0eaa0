"""What a drill's report and a real incident's postmortem share: the timeline, the durations,
the findings, the action items and the review steps, as Markdown (the exports) and as the
rows and lines of a sink-neutral :class:`~bot.report.Report` (Slack, the terminal).

One copy for both, so a drill rehearses exactly the postmortem a real incident gets. The
callers gather their own facts (drill events, audit rows) into :class:`Moment` and
:class:`Measure`; nothing here reads the store. Text stays plain: Markdown table cells are
kept on one line and their ``|`` escaped, and the Slack layer escapes what it shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.report import Row, Status
from bot.times import as_utc

TUNE_THRESHOLD = "Tune thresholds gradually if the alert fired too late or too noisily."


@dataclass(frozen=True)
class Moment:
    """One line of a timeline: when, what happened, and who did it (None: nobody named)."""

    at: datetime
    what: str
    by: str | None = None

    @property
    def text(self) -> str:
        return f"{self.what} by {self.by}" if self.by else self.what


@dataclass(frozen=True)
class Measure:
    """A duration from the clock's start (an injection, an alert's startsAt) to a milestone.
    ``target_min`` is a drill's target; a real incident has none."""

    label: str
    seconds: float | None
    by: str | None = None
    target_min: float | None = None
    pending: str = "—"  # said when the milestone has not happened ("not yet", "never")

    @property
    def met(self) -> bool | None:
        if self.seconds is None or self.target_min is None:
            return None
        return self.seconds <= self.target_min * 60

    @property
    def took(self) -> str:
        return fmt_duration(self.seconds) if self.seconds is not None else self.pending


def fmt_duration(seconds: float | None) -> str:
    """``45s``, ``3m 05s``, ``2h 05m``; ``—`` for none."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def stamp(at: datetime) -> str:
    return as_utc(at).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock_format(moments: Sequence[Moment]) -> str:
    """Times alone while the timeline stays within one UTC day; with the date once it
    crosses midnight, so the order still reads right."""
    days = {as_utc(m.at).date() for m in moments}
    return "%H:%M:%S" if len(days) <= 1 else "%m-%d %H:%M:%S"


def ordered(moments: Iterable[Moment]) -> list[Moment]:
    """By time; events at the same instant keep the order they were given in."""
    return sorted(moments, key=lambda m: as_utc(m.at))


# ---------------------------------------------------------------------- Report (sink-neutral)


def timeline_lines(moments: Sequence[Moment]) -> list[str]:
    fmt = _clock_format(moments)
    return [f"{as_utc(m.at).strftime(fmt)} {m.text}" for m in moments]


def measure_row(m: Measure) -> Row:
    """A drill's measure is ok or fail against its target; a real incident's has none, so a
    known duration is only information and a missing one is unknown."""
    if m.target_min is not None:
        status = Status.UNKNOWN if m.met is None else Status.OK if m.met else Status.FAIL
        return Row(check=m.label, status=status, value=m.took,
                   threshold=f"≤ {m.target_min:g} min", detail=f"by {m.by}" if m.by else "")
    status = Status.INFO if m.seconds is not None else Status.UNKNOWN
    return Row(check=m.label, status=status, value=m.took, detail=f"by {m.by}" if m.by else "")


def finding_text(finding: Mapping[str, Any]) -> str:
    return f"{finding['text']} ({finding['by']})"


def item_text(item: Mapping[str, Any]) -> str:
    owner = f" (owner {item['owner']})" if item.get("owner") else ""
    return f"{item['text']}{owner}"


def finding_lines(findings: Sequence[Mapping[str, Any]], empty: str) -> list[str]:
    return [f"• {finding_text(f)}" for f in findings] or [empty]


def item_lines(items: Sequence[Mapping[str, Any]], empty: str) -> list[str]:
    return [f"{n}. {'☑' if i.get('done') else '☐'} {item_text(i)}"
            for n, i in enumerate(items, start=1)] or [empty]


def review_steps(summary: str, cause: str, runbook: str, tracking: str) -> list[str]:
    """The postmortem's questions, drill or real: ``summary`` and ``cause`` say what to
    write for this kind of event, ``runbook`` names the runbook to update."""
    return [
        f"1. Summary: {summary}",
        "2. Timeline: see above; mark where time was lost.",
        f"3. {cause}",
        "4. What went well / what did not (alerts, dashboards, access, runbook).",
        f"5. Update the runbook ({runbook}) with what was missing or wrong.",
        f"6. {TUNE_THRESHOLD}",
        f"7. Action items with owners and due dates ({tracking}).",
    ]


# ---------------------------------------------------------------------- Markdown


def cell(text: str) -> str:
    """One Markdown table cell: on one line, its pipes escaped (a label may hold either)."""
    return " ".join(text.split()).replace("|", "\\|")


def heading(title: str) -> list[str]:
    return [f"## {title}", ""]


def timeline_md(moments: Sequence[Moment]) -> list[str]:
    fmt = _clock_format(moments)
    return ["| Time (UTC) | Event |", "|---|---|",
            *(f"| {as_utc(m.at).strftime(fmt)} | {cell(m.text)} |" for m in moments)]


def measures_md(measures: Sequence[Measure], *, targets: bool) -> list[str]:
    """Against targets (a drill: took, target, met) or without (an incident: took, by)."""
    if targets:
        out = ["| Measure | Took | Target | Met |", "|---|---|---|---|"]
        for m in measures:
            target = f"≤ {m.target_min:g} min" if m.target_min is not None else ""
            met = "n/a" if m.met is None else "yes" if m.met else "no"
            out.append(f"| {cell(m.label)} | {m.took} | {target} | {met} |")
        return out
    return ["| Measure | Took | By |", "|---|---|---|",
            *(f"| {cell(m.label)} | {cell(m.took)} | {cell(m.by or '')} |" for m in measures)]


def findings_md(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"- {finding_text(f)}" for f in findings]


def items_md(items: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"- [{'x' if i.get('done') else ' '}] {item_text(i)}" for i in items]


def document(lines: Iterable[str]) -> str:
    return "\n".join(lines) + "\n"


def chunks(text: str, limit: int = 2800) -> list[str]:
    """Split on line ends into pieces that fit one Slack code block (3000 characters)."""
    out: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        if current and len(current) + len(line) > limit:
            out.append(current)
            current = ""
        current += line[:limit]
    return [*out, current] if current else out
