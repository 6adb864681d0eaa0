"""The drill's end report (a Report for Slack) and its Markdown export, from one summary."""

from __future__ import annotations

from dataclasses import dataclass

import bot.postmortem as pm
from bot.gameday.catalog import Scenario
from bot.gameday.store import IncidentFacts
from bot.gameday.timings import Timings
from bot.postmortem import Measure, Moment
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

    def timeline(self) -> list[Moment]:
        """In order: the drill's events and its incident's milestones."""
        out: list[Moment] = []
        for e in self.events:
            what = _EVENT_TEXT.get(e.kind, e.kind)
            if e.kind == "injected":
                what += f" ({e.detail.get('alertname', '')})"
            if e.kind == "inject_failed":
                what += f": {e.detail.get('reason', '')}"
            if e.kind == "ended":
                what += f" ({e.detail.get('how', '')})"
            out.append(Moment(as_utc(e.at), what, e.user_id))
        if self.facts is not None:
            inc = self.facts.incident
            out.append(Moment(self.facts.posted_at or as_utc(inc.opened_at),
                              f"alert {inc.alertname} posted (incident {inc.public_id})"))
            for a in self.facts.actions:
                if a.allowed and a.kind in ("ack", "diag", "silence", "resolve"):
                    out.append(Moment(as_utc(a.at), a.kind, a.user_id))
            if inc.resolved_at is not None and not inc.resolved_by:
                out.append(Moment(as_utc(inc.resolved_at), "resolved by Alertmanager"))
        return pm.ordered(out)

    def measures(self) -> list[Measure]:
        """The timings against the scenario's targets; [] without a scenario."""
        if self.timings is None:
            return []
        start = self.timings.start
        return [Measure(m.label, m.seconds_from(start), m.by, m.target_min)
                for m in self.timings.milestones]

    def timing_rows(self) -> list[Row]:
        if self.timings is None:
            # No scenario, no targets: the timings are unknown, not an empty (clean) table.
            return [Row(check="Timings", status=Status.UNKNOWN, value="unknown",
                        detail=f"scenario {self.drill.scenario} is not in the catalog: no "
                               "targets to time against")]
        return [pm.measure_row(m) for m in self.measures()]


def _postmortem(summary: DrillSummary) -> list[str]:
    runbook = summary.scenario.runbook if summary.scenario and summary.scenario.runbook else (
        summary.facts.incident.alertname if summary.facts else "the alert's runbook")
    return pm.review_steps("what was injected, what the team saw first.",
                           "Root cause found vs the expected diagnosis.", runbook,
                           "tracked in /genai gameday score")


def build_report(summary: DrillSummary) -> Report:
    d = summary.drill
    sections = [
        Section(title="Timeline", lines=pm.timeline_lines(summary.timeline())),
        Section(title="Timings vs targets", rows=summary.timing_rows()),
        Section(title="Participants",
                lines=[" ".join(summary.participants) or "nobody joined or acted"]),
    ]
    if summary.scenario is not None:
        sections.append(Section(title="Expected diagnosis",
                                lines=[summary.scenario.expected_diagnosis,
                                       *(f"☐ {c}" for c in summary.scenario.success_criteria)]))
    sections.append(Section(title="Findings", lines=pm.finding_lines(
        d.findings, "none yet: Add findings")))
    sections.append(Section(title="Action items", lines=pm.item_lines(d.action_items,
                                                                      "none yet")))
    sections.append(Section(title="Postmortem skeleton", lines=_postmortem(summary)))
    state = "running" if d.status == "running" else f"ended {pm.stamp(d.ended_at)}" \
        if d.ended_at else d.status
    return Report(
        title=summary.title, summary=f"Started {pm.stamp(d.started_at)} by {d.started_by}; {state}",
        sections=sections,
        actions=[Action(action_id=FINDINGS_BUTTON, label="Add findings", value=d.public_id)],
        footer=f"/genai gameday export {d.public_id} for Markdown",
    )


def to_markdown(summary: DrillSummary) -> str:
    d = summary.drill
    out = [f"# {summary.title}", "",
           f"- Scenario: `{d.scenario}`",
           f"- Started: {pm.stamp(d.started_at)} by {d.started_by}",
           f"- Ended: {pm.stamp(d.ended_at) if d.ended_at else 'running'}", ""]
    if summary.scenario is not None:
        out += ["## Briefing", "", summary.scenario.briefing, ""]
    out += [*pm.heading("Timeline"), *pm.timeline_md(summary.timeline()), ""]
    measures = summary.measures() or [
        # No scenario: one row says the timings are unknown (see timing_rows).
        Measure("Timings", None, pending="unknown")]
    out += [*pm.heading("Timings"), *pm.measures_md(measures, targets=True)]
    out += ["", *pm.heading("Participants")] + [f"- {p}" for p in summary.participants]
    if summary.scenario is not None:
        out += ["", *pm.heading("Expected diagnosis"), summary.scenario.expected_diagnosis, ""]
        out += [f"- [ ] {c}" for c in summary.scenario.success_criteria]
    out += ["", *pm.heading("Findings"), *pm.findings_md(d.findings)]
    out += ["", *pm.heading("Action items"), *pm.items_md(d.action_items)]
    out += ["", *pm.heading("Postmortem"), *_postmortem(summary)]
    return pm.document(out)
