"""Run diagnostics on an alert: the runbook's linked scenario on the alert's labels, or, for
an alert no scenario fits, the read-only look that does (the node's GPUs, the cost), always
with the runbook's diagnosis steps to follow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from bot.alerts.diagnosis import runbook_steps, steps_report
from bot.report import Report
from bot.runbooks import Runbook
from commands import cost, gpu
from commands.base import Context
from commands.diag import MissingLabel, run_scenario

log = structlog.get_logger(__name__)

HOST_LABELS = ("Hostname", "hostname", "node")


@dataclass(frozen=True)
class AlertDiagnosis:
    """What to post in the alert's thread, and what the audit log keeps of it."""

    report: Report
    detail: dict[str, str] = field(default_factory=dict)


def _host(labels: Mapping[str, str]) -> str | None:
    return next((labels[k] for k in HOST_LABELS if labels.get(k)), None)


def _quick_look(ctx: Context, look: str, labels: Mapping[str, str]) -> Report:
    """``/genai gpu <node>`` or ``/genai cost 1d``; MissingLabel when the alert names no
    node for the GPU look."""
    if look == "cost":
        return cost.COMMAND.run(ctx, ["1d"])
    host = _host(labels)
    if host is None:
        raise MissingLabel("Hostname (or hostname, node)")
    return gpu.COMMAND.run(ctx, [host])


def for_alert(ctx: Context, alertname: str, runbook: Runbook,
              labels: Mapping[str, str]) -> AlertDiagnosis:
    """Never raises: a bug still leaves the audit row and the runbook's steps."""
    look = runbook.quick_look or ("gpu" if _host(labels) else None)
    what = runbook.diag_scenario or look
    if what is None:
        return AlertDiagnosis(steps_report(alertname, runbook), {"scenario": "none"})
    try:
        if runbook.diag_scenario is not None:
            found = run_scenario(ctx, runbook.diag_scenario, labels)
        else:
            assert look is not None
            found = _quick_look(ctx, look, labels)
            found.sections.append(runbook_steps(runbook))
    except MissingLabel as exc:
        return AlertDiagnosis(steps_report(alertname, runbook, exc.label),
                              {"scenario": what, "missing_label": exc.label})
    except Exception as exc:
        log.exception("diag_for_alert_failed", scenario=what)
        return AlertDiagnosis(steps_report(alertname, runbook),
                              {"scenario": what, "error": type(exc).__name__})
    found.private = False  # in the alert's thread, for the whole team
    return AlertDiagnosis(found, {"scenario": what, "status": found.status.value,
                                  "summary": found.summary[:200], "title": found.title[:200]})
