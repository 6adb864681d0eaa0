"""What Run diagnostics answers when no scenario can run: the runbook's diagnosis steps."""

from __future__ import annotations

from bot.report import Report, Section
from bot.runbooks import Runbook


def runbook_steps(runbook: Runbook) -> Section:
    """The runbook's diagnosis steps, numbered, each with its command."""
    lines = []
    for number, step in enumerate(runbook.diagnosis, start=1):
        lines.append(f"{number}. {step.text}")
        if step.command:
            lines.append(f"    $ {step.command}")
    return Section(title=f"Runbook: {runbook.title}", lines=lines)


def steps_report(alertname: str, runbook: Runbook, missing: str = "") -> Report:
    """The runbook's steps as a report. ``missing`` names the label the alert lacks for the
    runbook's scenario (or quick look), so the reader knows why nothing ran."""
    lines = []
    what = f"/genai diag {runbook.diag_scenario}" if runbook.diag_scenario else \
        f"/genai {runbook.quick_look}" if runbook.quick_look else ""
    if missing and what:
        lines.append(f"The alert has no {missing} label, so {what} could not run; the "
                     "runbook's steps instead:")
    sections = [Section(lines=lines)] if lines else []
    return Report(title=f"Diagnosis: {alertname}", summary=runbook.title,
                  sections=[*sections, runbook_steps(runbook)],
                  footer=f"runbook {runbook.id}")
