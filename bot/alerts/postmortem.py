"""A real incident's timeline as a Report (``/genai incident <id>``) and its postmortem as
Markdown (``/genai incident export <id>`` and the card's Postmortem button). The timeline,
durations, findings, action items and review steps are built by :mod:`bot.postmortem`, the
same code as a drill's report, so a drill rehearses this very document."""

from __future__ import annotations

from urllib.parse import quote

import bot.postmortem as pm
from bot.alerts.timeline import ALERTMANAGER, Timeline
from bot.report import Report, Section
from bot.runbooks import Runbook
from bot.times import utcnow
from bot.words import plural


def runbook_page(timeline: Timeline, runbook: Runbook, public_url: str | None) -> str:
    """The bot's page of the runbook: under ``public_url`` when the bot knows it, else the
    alert's own ``runbook_url`` (the shipped rules point it at that page), else the path."""
    path = f"/runbooks/{quote(runbook.alert or runbook.id)}"
    if public_url:
        return public_url.rstrip("/") + path
    return timeline.view.runbook_url() or path


def _state(t: Timeline) -> str:
    inc = t.incident
    severity = inc.severity or "no severity"
    ttr = t.ttr
    if inc.is_open:
        state = f"firing for {pm.fmt_duration(t.view.duration(utcnow()))}"
    else:
        state = f"resolved after {ttr.took} by {ttr.by or ALERTMANAGER}"
    if t.history.previous is not None:
        state += f"; a re-fire of incident {t.history.previous.public_id}"
    if t.history.next is not None:
        state += f"; re-fired as incident {t.history.next.public_id}"
    return f"{severity}, {state}"


def _acked(t: Timeline) -> str:
    tta = t.tta
    return f"by {tta.by} after {tta.took}" if tta.seconds is not None else tta.pending


def impact_lines(t: Timeline, runbook: Runbook) -> list[str]:
    """What the alert said about the damage: how many alerts, on what, and the values each
    firing notification carried, oldest first."""
    ttr = t.ttr
    firing = f"Firing for {ttr.took} (startsAt to endsAt)" if ttr.seconds is not None else \
        f"Still firing, for {pm.fmt_duration(t.view.duration(utcnow()))} so far"
    lines = [firing, f"{plural(max(1, t.max_alerts), 'alert')} in the group at most"]
    targets = t.targets()
    if targets:
        shown = "; ".join(targets[:10])
        more = f" and {len(targets) - 10} more" if len(targets) > 10 else ""
        lines.append(f"Targets: {shown}{more}")
    labels = ", ".join(f"{k}={v}" for k, v in t.labels()[:12])
    if labels:
        lines.append(f"Labels: {labels}")
    for r in t.reported[:10]:
        lines.append(f"Reported {r.at:%H:%M:%S}: {r.text}")
    if len(t.reported) > 10:
        lines.append(f"… and {plural(len(t.reported) - 10, 'later notification')}")
    if not t.reported:
        lines.append("No firing notification carried a summary or description.")
    lines.append(f"The runbook says: {runbook.impact}")
    return lines


def diagnosis_lines(t: Timeline) -> list[str]:
    out = []
    for d in t.diagnoses:
        out.append(f"{d.at:%H:%M:%S} {d.title} (by {d.by}): {d.verdict}")
        out += [f"    {f}" for f in d.findings[:8]]
    return out


def timeline_report(t: Timeline) -> Report:
    inc = t.incident
    sections = [
        Section(title="Timeline", lines=pm.timeline_lines(t.moments)),
        Section(title="Durations (from startsAt)", rows=[pm.measure_row(m) for m in t.measures]),
        Section(title="Diagnostics", lines=diagnosis_lines(t) or ["not run"]),
    ]
    if inc.findings or inc.action_items:
        sections.append(Section(title="Findings", lines=pm.finding_lines(inc.findings, "none")))
        sections.append(Section(title="Action items",
                                lines=pm.item_lines(inc.action_items, "none")))
    footer = f"/genai incident export {inc.public_id}: the Markdown postmortem"
    if not inc.is_open and t.is_critical and not inc.drill:
        footer += "; findings with the Postmortem button on the alert"
    return Report(title=f"Incident {inc.public_id}: {inc.alertname}", summary=_state(t),
                  sections=sections, footer=footer)


def _follow_up(t: Timeline, runbook: Runbook, page: str) -> list[str]:
    """The guide's two closing tasks, made concrete for this alert."""
    name = t.incident.alertname
    rule = t.expression()
    fired = t.history.fired_before
    before = f"it fired {plural(fired, 'other time')}" if fired else "it did not fire"
    tune = (f"- [ ] **Tune the threshold** of {name}"
            + (f" (`{pm.cell(rule)}`)" if rule else "")
            + f": {before} in the 7 days before this one. If it fired too late or too "
            f"noisily, `/genai tune {name}` backtests a new threshold and `for` against "
            "history; change one rule at a time and watch `/genai report`.")
    return [
        f"- [ ] **Update the runbook** {runbook.id} ({runbook.title}): {page} — add what "
        "was missing or wrong: the diagnosis step that found the cause, the fix that worked.",
        tune,
    ]


def to_markdown(t: Timeline, runbook: Runbook, public_url: str | None = None) -> str:
    inc = t.incident
    page = runbook_page(t, runbook, public_url)
    ended = pm.stamp(inc.finished_at) if inc.finished_at else "still firing"
    out = [f"# Postmortem: {inc.alertname} (incident {inc.public_id})", "",
           f"- Status: {_state(t)}",
           f"- Fired: {pm.stamp(inc.began_at)} (startsAt)",
           f"- Resolved: {ended}",
           f"- Acknowledged: {_acked(t)}",
           f"- Channel: {inc.channel}",
           f"- Runbook: {runbook.id} ({page})", ""]
    out += [*pm.heading("Timeline"), *pm.timeline_md(t.moments), ""]
    out += [*pm.heading("Durations"), "From the alert's startsAt.", "",
            *pm.measures_md(t.measures, targets=False), ""]
    out += [*pm.heading("Impact"), *(f"- {line}" for line in impact_lines(t, runbook)), ""]
    diagnoses = [f"- {line}" if not line.startswith("    ") else f"  - {line.strip()}"
                 for line in diagnosis_lines(t)]
    out += [*pm.heading("Diagnostic findings"), *(diagnoses or ["- Run diagnostics was not "
                                                                 "used."]), ""]
    out += [*pm.heading("Findings"),
            *(pm.findings_md(inc.findings) or ["- none yet: the Postmortem button adds them"]),
            ""]
    out += [*pm.heading("Action items"), *(pm.items_md(inc.action_items) or ["- none yet"]), ""]
    out += [*pm.heading("Runbook and threshold"), *_follow_up(t, runbook, page), ""]
    out += [*pm.heading("Postmortem"),
            *pm.review_steps("what broke, for whom, and what the team saw first.",
                             "Root cause, and how the diagnosis found it.",
                             f"{runbook.id}: {page}", "listed above")]
    return pm.document(out)


def export_report(t: Timeline, runbook: Runbook, public_url: str | None = None) -> Report:
    """The Markdown postmortem in code blocks, ready to paste into the postmortem page."""
    markdown = to_markdown(t, runbook, public_url)
    return Report(title=f"Postmortem of incident {t.incident.public_id} (Markdown)",
                  sections=[Section(code=c) for c in pm.chunks(markdown)],
                  footer="Paste it into the postmortem page; update the runbook it names.")
