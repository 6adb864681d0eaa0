"""What an outbox row becomes in Slack, rendered from the incident's state at send time."""

from __future__ import annotations

from typing import Any

from bot.alerts.view import AlertView
from bot.render import alert as alert_render
from bot.render.blocks import fallback_text, render_blocks
from bot.report import Report, Section
from bot.runbooks import Runbook, RunbookIndex
from bot.store import OutboxRow, Store, utcnow


def diagnosis_report(view: AlertView, runbook: Runbook, missing: str = "") -> Report:
    """The runbook's diagnosis steps, posted by Run diagnostics when no scenario can run
    (`missing` names the label the alert lacks for it)."""
    lines = []
    if missing and runbook.diag_scenario:
        lines.append(f"The alert has no {missing} label, so /genai diag "
                     f"{runbook.diag_scenario} could not run; the runbook's steps instead:")
    for number, step in enumerate(runbook.diagnosis, start=1):
        lines.append(f"{number}. {step.text}")
        if step.command:
            lines.append(f"    $ {step.command}")
    return Report(
        title=f"Diagnosis: {view.alertname}",
        summary=runbook.title,
        sections=[Section(lines=lines)],
        footer=f"incident {view.public_id}"
        + (f" · scenario {runbook.diag_scenario}" if runbook.diag_scenario else ""),
    )


class Renderer:
    def __init__(self, store: Store, runbooks: RunbookIndex) -> None:
        self.store = store
        self.runbooks = runbooks

    def view(self, public_id: str) -> tuple[AlertView, Runbook] | None:
        incident = self.store.incident(public_id)
        if incident is None:
            return None
        events = self.store.incident_events(public_id)
        view = AlertView.from_incident(incident, events[-1] if events else None)
        return view, self.runbooks.for_alert(incident.alertname)

    def __call__(self, row: OutboxRow) -> dict[str, Any] | None:
        public_id = row.payload.get("incident") or row.incident_public_id
        if not public_id:
            return None
        found = self.view(str(public_id))
        if found is None:
            return None
        view, runbook = found
        now = utcnow()
        note = row.payload.get("note")
        if row.kind in ("post", "update"):
            return alert_render.incident_message(view, runbook, now=now)
        if note == "runbook":
            return alert_render.runbook_thread(view, runbook)
        if note == "resolved":
            return alert_render.resolved_note(view, now=now)
        if note == "diag":
            raw = row.payload.get("report")
            if raw:  # the scenario ran at click time; its findings are posted as they were
                report = Report.model_validate(raw)
                report.footer = " · ".join(p for p in (report.footer,
                                                       f"incident {view.public_id}") if p)
            else:
                report = diagnosis_report(view, runbook, str(row.payload.get("missing") or ""))
            return {"blocks": render_blocks(report), "text": fallback_text(report)}
        if note in ("ack", "silence", "unsilence", "resolve"):
            return alert_render.action_note(
                str(note), str(row.payload.get("user", "")), view,
                detail=str(row.payload.get("detail", "")),
            )
        return None
