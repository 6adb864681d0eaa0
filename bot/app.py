"""The Bolt app. The only module (with bot/render/) that knows Slack.

Listeners are thin: parse, authorize, ack at once, then hand the work to the job pool and
deliver the Report through `respond()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from slack_bolt import Ack, App, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.config import Settings
from bot.dispatch import parse
from bot.jobs import PoolFull
from bot.metrics import ACK_SECONDS
from bot.render.blocks import fallback_text, render_blocks
from bot.render.mrkdwn import escape, truncate
from bot.report import Report
from bot.runtime import Runtime

log = structlog.get_logger(__name__)


def build_client(settings: Settings) -> WebClient:
    token = settings.slack.bot_token.get_secret_value() if settings.slack.bot_token else None
    client = WebClient(token=token, base_url=settings.slack.api_base_url, timeout=10)
    # slack_sdk does not retry 429 by default.
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def usergroup_members(client: WebClient) -> Any:
    def members_of(group_id: str) -> list[str]:
        return list(client.usergroups_users_list(usergroup=group_id).get("users") or [])

    return members_of


def build_app(
    settings: Settings, runtime: Runtime, client: WebClient, *, token_verification: bool = True
) -> App:
    secret = settings.slack.signing_secret
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        # Signatures only exist on HTTP requests; Socket Mode is authenticated by the app token.
        request_verification_enabled=settings.slack.mode == "http",
        token_verification_enabled=token_verification,
        # Listeners here only parse, ack and enqueue, so they run inline in the dispatching
        # thread: no hop to Bolt's listener pool (5 threads by default, where acks queue
        # behind slow work) and no 10 ms polling for the ack. The work goes to the job pool.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(
            max_workers=settings.jobs.listener_threads, thread_name_prefix="listener"
        ),
    )
    if settings.slack.mode == "socket":
        # In HTTP mode the server counts requests in from arrival; here, from dispatch.
        @app.middleware
        def hold_jobs_until_acked(next: Callable[[], BoltResponse]) -> BoltResponse:
            runtime.jobs.gate.enter()
            try:
                return next()
            finally:
                runtime.jobs.gate.leave()

    register_commands(app, runtime)
    return app


def _report_payload(report: Report) -> dict[str, Any]:
    return {"blocks": render_blocks(report), "text": fallback_text(report)}


def register_commands(app: App, runtime: Runtime) -> None:
    @app.command("/genai")
    def on_genai(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        started = time.perf_counter()
        user_id = str(body.get("user_id", ""))
        text = str(body.get("text") or "").strip()
        role = runtime.roles.role_of(user_id)
        parsed = parse(text, role)
        if isinstance(parsed, Report):  # usage, refusal: private, immediate, no job
            ack(response_type="ephemeral", **_report_payload(parsed))
            ACK_SECONDS.observe(time.perf_counter() - started)
            return
        # Ack before the job exists: its backend calls would compete with this ack for the GIL.
        shown = escape(truncate(text, 80))
        ack(response_type="ephemeral", text=f":hourglass_flowing_sand: Working on /genai {shown}…")
        ACK_SECONDS.observe(time.perf_counter() - started)
        try:
            runtime.jobs.submit(lambda: _deliver(runtime, parsed, user_id, role, respond))
        except PoolFull:
            respond(response_type="ephemeral",
                    text=":no_entry: The bot is busy with other commands; try again in a minute.")


def _deliver(runtime: Runtime, invocation: Any, user_id: str, role: Any, respond: Respond) -> None:
    report = runtime.execute(invocation, user_id, role)
    name = invocation.command.name
    audience = "ephemeral" if report.private else "in_channel"
    try:
        resp = respond(response_type=audience, **_report_payload(report))
        if resp.status_code != 200:
            # Slack refused the blocks; the plain text still gets the answer across.
            log.error("respond_rejected", command=name, status=resp.status_code, body=resp.body)
            respond(response_type=audience, text=fallback_text(report))
    except (SlackApiError, OSError) as exc:
        log.error("respond_failed", command=name, error=str(exc))
