"""Modal submissions: the findings form, of a drill or of a real incident's postmortem (its
metadata says which). Answered within Slack's 3 s with the form's own errors when something
is wrong, so nothing is lost by closing silently."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App

from bot.alerts.incidents import IncidentService
from bot.gameday.service import Gameday
from bot.jobs import JobPool
from bot.roles import Role
from bot.slack.listeners.pool import in_pool
from bot.slack.render.modals import FINDINGS_VIEW, FindingsSubmission, Subject, read_metadata
from bot.words import article

Save = Callable[[str, str, list[str], list[dict[str, Any]]], object]
"""(public id, user, findings, action items) -> whatever the service answers."""


@dataclass(frozen=True)
class _Target:
    """What one kind of subject needs from its service: who may write, whether it still
    exists, and how to save."""

    refusal: Callable[[str, str], str | None]  # (public id, user) -> why not, or None
    exists: Callable[[str], bool]
    save: Save


def _form_error(exc: ValidationError, view: dict[str, Any]) -> str:
    if any(err["loc"][:1] == ("public_id",) for err in exc.errors()):
        subject, shown = read_metadata(str(view.get("private_metadata", "")))
        return (f"This form names {subject.value} {shown[:40]!r}, which is not "
                f"{article(subject.value)} id (10 characters, a-z and 2-7). Open the form "
                f"again from {subject.opener}.")
    return "Could not read the form: keep each line under 500 characters and at most 50 lines."


def _targets(gameday: Gameday, incidents: IncidentService) -> dict[Subject, _Target]:
    return {
        Subject.DRILL: _Target(
            refusal=lambda _pid, user: gameday.refusal(user, "add findings", Role.RESPONDER),
            exists=lambda pid: gameday.drills.get(pid) is not None,
            save=gameday.add_findings),
        Subject.INCIDENT: _Target(
            refusal=lambda pid, user: incidents.findings_refusal(pid, user),
            exists=lambda pid: incidents.incidents.get(pid) is not None,
            save=incidents.add_findings),
    }


def register(app: App, jobs: JobPool, gameday: Gameday, incidents: IncidentService) -> None:
    targets = _targets(gameday, incidents)

    @app.view(FINDINGS_VIEW)
    def on_findings_submit(ack: Ack, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        try:
            form = FindingsSubmission.from_view(view)
        except ValidationError as exc:
            ack(response_action="errors", errors={"findings": _form_error(exc, view)})
            return
        user = str((body.get("user") or {}).get("id", ""))
        target = targets[form.subject]
        # Both are quick (the role is cached, the lookup one indexed read): within the 3 s ack.
        refused = target.refusal(form.public_id, user)
        if refused:
            ack(response_action="errors", errors={"findings": refused})
            return
        if not target.exists(form.public_id):
            name = form.subject.value.capitalize()
            ack(response_action="errors", errors={"findings": (
                f"{name} {form.public_id} no longer exists, so these findings cannot be "
                "saved.")})
            return
        ack()
        items = [i.model_dump(exclude_none=True) for i in form.action_items]

        def save() -> str:
            target.save(form.public_id, user, form.findings, items)
            return ""  # the form closed already: nothing to answer

        in_pool(jobs, None, save)
