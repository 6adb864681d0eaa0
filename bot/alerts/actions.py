"""What the alert buttons do, Slack-free: authorize, act, audit, enqueue the message edits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import structlog

from bot.alerts.intake import payload_builder
from bot.errors import SourceError
from bot.roles import Role, RoleResolver
from bot.runtime import Runtime
from bot.sources.alertmanager import matchers_for
from bot.store import Incident, NotFound, utcnow

log = structlog.get_logger(__name__)

_DURATION = re.compile(r"^(\d{1,3})([mhd])$")
_GROUP_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNQUOTE = re.compile(r"\\(.)")


def parse_duration(text: str) -> timedelta:
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"bad duration {text!r}")
    n, unit = int(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]


def group_labels(incident: Incident) -> dict[str, str]:
    """The group's labels, read from Alertmanager's groupKey (`<route>:{a="b", …}`): a
    silence on them covers the whole group, as an on-call engineer expects. Falls back to
    the incident's common labels when the key has another shape (channel-sourced alerts)."""
    key = incident.group_key
    start = key.rfind(":{")
    if start >= 0 and key.endswith("}"):
        pairs = _GROUP_LABEL.findall(key[start + 2 : -1])
        if pairs:
            return {k: _UNQUOTE.sub(r"\1", v) for k, v in pairs}
    return {k: str(v) for k, v in incident.labels.items()}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str  # shown privately to the clicker


class IncidentActions:
    def __init__(self, runtime: Runtime, roles: RoleResolver | None = None) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.roles = roles or runtime.roles

    def authorize(self, kind: str, public_id: str, user_id: str) -> Outcome | None:
        """None when allowed; otherwise the refusal, audited like any other click."""
        role = self.roles.role_of(user_id)
        if role >= Role.RESPONDER:
            return None
        self.store.record_action(public_id, kind, user_id, allowed=False,
                                 detail={"role": role.label})
        return Outcome(False, f"Only responders may {kind} alerts; you are a {role.label}. "
                              "Ask an admin to add you to the responders.")

    def _note(self, incident: Incident, note: str, user_id: str, key: str,
              detail: str = "") -> None:
        self.store.enqueue(
            "thread_reply", incident.channel,
            {"incident": incident.public_id, "note": note, "user": user_id, "detail": detail},
            dedupe_key=f"incident:{incident.public_id}:note:{key}",
            incident_public_id=incident.public_id,
        )

    def acknowledge(self, public_id: str, user_id: str) -> Outcome:
        refused = self.authorize("ack", public_id, user_id)
        if refused:
            return refused
        try:
            inc, first = self.store.acknowledge(public_id, user_id, utcnow(),
                                                outbox_payload_builder=payload_builder)
        except NotFound:
            return Outcome(False, "That incident no longer exists.")
        if not first:
            return Outcome(True, f"Already acknowledged by <@{inc.acked_by}>.")
        self._note(inc, "ack", user_id, "ack")
        return Outcome(True, "Acknowledged.")

    def silence(self, public_id: str, user_id: str, duration: str) -> Outcome:
        refused = self.authorize("silence", public_id, user_id)
        if refused:
            return refused
        if duration not in self.runtime.settings.alerts.silence_durations:
            return Outcome(False, f"Unknown silence duration {duration!r}.")
        inc = self.store.incident(public_id)
        if inc is None:
            return Outcome(False, "That incident no longer exists.")
        now = utcnow()
        until = now + parse_duration(duration)
        try:
            silence_id = self.runtime.alertmanager.create_silence(
                matchers_for(group_labels(inc)), now, until, created_by=user_id,
                comment=f"genai-ops-bot: {inc.alertname} silenced for {duration} from Slack "
                        f"(incident {inc.public_id})",
            )
        except SourceError as exc:
            self.store.record_action(public_id, "silence", user_id, allowed=True,
                                     detail={"error": exc.reason, "duration": duration})
            return Outcome(False, f"Alertmanager refused the silence: {exc.reason}")
        inc = self.store.set_silence(public_id, silence_id, until, user_id,
                                     outbox_payload_builder=payload_builder)
        self._note(inc, "silence", user_id, f"silence:{silence_id}",
                   detail=f"for {duration} (silence {silence_id})")
        return Outcome(True, f"Silenced for {duration} (silence {silence_id}).")

    def unsilence(self, public_id: str, user_id: str) -> Outcome:
        refused = self.authorize("unsilence", public_id, user_id)
        if refused:
            return refused
        inc = self.store.incident(public_id)
        if inc is None or inc.silence_id is None:
            return Outcome(False, "That incident is not silenced.")
        try:
            self.runtime.alertmanager.expire_silence(inc.silence_id)
        except SourceError as exc:
            return Outcome(False, f"Alertmanager did not expire the silence: {exc.reason}")
        silence_id = inc.silence_id
        inc = self.store.clear_silence(public_id, user_id, outbox_payload_builder=payload_builder)
        self._note(inc, "unsilence", user_id, f"unsilence:{silence_id}")
        return Outcome(True, "Silence expired.")

    def resolve(self, public_id: str, user_id: str) -> Outcome:
        refused = self.authorize("resolve", public_id, user_id)
        if refused:
            return refused
        try:
            inc, changed = self.store.resolve_by_hand(public_id, user_id, utcnow(),
                                                        outbox_payload_builder=payload_builder)
        except NotFound:
            return Outcome(False, "That incident no longer exists.")
        if changed and inc.drill:  # the drill's alert: end the drill, post its report
            self.runtime.gameday.on_incident_resolved(inc, user_id)
        return Outcome(True, "Resolved." if changed else "It was already resolved.")

    def diagnose(self, public_id: str, user_id: str) -> Outcome:
        refused = self.authorize("diag", public_id, user_id)
        if refused:
            return refused
        inc = self.store.incident(public_id)
        if inc is None:
            return Outcome(False, "That incident no longer exists.")
        # Runs the alert's linked /genai diag scenario here, in the job pool (the click was
        # acked already); the outbox posts the report, so a Slack retry never re-runs it.
        from bot.alerts.view import AlertView
        from commands.diag import alert_labels, for_alert

        events = self.store.incident_events(public_id)
        view = AlertView.from_incident(inc, events[-1] if events else None)
        labels = alert_labels(view.labels, [a.labels for a in view.firing_alerts()])
        scenario = self.runtime.runbooks.for_alert(inc.alertname).diag_scenario
        ctx = self.runtime.context(user_id, self.roles.role_of(user_id))
        report, detail = for_alert(ctx, scenario, labels)
        action = self.store.record_action(public_id, "diag", user_id, allowed=True,
                                          detail=detail)
        payload = {"incident": inc.public_id, "note": "diag", "user": user_id,
                   "missing": detail.get("missing_label", ""),
                   "report": report.model_dump(mode="json") if report else None}
        self.store.enqueue("thread_reply", inc.channel, payload,
                           dedupe_key=f"incident:{inc.public_id}:note:diag:{action.id}",
                           incident_public_id=inc.public_id)
        if report is None:
            return Outcome(True, "Diagnosis steps posted in the thread.")
        return Outcome(True, f"Diagnostics ({detail['scenario']}) posted in the thread: "
                             f"{report.summary or report.status.value}.")
