"""The Bolt app. The only module (with bot/render/) that knows Slack.

Listeners are thin: parse, authorize, ack at once, then hand the work to the job pool and
deliver the Report through `respond()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond
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
from bot.roles import Role
from bot.runtime import Runtime

log = structlog.get_logger(__name__)


def build_client(settings: Settings) -> WebClient:
    token = settings.slack.bot_token.get_secret_value() if settings.slack.bot_token else None
    client = WebClient(token=token, base_url=settings.slack.api_base_url, timeout=10)
    # slack_sdk does not retry 429 by default.
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def resolve_channel_ids(client: WebClient, names: list[str]) -> dict[str, str]:
    """Map configured channel names (#genai-critical) to ids with conversations.list.
    Ids in the config map to themselves; names Slack does not know are left out."""
    wanted = {n.lstrip("#"): n for n in names if n.startswith("#")}
    found = {n: n for n in names if not n.startswith("#")}
    cursor = None
    while wanted:
        page = client.conversations_list(types="public_channel,private_channel",
                                         exclude_archived=True, limit=1000, cursor=cursor)
        for channel in page.get("channels") or []:
            original = wanted.pop(str(channel.get("name")), None)
            if original is not None:
                found[original] = str(channel["id"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return found


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
    register_alert_actions(app, runtime)
    register_gameday_actions(app, runtime)
    register_channel_listener(app, runtime)
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
    if name == "diag" and not report.private:
        # A diagnosis step of a running drill (time to diagnosis); a typo'd pod is not one.
        runtime.gameday.note_diag(user_id, invocation.args)
    audience = "ephemeral" if report.private else "in_channel"
    try:
        resp = respond(response_type=audience, **_report_payload(report))
        if resp.status_code != 200:
            # Slack refused the blocks; the plain text still gets the answer across.
            log.error("respond_rejected", command=name, status=resp.status_code, body=resp.body)
            respond(response_type=audience, text=fallback_text(report))
    except (SlackApiError, OSError) as exc:
        log.error("respond_failed", command=name, error=str(exc))


def _clicked(body: dict[str, Any]) -> tuple[str, str]:
    """(user id, the action's value). Values are opaque incident ids and are looked up again;
    nothing in them is trusted."""
    action = (body.get("actions") or [{}])[0]
    value = action.get("value") or (action.get("selected_option") or {}).get("value") or ""
    return str((body.get("user") or {}).get("id", "")), str(value)


def _in_pool(runtime: Runtime, respond: Respond | None, work: Callable[[], str]) -> None:
    """A click's work in the job pool (its listener has already acked). A non-empty answer
    goes back privately, and the outbox is woken for the message edits the work queued."""
    def job() -> None:
        message = work()
        runtime.notify_outbox()
        if respond is not None and message:
            respond(response_type="ephemeral", replace_original=False, text=message)

    try:
        runtime.jobs.submit(job)
    except PoolFull:
        if respond is not None:
            respond(response_type="ephemeral", replace_original=False,
                    text=":no_entry: The bot is busy; try again in a moment.")


def _register_clicks(app: App, runtime: Runtime,
                     handlers: Mapping[str, Callable[[str, str], str]]) -> None:
    """One listener per action id: ack at once, then `handle(user, value)` in the pool."""
    def listener(handle: Callable[[str, str], str]) -> Callable[..., None]:
        def on_click(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
            ack()
            user, value = _clicked(body)
            _in_pool(runtime, respond, lambda: handle(user, value))

        return on_click

    for action_id, handle in handlers.items():
        app.action(action_id)(listener(handle))


def register_alert_actions(app: App, runtime: Runtime) -> None:
    from bot.alerts.actions import IncidentActions, Outcome
    from bot.render import alert as alert_render

    actions = IncidentActions(runtime)

    def silence(user: str, value: str) -> Outcome:
        pid, _, duration = value.partition("|")  # the select option's "<id>|4h"
        return actions.silence(pid, user, duration)

    handlers: dict[str, Callable[[str, str], Outcome]] = {
        alert_render.ACK: lambda user, pid: actions.acknowledge(pid, user),
        alert_render.SILENCE: silence,
        alert_render.UNSILENCE: lambda user, pid: actions.unsilence(pid, user),
        alert_render.RESOLVE: lambda user, pid: actions.resolve(pid, user),
        alert_render.DIAG: lambda user, pid: actions.diagnose(pid, user),
    }

    def answered(handle: Callable[[str, str], Outcome]) -> Callable[[str, str], str]:
        def answer(user: str, value: str) -> str:
            outcome = handle(user, value)
            return (":white_check_mark: " if outcome.ok else ":no_entry: ") + outcome.message

        return answer

    _register_clicks(app, runtime, {aid: answered(h) for aid, h in handlers.items()})


def register_gameday_actions(app: App, runtime: Runtime) -> None:
    """Join / Start now / Skip on a drill prompt, Add findings (a modal) and its submission.
    Same discipline as the alert buttons: ack at once, the work runs in the job pool."""
    from bot.gameday.render import FINDINGS_VIEW, FindingsSubmission, findings_modal
    from bot.gameday.report import FINDINGS_BUTTON
    from bot.gameday.service import JOIN, SKIP, START_NOW

    gd = runtime.gameday

    _register_clicks(app, runtime, {
        JOIN: lambda user, value: gd.join(value, user),
        START_NOW: lambda user, pid: gd.start_from_prompt(pid, user, runtime.roles.role_of(user)),
        SKIP: lambda user, pid: gd.skip(pid, user, runtime.roles.role_of(user)),
    })

    @app.action(FINDINGS_BUTTON)
    def on_findings(ack: Ack, body: dict[str, Any], client: WebClient,
                    respond: Respond) -> None:
        ack()
        user, drill_id = _clicked(body)
        trigger = str(body.get("trigger_id", ""))

        def open_modal() -> str:
            role = runtime.roles.role_of(user)
            if role < Role.RESPONDER:
                return f"Only responders may add findings; you are a {role.label}."
            drill = gd.drills.get(drill_id)
            if drill is None:
                return "That drill no longer exists."
            # The trigger_id lives 3 s: the pool picks this up well within that.
            client.views_open(trigger_id=trigger,
                              view=findings_modal(drill.public_id, f"Drill {drill.public_id}: "
                                                  f"{drill.scenario}"))
            return ""

        def opened() -> str:
            try:
                return open_modal()
            except SlackApiError as exc:
                return f"Could not open the form: {exc.response.get('error')}"

        _in_pool(runtime, respond, opened)

    @app.view(FINDINGS_VIEW)
    def on_findings_submit(ack: Ack, body: dict[str, Any]) -> None:
        from pydantic import ValidationError

        try:
            form = FindingsSubmission.from_view(body.get("view") or {})
        except ValidationError:
            ack(response_action="errors",
                errors={"findings": "Could not read the form; keep lines under 500 characters."})
            return
        user = str((body.get("user") or {}).get("id", ""))
        role = runtime.roles.role_of(user)  # cached: answers well within the 3 s ack
        if role < Role.RESPONDER:
            ack(response_action="errors",
                errors={"findings": f"Only responders may add findings; you are a {role.label}."})
            return
        ack()
        items = [i.model_dump(exclude_none=True) for i in form.action_items]
        _in_pool(runtime, None,
                 lambda: gd.add_findings(form.drill, user, role, form.findings, items))


def register_channel_listener(app: App, runtime: Runtime) -> None:
    """Alertmanager's own posts in the alert channels (alerts.source=channel): the bot
    answers in their thread with the runbook and the buttons."""
    from bot.alerts.channel import parse_alertmanager_message, to_notification

    configured = {c for c in runtime.settings.channels.model_dump().values()
                  if c and c[0] in "CG"}  # channel ids; names cannot be matched to events

    @app.middleware
    def drop_retried_events(body: dict[str, Any], next: Callable[[], BoltResponse]) -> Any:
        # Slack retries events it thinks we missed (X-Slack-Retry-Num); act on each once.
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and runtime.store.seen_slack_event(str(event_id)):
            return BoltResponse(status=200, body="")
        return next()

    @app.event("message")
    def on_message(event: dict[str, Any], context: BoltContext) -> None:
        if runtime.settings.alerts.source != "channel":
            return
        channel = str(event.get("channel", ""))
        if configured and channel not in configured:
            return
        own = {i for i in (context.bot_id, context.bot_user_id) if i}
        alert = parse_alertmanager_message(event, channel=channel, own_ids=own)
        if alert is None:
            return
        answer = runtime.intake.record(to_notification(alert), channel, thread_ts=alert.ts)
        if answer.status != 200:
            log.error("channel_alert_not_stored", channel=channel, answer=answer.body)
        runtime.notify_outbox()
