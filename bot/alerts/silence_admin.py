"""Extend and Expire any Alertmanager silence (the buttons of ``/genai silences``), Slack-free.

A silence may have been made by the bot (an incident's Silence button), by amtool or in
Alertmanager's UI. One that an incident holds stays in step with it: its id and end on the
incident, the card edited and a note in its thread, as Silence and Unsilence do. Every click
is authorized again and audited (refusals too), with the incident when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.alerts.incidents import REQUIRED, IncidentService, Outcome
from bot.alerts.silences import parse_duration
from bot.errors import NotFound, SourceError
from bot.sources.alertmanager import Silence
from bot.store import Incident
from bot.store import NotFound as IncidentGone
from bot.store.states import ActionKind
from bot.times import as_utc, clock, humanize_duration, utcnow

Mode = Literal["now", "end"]
MODES: dict[Mode, str] = {"now": "from now", "end": "past its end"}
_VERB = {ActionKind.SILENCE_EXTEND: "extend silences",
         ActionKind.SILENCE_EXPIRE: "expire silences"}
LIST_AGAIN = "/genai silences lists them again."


@dataclass(frozen=True)
class ExtendChoice:
    """What an Extend menu option carries: ``<silence id>|<duration>|<now|end>``."""

    silence_id: str
    duration: str
    mode: Mode

    @property
    def value(self) -> str:
        return f"{self.silence_id}|{self.duration}|{self.mode}"

    @classmethod
    def parse(cls, value: str) -> ExtendChoice | None:
        silence_id, duration, mode = [*value.split("|"), "", ""][:3]
        if not silence_id or mode not in MODES:
            return None
        return cls(silence_id, duration, "now" if mode == "now" else "end")


def duration_words(duration: str) -> str:
    """``4h`` -> ``4 h``."""
    return humanize_duration(parse_duration(duration).total_seconds())


def _gone(silence_id: str) -> Outcome:
    return Outcome(False, f"Alertmanager has no silence {silence_id!r} (expired long ago, or "
                          f"another Alertmanager). {LIST_AGAIN}")


class SilenceAdmin:
    """Built on the incident service: its roles, store, Alertmanager and outbox wake-up."""

    def __init__(self, service: IncidentService) -> None:
        self.service = service
        self.alertmanager = service.alertmanager
        self.incidents = service.incidents

    def _holder(self, silence_id: str) -> Incident | None:
        return self.incidents.by_silence([silence_id]).get(silence_id)

    def _refused(self, kind: ActionKind, silence_id: str, user_id: str) -> Outcome | None:
        """The refusal (audited, with the incident holding the silence, if any) when the
        caller may not do ``kind``; None when they may."""
        caller = self.service.roles.caller(user_id)
        needed = REQUIRED[kind]
        if caller.may(needed):
            return None
        detail: dict[str, Any] = {"role": caller.role.label, "silence_id": silence_id}
        if caller.lookup_error:
            detail["lookup_error"] = caller.lookup_error
        holder = self._holder(silence_id)
        self.incidents.record_action(holder.public_id if holder else None, kind, user_id,
                                     allowed=False, detail=detail)
        return Outcome(False, caller.refusal(_VERB[kind], needed))

    def _live(self, silence_id: str) -> Silence | Outcome:
        """The silence as Alertmanager has it now (the list may be stale), or why not."""
        try:
            silence = self.alertmanager.silence(silence_id)
        except NotFound:
            return _gone(silence_id)
        except SourceError as exc:
            return Outcome(False, f"Could not read the silence from Alertmanager: {exc.reason}. "
                                  "Nothing changed.")
        if not silence.is_live:
            return Outcome(False, f"The silence on {silence.matcher_text()} has already "
                                  f"expired. {LIST_AGAIN}", changed=False)
        return silence

    def extend(self, value: str, user_id: str, now: datetime | None = None) -> Outcome:
        """Extend by a configured duration, from now or past the silence's current end."""
        choice = ExtendChoice.parse(value)
        silence_id = choice.silence_id if choice else value.partition("|")[0]
        refused = self._refused(ActionKind.SILENCE_EXTEND, silence_id, user_id)
        if refused:
            return refused
        offered = self.service.silence_durations
        if choice is None or choice.duration not in offered:
            return Outcome(False, "That extension is not offered here; choose one of "
                                  f"{', '.join(offered)} (from now or past its end).")
        found = self._live(silence_id)
        if isinstance(found, Outcome):
            return found
        silence = found
        at = as_utc(now) if now is not None else utcnow()
        old_end = as_utc(silence.ends_at)
        until = (at if choice.mode == "now" else old_end) + parse_duration(choice.duration)
        how = f"{duration_words(choice.duration)} {MODES[choice.mode]}"
        if until <= old_end:  # "from now" on a long silence would shorten it
            return Outcome(False, f"{how.capitalize()} would end it at {clock(until, at)}, "
                                  f"before its current end ({clock(old_end, at)}); choose "
                                  f"{duration_words(choice.duration)} {MODES['end']}. "
                                  "Nothing changed.", changed=False)
        detail: dict[str, Any] = {"from": silence.id, "duration": choice.duration,
                                  "mode": choice.mode, "previous_end": old_end.isoformat(),
                                  "matchers": silence.matcher_text()}
        holder = self._holder(silence.id)
        try:
            # Alertmanager updates in place when only the end moves; otherwise it expires
            # the old silence and answers a new id. Creator and comment stay, as amtool's
            # `silence update` keeps them: who extended it is in the bot's audit log.
            new_id = self.alertmanager.create_silence(
                [m.wire() for m in silence.matchers], silence.starts_at, until,
                created_by=silence.created_by or user_id, comment=silence.comment,
                silence_id=silence.id)
        except SourceError as exc:
            self.incidents.record_action(holder.public_id if holder else None,
                                         ActionKind.SILENCE_EXTEND, user_id, allowed=True,
                                         detail={**detail, "error": exc.reason})
            return Outcome(False, f"Alertmanager refused the extension: {exc.reason}")
        ends = f"{clock(until, at)} (in {humanize_duration((until - at).total_seconds())})"
        message = f"Extended the silence on {silence.matcher_text()} by {how}: it ends {ends}."
        if new_id != silence.id:
            message += f" Alertmanager replaced it with silence {new_id}."
        if holder is not None and self._moved(holder, silence.id, new_id, until, user_id,
                                              detail, choice, at):
            message += f" Incident {holder.public_id} ({holder.alertname}) shows the new end."
        else:
            self.incidents.record_action(None, ActionKind.SILENCE_EXTEND, user_id,
                                         allowed=True, now=at,
                                         detail={**detail, "silence_id": new_id,
                                                 "until": until.isoformat()})
        return Outcome(True, f"{message} {LIST_AGAIN}")

    def expire(self, silence_id: str, user_id: str) -> Outcome:
        """Expire it now; an incident holding it loses it the way Unsilence does."""
        refused = self._refused(ActionKind.SILENCE_EXPIRE, silence_id, user_id)
        if refused:
            return refused
        found = self._live(silence_id)
        if isinstance(found, Outcome):
            return found
        silence = found
        try:
            self.alertmanager.expire_silence(silence.id)
        except SourceError as exc:
            return Outcome(False, f"Alertmanager did not expire the silence: {exc.reason}")
        message = f"Expired the silence on {silence.matcher_text()}: its alerts notify again."
        holder = self._holder(silence.id)
        if holder is not None and self._cleared(holder, user_id):
            message += f" Incident {holder.public_id} ({holder.alertname}) is no longer silenced."
        else:
            self.incidents.record_action(None, ActionKind.SILENCE_EXPIRE, user_id, allowed=True,
                                         detail={"silence_id": silence.id,
                                                 "matchers": silence.matcher_text(),
                                                 "created_by": silence.created_by})
        return Outcome(True, f"{message} {LIST_AGAIN}")

    def _moved(self, holder: Incident, old_id: str, new_id: str, until: datetime,
               user_id: str, detail: dict[str, Any], choice: ExtendChoice,
               at: datetime) -> bool:
        """The incident follows its silence; False if the incident is gone meanwhile."""
        try:
            self.incidents.move_silence(
                holder.public_id, old_id, new_id, until, user_id, detail,
                f"— extended {choice.duration} {MODES[choice.mode]}, to {clock(until, at)} "
                f"(silence {new_id})", now=at)
        except IncidentGone:
            return False
        self.service.notify()
        return True

    def _cleared(self, holder: Incident, user_id: str) -> bool:
        """As Unsilence clears it (card, thread, audit); False if the incident is gone."""
        try:
            self.incidents.clear_silence(holder.public_id, user_id,
                                         kind=ActionKind.SILENCE_EXPIRE)
        except IncidentGone:
            return False
        self.service.notify()
        return True
