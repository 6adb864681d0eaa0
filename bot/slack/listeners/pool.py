"""Ack at once, work after: what every listener does with a click or a command. The work runs
in the bounded job pool, never in the thread that owes Slack its 3 s ack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Respond

from bot.jobs import JobPool, PoolFull
from bot.slack.render.kit import mention
from bot.slack.render.mrkdwn import escape

BUSY = ":no_entry: The bot is busy; try again in a moment."


def clicked(body: dict[str, Any]) -> tuple[str, str]:
    """(user id, the action's value). Values are opaque ids that are looked up again;
    nothing in them is trusted."""
    action = (body.get("actions") or [{}])[0]
    value = action.get("value") or (action.get("selected_option") or {}).get("value") or ""
    return str((body.get("user") or {}).get("id", "")), str(value)


def answer(ok: bool, text: str, user: str | None = None) -> str:
    """A private answer: escaped plain text, ``{user}`` shown as a mention."""
    body = escape(text)
    if user is not None:
        body = body.replace("{user}", mention(user))
    return (":white_check_mark: " if ok else ":no_entry: ") + body


def in_pool(jobs: JobPool, respond: Respond | None, work: Callable[[], str]) -> None:
    """Run ``work`` in the job pool; a non-empty result goes back privately."""
    def job() -> None:
        message = work()
        if respond is not None and message:
            respond(response_type="ephemeral", replace_original=False, text=message)

    try:
        jobs.submit(job)
    except PoolFull:
        if respond is not None:
            respond(response_type="ephemeral", replace_original=False, text=BUSY)
