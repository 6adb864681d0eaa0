"""Button clicks: one registry of every button (id, who may press it, what it does). Each
click is acked at once; its handler runs in the job pool and answers privately.

The role column says who may press a button; the service behind it enforces that (and
audits a refusal), so ``/genai ack`` and the Acknowledge button refuse the same people the
same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts import postmortem, timeline
from bot.alerts.digest import DigestActions
from bot.alerts.incidents import REQUIRED, IncidentService, Outcome
from bot.alerts.silence_admin import SilenceAdmin
from bot.buttons import Button
from bot.gameday.service import Gameday
from bot.jobs import JobPool
from bot.roles import Role
from bot.slack.listeners.pool import answer, clicked, in_pool
from bot.slack.render.modals import Subject, findings_modal
from bot.slack.render.mrkdwn import escape
from bot.slack.render.report import report_message
from bot.store.states import ActionKind

Handler = Callable[[str, str, dict[str, Any]], str]
"""(user id, the button's value, the whole click body) -> the private answer (mrkdwn)."""


@dataclass(frozen=True)
class ButtonAction:
    button: Button
    role: Role
    handle: Handler


def _outcome(run: Callable[[str, str], Outcome]) -> Handler:
    def handle(user: str, value: str, _body: dict[str, Any]) -> str:
        done = run(user, value)
        return answer(done.ok, done.message, done.user)

    return handle


def _text(run: Callable[[str, str], str]) -> Handler:
    def handle(user: str, value: str, _body: dict[str, Any]) -> str:
        return escape(run(user, value))

    return handle


def _silence(incidents: IncidentService) -> Callable[[str, str], Outcome]:
    def run(user: str, value: str) -> Outcome:
        public_id, _, duration = value.partition("|")  # the option's "<id>|4h"
        return incidents.silence(public_id, user, duration)

    return run


def _open_form(client: WebClient, body: dict[str, Any], view: dict[str, Any]) -> str:
    """Open the findings form (a drill's or an incident's): "" once open, else why not."""
    try:  # the trigger_id lives 3 s: the pool picks this up well within that
        client.views_open(trigger_id=str(body.get("trigger_id", "")), view=view)
    except SlackApiError as exc:
        return escape(f"Could not open the form: {exc.response.get('error')}")
    return ""


def _open_findings(gameday: Gameday, client: WebClient) -> Handler:
    def handle(user: str, drill_id: str, body: dict[str, Any]) -> str:
        refused = gameday.refusal(user, "add findings", Role.RESPONDER)
        if refused:
            return escape(refused)
        drill = gameday.drills.get(drill_id)
        if drill is None:
            return "That drill no longer exists."
        return _open_form(client, body, findings_modal(
            drill.public_id, f"Drill {drill.public_id}: {drill.scenario}"))

    return handle


def _postmortem(incidents: IncidentService, client: WebClient,
                public_url: str | None) -> Handler:
    """A resolved incident's Postmortem: the findings form for a responder, and for anyone
    the Markdown postmortem, privately (as `/genai incident export` gives it)."""
    def handle(user: str, pid: str, body: dict[str, Any]) -> str:
        inc = incidents.incidents.get(pid)
        if inc is None:
            return answer(False, f"There is no incident {pid!r} (it may have been removed).")
        caller = incidents.roles.caller(user)
        needed = REQUIRED[ActionKind.FINDINGS]
        # The form first: its trigger_id expires 3 s after the click.
        note = _open_form(client, body, findings_modal(
            pid, f"Incident {pid}: {inc.alertname}", Subject.INCIDENT)) \
            if caller.may(needed) else escape(caller.refusal("add postmortem findings", needed))
        found = timeline.load(incidents.incidents.db, pid)
        if found is not None:
            report = postmortem.export_report(
                found, incidents.runbooks.for_alert(inc.alertname), public_url)
            Respond(response_url=body.get("response_url"))(
                response_type="ephemeral", replace_original=False, **report_message(report))
        return note

    return handle


def registry(incidents: IncidentService, gameday: Gameday, client: WebClient,
             public_url: str | None = None) -> tuple[ButtonAction, ...]:
    return (
        ButtonAction(Button.ACK, REQUIRED[ActionKind.ACK], _outcome(
            lambda user, pid: incidents.acknowledge(pid, user))),
        ButtonAction(Button.SILENCE, REQUIRED[ActionKind.SILENCE],
                     _outcome(_silence(incidents))),
        ButtonAction(Button.UNSILENCE, REQUIRED[ActionKind.UNSILENCE], _outcome(
            lambda user, pid: incidents.unsilence(pid, user))),
        ButtonAction(Button.DIAG, REQUIRED[ActionKind.DIAG], _outcome(
            lambda user, pid: incidents.diagnose(pid, user))),
        ButtonAction(Button.RESOLVE, REQUIRED[ActionKind.RESOLVE], _outcome(
            lambda user, pid: incidents.resolve(pid, user))),
        # /genai silences: any Alertmanager silence; the value is "<id>|<duration>|<now|end>"
        ButtonAction(Button.SILENCE_EXTEND, REQUIRED[ActionKind.SILENCE_EXTEND], _outcome(
            lambda user, value: SilenceAdmin(incidents).extend(value, user))),
        ButtonAction(Button.SILENCE_EXPIRE, REQUIRED[ActionKind.SILENCE_EXPIRE], _outcome(
            lambda user, sid: SilenceAdmin(incidents).expire(sid, user))),
        # A storm digest's menus: every open incident of one alert name; the value is
        # "<digest id>|<alert name key>" (plus "|<duration>" for a silence).
        ButtonAction(Button.DIGEST_ACK, REQUIRED[ActionKind.ACK], _outcome(
            DigestActions(incidents).acknowledge)),
        ButtonAction(Button.DIGEST_SILENCE, REQUIRED[ActionKind.SILENCE], _outcome(
            DigestActions(incidents).silence)),
        ButtonAction(Button.DRILL_JOIN, Role.VIEWER, _text(
            lambda user, value: gameday.join(value, user))),
        ButtonAction(Button.DRILL_START, Role.ADMIN, _text(
            lambda user, pid: gameday.start_from_prompt(pid, user))),
        ButtonAction(Button.DRILL_SKIP, Role.ADMIN, _text(
            lambda user, pid: gameday.skip(pid, user))),
        ButtonAction(Button.DRILL_FINDINGS, Role.RESPONDER, _open_findings(gameday, client)),
        # Anyone may read the postmortem; the form inside needs a responder.
        ButtonAction(Button.POSTMORTEM, Role.VIEWER, _postmortem(incidents, client, public_url)),
    )


def register(app: App, jobs: JobPool, buttons: Sequence[ButtonAction]) -> None:
    def listener(handle: Handler) -> Callable[..., None]:
        def on_click(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
            ack()
            user, value = clicked(body)
            in_pool(jobs, respond, lambda: handle(user, value, body))

        return on_click

    for entry in buttons:
        app.action(entry.button.value)(listener(entry.handle))
