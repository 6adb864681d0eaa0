"""``/genai``: parse, authorize, ack at once, run the command in the job pool, answer through
``respond()``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from slack_bolt import Ack, App, Respond
from slack_sdk.errors import SlackApiError

from bot.dispatch import Invocation, parse
from bot.jobs import JobPool, PoolFull
from bot.metrics import ACK_SECONDS
from bot.report import Report
from bot.roles import Caller, RoleResolver
from bot.slack.render.mrkdwn import escape, truncate
from bot.slack.render.report import fallback_text, report_message

log = structlog.get_logger(__name__)

Execute = Callable[[Invocation, Caller], Report]


def register(app: App, roles: RoleResolver, jobs: JobPool, execute: Execute) -> None:
    @app.command("/genai")
    def on_genai(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        started = time.perf_counter()
        caller = roles.caller(str(body.get("user_id", "")))
        text = str(body.get("text") or "").strip()
        parsed = parse(text, caller)
        if isinstance(parsed, Report):  # usage, refusal: private, immediate, no job
            ack(response_type="ephemeral", **report_message(parsed))
            ACK_SECONDS.observe(time.perf_counter() - started)
            return
        # Ack before the job exists: its backend calls would compete with this ack for the GIL.
        shown = escape(truncate(text, 80))
        ack(response_type="ephemeral", text=f":hourglass_flowing_sand: Working on /genai {shown}…")
        ACK_SECONDS.observe(time.perf_counter() - started)
        try:
            jobs.submit(lambda: _deliver(execute, parsed, caller, respond))
        except PoolFull:
            respond(response_type="ephemeral",
                    text=":no_entry: The bot is busy with other commands; try again in a minute.")


def _deliver(execute: Execute, invocation: Invocation, caller: Caller, respond: Respond) -> None:
    report = execute(invocation, caller)
    audience = "ephemeral" if report.private else "in_channel"
    name = invocation.command.name
    try:
        resp = respond(response_type=audience, **report_message(report))
        if resp.status_code != 200:
            # Slack refused the blocks; the plain text still gets the answer across.
            log.error("respond_rejected", command=name, status=resp.status_code, body=resp.body)
            respond(response_type=audience, text=fallback_text(report))
    except (SlackApiError, OSError) as exc:
        log.error("respond_failed", command=name, error=str(exc))
