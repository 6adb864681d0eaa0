"""What people do to an incident, Slack-free: acknowledge, silence, unsilence, resolve,
diagnose. The buttons and ``/genai ack`` both call this, so both authorize, audit (refusals
too), edit the card and note it in the thread the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from bot.alerts.silences import group_labels, parse_duration
from bot.alerts.view import AlertView
from bot.errors import SourceError
from bot.report import Report
from bot.roles import Caller, Role, RoleResolver
from bot.runbooks import Runbook, RunbookIndex
from bot.sources.alertmanager import AlertmanagerSource, matchers_for
from bot.store import Incident, NotFound
from bot.store.incidents import IncidentStore
from bot.store.states import ActionKind
from bot.times import humanize_duration, utcnow
from bot.words import plural

log = structlog.get_logger(__name__)

# Who may do what to an incident: one table, read by every entry point.
REQUIRED: dict[ActionKind, Role] = dict.fromkeys(ActionKind, Role.RESPONDER)

Diagnose = Callable[[AlertView, Runbook, Caller], tuple[Report, dict[str, Any]]]
"""Runs the alert's diagnosis as ``caller``: the report for the thread and the audit
detail. Injected by the wiring (it runs ``commands.diag``, above this layer)."""


@dataclass(frozen=True)
class Outcome:
    """What the person who acted is told, privately. ``message`` is plain text; ``{user}``
    in it stands for ``user``, which a sink shows as a mention."""

    ok: bool
    message: str
    user: str | None = None
    changed: bool = True  # False: nothing to do (already acknowledged, already resolved)

    def text(self, mention: Callable[[str], str] = str) -> str:
        return self.message.replace("{user}", mention(self.user or "someone"))


def _gone(public_id: str) -> Outcome:
    return Outcome(False, f"There is no incident {public_id!r} (it may have been removed); "
                          "/genai alerts lists the open ones.")


class IncidentService:
    def __init__(self, incidents: IncidentStore, roles: RoleResolver,
                 alertmanager: AlertmanagerSource, runbooks: RunbookIndex,
                 silence_durations: list[str], diagnose: Diagnose,
                 on_resolved: Callable[[Incident, str], None] = lambda _i, _u: None,
                 notify: Callable[[], None] = lambda: None) -> None:
        self.incidents = incidents
        self.roles = roles
        self.alertmanager = alertmanager
        self.runbooks = runbooks
        self.silence_durations = silence_durations
        self.run_diagnosis = diagnose
        self.on_resolved = on_resolved  # a drill's alert resolved: the drill ends
        self.notify = notify  # wakes the outbox after a commit that queued messages

    def _authorize(self, kind: ActionKind, public_id: str, user_id: str,
                   ) -> tuple[Caller, Outcome | None]:
        """The caller, and the refusal (already audited) when they may not do ``kind``."""
        caller = self.roles.caller(user_id)
        needed = REQUIRED[kind]
        if caller.may(needed):
            return caller, None
        detail: dict[str, Any] = {"role": caller.role.label}
        if caller.lookup_error:
            detail["lookup_error"] = caller.lookup_error
        self.incidents.record_action(public_id, kind, user_id, allowed=False, detail=detail)
        return caller, Outcome(False, caller.refusal(f"{kind.verb} alerts", needed))

    def acknowledge(self, public_id: str, user_id: str, now: datetime | None = None) -> Outcome:
        _, refused = self._authorize(ActionKind.ACK, public_id, user_id)
        if refused:
            return refused
        try:
            done = self.incidents.acknowledge(public_id, user_id, now or utcnow())
        except NotFound:
            return _gone(public_id)
        inc = done.incident
        if not done.changed:
            took = humanize_duration(inc.tta_s or 0)
            return Outcome(True, f"Already acknowledged by {{user}} after {took}.", inc.acked_by,
                           changed=False)
        self.notify()
        return Outcome(True, f"Acknowledged {inc.alertname} ({inc.public_id}) after "
                             f"{humanize_duration(inc.tta_s or 0)}.")

    def silence(self, public_id: str, user_id: str, duration: str) -> Outcome:
        _, refused = self._authorize(ActionKind.SILENCE, public_id, user_id)
        if refused:
            return refused
        if duration not in self.silence_durations:
            offered = ", ".join(self.silence_durations)
            return Outcome(False, f"Silence for {duration!r} is not offered here; choose one "
                                  f"of {offered}.")
        inc = self.incidents.get(public_id)
        if inc is None:
            return _gone(public_id)
        now = utcnow()
        until = now + parse_duration(duration)
        try:
            silence_id = self.alertmanager.create_silence(
                matchers_for(group_labels(inc)), now, until, created_by=user_id,
                comment=f"genai-ops-bot: {inc.alertname} silenced for {duration} from Slack "
                        f"(incident {inc.public_id})",
            )
        except SourceError as exc:
            self.incidents.record_action(public_id, ActionKind.SILENCE, user_id, allowed=True,
                                         detail={"error": exc.reason, "duration": duration})
            return Outcome(False, f"Alertmanager refused the silence: {exc.reason}")
        try:
            self.incidents.set_silence(public_id, silence_id, until, user_id,
                                       f"for {duration} (silence {silence_id})", now=now)
        except NotFound:
            return _gone(public_id)
        self.notify()
        return Outcome(True, f"Silenced for {duration} (silence {silence_id}).")

    def unsilence(self, public_id: str, user_id: str) -> Outcome:
        _, refused = self._authorize(ActionKind.UNSILENCE, public_id, user_id)
        if refused:
            return refused
        inc = self.incidents.get(public_id)
        if inc is None:
            return _gone(public_id)
        if inc.silence_id is None:
            return Outcome(False, "That incident is not silenced.")
        try:
            self.alertmanager.expire_silence(inc.silence_id)
        except SourceError as exc:
            return Outcome(False, f"Alertmanager did not expire the silence: {exc.reason}")
        try:
            self.incidents.clear_silence(public_id, user_id)
        except NotFound:
            return _gone(public_id)
        self.notify()
        return Outcome(True, "Silence expired: the group's alerts notify again.")

    def resolve(self, public_id: str, user_id: str) -> Outcome:
        _, refused = self._authorize(ActionKind.RESOLVE, public_id, user_id)
        if refused:
            return refused
        try:
            done = self.incidents.resolve_by_hand(public_id, user_id, utcnow())
        except NotFound:
            return _gone(public_id)
        if done.changed:
            self.notify()
            if done.incident.drill:  # the drill's alert: end the drill, post its report
                self.on_resolved(done.incident, user_id)
        if not done.changed:
            return Outcome(True, "It was already resolved.", changed=False)
        return Outcome(True, "Resolved.")

    def findings_refusal(self, public_id: str, user_id: str) -> str | None:
        """Why ``user_id`` may not add postmortem findings to the incident (the refusal is
        audited), or None: the findings form asks before it closes."""
        _, refused = self._authorize(ActionKind.FINDINGS, public_id, user_id)
        return refused.message if refused else None

    def add_findings(self, public_id: str, user_id: str, findings: list[str],
                     items: list[dict[str, Any]]) -> Outcome:
        """The postmortem's findings and action items, kept on the incident and audited."""
        _, refused = self._authorize(ActionKind.FINDINGS, public_id, user_id)
        if refused:
            return refused
        try:
            self.incidents.add_findings(public_id, user_id, findings, items, utcnow())
        except NotFound:
            return _gone(public_id)
        return Outcome(True, f"Saved {plural(len(findings), 'finding')} and "
                             f"{plural(len(items), 'action item')} on incident {public_id}.")

    def diagnose(self, public_id: str, user_id: str) -> Outcome:
        """Runs here, in the job pool (the click was acked already); the outbox posts the
        report, so a Slack retry never re-runs it."""
        caller, refused = self._authorize(ActionKind.DIAG, public_id, user_id)
        if refused:
            return refused
        found = self.incidents.with_latest_event(public_id)
        if found is None:
            return _gone(public_id)
        view = AlertView.from_incident(*found)
        report, detail = self.run_diagnosis(view, self.runbooks.for_alert(view.alertname),
                                            caller)
        try:
            self.incidents.record_diagnosis(public_id, user_id, detail, report)
        except NotFound:
            return _gone(public_id)
        self.notify()
        if "missing_label" in detail or detail.get("scenario") == "none":
            return Outcome(True, "The runbook's diagnosis steps are in the thread.")
        return Outcome(True, f"Diagnostics ({detail['scenario']}) posted in the thread: "
                             f"{report.summary or report.status.value}.")
