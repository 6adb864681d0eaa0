"""Modal submissions: the drill findings form. Answered within Slack's 3 s with the form's
own errors when something is wrong, so nothing is lost by closing silently."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from slack_bolt import Ack, App

from bot.gameday.service import Gameday
from bot.jobs import JobPool
from bot.roles import Role
from bot.slack.listeners.pool import in_pool
from bot.slack.render.modals import FINDINGS_VIEW, FindingsSubmission


def _form_error(exc: ValidationError, view: dict[str, Any]) -> str:
    if any(err["loc"][:1] == ("drill",) for err in exc.errors()):
        shown = str(view.get("private_metadata", ""))[:40]
        return (f"This form names drill {shown!r}, which is not a drill id (10 characters, "
                "a-z and 2-7). Open the form again from the drill's Add findings button.")
    return "Could not read the form: keep each line under 500 characters and at most 50 lines."


def register(app: App, jobs: JobPool, gameday: Gameday) -> None:
    @app.view(FINDINGS_VIEW)
    def on_findings_submit(ack: Ack, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        try:
            form = FindingsSubmission.from_view(view)
        except ValidationError as exc:
            ack(response_action="errors", errors={"findings": _form_error(exc, view)})
            return
        user = str((body.get("user") or {}).get("id", ""))
        # Both are quick (the role is cached, the drill one indexed read): within the 3 s ack.
        refused = gameday.refusal(user, "add findings", Role.RESPONDER)
        if refused:
            ack(response_action="errors", errors={"findings": refused})
            return
        if gameday.drills.get(form.drill) is None:
            ack(response_action="errors", errors={"findings": (
                f"Drill {form.drill} no longer exists, so these findings cannot be saved.")})
            return
        ack()
        items = [i.model_dump(exclude_none=True) for i in form.action_items]
        in_pool(jobs, None, lambda: gameday.add_findings(form.drill, user, form.findings, items))
