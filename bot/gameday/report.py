"""The drill's end report (a Report for Slack) and its Markdown export, from one summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.gameday.catalog import Scenario
from bot.gameday.store import IncidentFacts
from bot.gameday.timings import Timings, fmt_duration
from bot.report import Action, Report, Row, Section, Status
from bot.store import Drill, DrillEvent
from bot.times import as_utc

FINDINGS_BUTTON = "gameday_findings"

_EVENT_TEXT = {
    "started": "drill started",
    "injected": "alert injected through Alertmanager",
    "inject_failed": "injection failed",
    "joined": "joined",
    "diag": "ran /genai diag",
    "findings": "added findings",
    "ended": "drill ended",
}


@dataclass(frozen=True)
class DrillSummary:
    drill: Drill
    scenario: Scenario | None
    events: list[DrillEvent]
    facts: IncidentFacts | None
    timings: Timings | None
    participants: list[str]

    @property
    def title(self) -> str:
        name = self.scenario.title if self.scenario else self.drill.scenario
        return f"Game Day {self.drill.public_id}: {name}"

    def timeline(self) -> list[tuple[datetime, str]]:
        """(when, what) in order: the drill's events and its incident's milestones."""
        out: list[tuple[datetime, str]] = []
        for e in self.events:
            what = _EVENT_TEXT.get(e.kind, e.kind)
            if e.kind == "injected":
                what += f" ({e.detail.get('alertname', '')})"
            if e.kind == "inject_failed":
                what += f": {e.detail.get('reason', '')}"
            if e.kind == "ended":
                what += f" ({e.detail.get('how', '')})"
            out.append((as_utc(e.at), f"{what} by {e.user_id}" if e.user_id else what))
        if self.facts is not None:
            inc = self.facts.incident
            out.append((self.facts.posted_at or as_utc(inc.opened_at),
                        f"alert {inc.alertname} posted (incident {inc.public_id})"))
            for a in self.facts.actions:
                if a.allowed and a.kind in ("ack", "diag", "silence", "resolve"):
                    out.append((as_utc(a.at), f"{a.kind} by {a.user_id}"))
            if inc.resolved_at is not None and not inc.resolved_by:
                out.append((as_utc(inc.resolved_at), "resolved by Alertmanager"))
        return sorted(out, key=lambda p: p[0])

    def timing_rows(self) -> list[Row]:
        if self.timings is None:
            # No scenario, no targets: the timings are unknown, not an empty (clean) table.
            return [Row(check="Timings", status=Status.UNKNOWN, value="unknown",
                        detail=f"scenario {self.drill.scenario} is not in the catalog: no "
                               "targets to time against")]
        rows = []
        for m in self.timings.milestones:
            s = m.seconds_from(self.timings.start)
            met = None if s is None else s <= m.target_min * 60
            status = Status.UNKNOWN if met is None else Status.OK if met else Status.FAIL
            rows.append(Row(check=m.label, status=status, value=fmt_duration(s),
                            threshold=f"≤ {m.target_min:g} min",
                            detail=f"by {m.by}" if m.by else ""))
        return rows


def _postmortem(summary: DrillSummary) -> list[str]:
    runbook = summary.scenario.runbook if summary.scenario and summary.scenario.runbook else (
        summary.facts.incident.alertname if summary.facts else "the alert's runbook")
    return [
        "1. Summary: what was injected, what the team saw first.",
        "2. Timeline: see above; mark where time was lost.",
        "3. Root cause found vs the expected diagnosis.",
        "4. What went well / what did not (alerts, dashboards, access, runbook).",
        f"5. Update the runbook ({runbook}) with what was missing or wrong.",
        "6. Tune thresholds gradually if the alert fired too late or too noisily.",
        "7. Action items with owners and due dates (tracked in /genai gameday score).",
    ]


def _local(at: datetime) -> str:
    return as_utc(at).strftime("%Y-%m-%d %H:%M:%S UTC")


def build_report(summary: DrillSummary) -> Report:
    d = summary.drill
    sections = [
        Section(title="Timeline",
                lines=[f"{at:%H:%M:%S} {what}" for at, what in summary.timeline()]),
        Section(title="Timings vs targets", rows=summary.timing_rows()),
        Section(title="Participants",
                lines=[" ".join(summary.participants) or "nobody joined or acted"]),
    ]
    if summary.scenario is not None:
        sections.append(Section(title="Expected diagnosis",
                                lines=[summary.scenario.expected_diagnosis,
                                       *(f"☐ {c}" for c in summary.scenario.success_criteria)]))
    sections.append(Section(title="Findings", lines=[
        f"• {f['text']} ({f['by']})" for f in d.findings] or ["none yet: Add findings"]))
    sections.append(Section(title="Action items", lines=[
        f"{n}. {'☑' if i.get('done') else '☐'} {i['text']}"
        + (f" (owner {i['owner']})" if i.get("owner") else "")
        for n, i in enumerate(d.action_items, start=1)] or ["none yet"]))
    sections.append(Section(title="Postmortem skeleton", lines=_postmortem(summary)))
    state = "running" if d.status == "running" else f"ended {_local(d.ended_at)}" \
        if d.ended_at else d.status
    return Report(
        title=summary.title, summary=f"Started {_local(d.started_at)} by {d.started_by}; {state}",
        sections=sections,
        actions=[Action(action_id=FINDINGS_BUTTON, label="Add findings", value=d.public_id)],
        footer=f"/genai gameday export {d.public_id} for Markdown",
    )


def to_markdown(summary: DrillSummary) -> str:
    d = summary.drill
    out = [f"# {summary.title}", "",
           f"- Scenario: `{d.scenario}`",
           f"- Started: {_local(d.started_at)} by {d.started_by}",
           f"- Ended: {_local(d.ended_at) if d.ended_at else 'running'}", ""]
    if summary.scenario is not None:
        out += ["## Briefing", "", summary.scenario.briefing, ""]
    out += ["## Timeline", "", "| Time (UTC) | Event |", "|---|---|"]
    out += [f"| {at:%H:%M:%S} | {what} |" for at, what in summary.timeline()]
    out += ["", "## Timings", "", "| Measure | Took | Target | Met |", "|---|---|---|---|"]
    for row in summary.timing_rows():
        met = {Status.OK: "yes", Status.FAIL: "no"}.get(row.status, "n/a")
        out.append(f"| {row.check} | {row.value} | {row.threshold} | {met} |")
    out += ["", "## Participants", ""] + [f"- {p}" for p in summary.participants]
    if summary.scenario is not None:
        out += ["", "## Expected diagnosis", "", summary.scenario.expected_diagnosis, ""]
        out += [f"- [ ] {c}" for c in summary.scenario.success_criteria]
    out += ["", "## Findings", ""] + [f"- {f['text']} ({f['by']})" for f in d.findings]
    out += ["", "## Action items", ""] + [
        f"- [{'x' if i.get('done') else ' '}] {i['text']}"
        + (f" (owner {i['owner']})" if i.get("owner") else "") for i in d.action_items]
    out += ["", "## Postmortem", "", *_postmortem(summary)]
    return "\n".join(out) + "\n"
