"""Incidents after they open: what people do to them (the audit log) and what they look like.

Every method is one transaction. Changes that Slack must show queue their messages in the
same transaction, so a committed acknowledge always edits the card.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.messages import Diagnosis, IncidentUpdate, NoteKind, ThreadNote
from bot.report import Report
from bot.store.db import Database
from bot.store.models import Action, AlertEvent, Incident
from bot.store.outbox import add_message
from bot.store.states import ActionKind
from bot.times import as_utc, utcnow


class NotFound(LookupError):
    """No incident with that public id."""


def get_incident(s: Session, public_id: str, *, lock: bool = False) -> Incident:
    q = select(Incident).where(Incident.public_id == public_id)
    if lock:
        q = q.with_for_update()
    inc = s.scalars(q).first()
    if inc is None:
        raise NotFound(public_id)
    return inc


def add_action(s: Session, inc: Incident | None, kind: ActionKind, user_id: str,
               allowed: bool, detail: dict[str, Any], at: datetime,
               drill_id: int | None = None) -> Action:
    act = Action(incident_id=inc.id if inc is not None else None, drill_id=drill_id,
                 kind=kind, user_id=user_id, at=at, detail=detail, allowed=allowed)
    s.add(act)
    s.flush()
    return act


def announce(s: Session, inc: Incident, act: Action, what: str, note: ThreadNote,
             note_key: str) -> None:
    """The card edit and thread note an action brings, in the action's transaction. Each
    action edits the card (keyed by the action); the note is keyed by ``note_key``, so the
    same news is told once."""
    add_message(s, IncidentUpdate(incident=inc.public_id), inc.channel,
                f"incident:{inc.id}:update:{what}:{act.id}", act.at, inc.id)
    add_message(s, note, inc.channel, f"incident:{inc.public_id}:note:{note_key}", act.at,
                inc.id)


def diag_key(public_id: str, action_id: int) -> str:
    """The outbox key of a Run diagnostics' report; the postmortem reads the report back."""
    return f"incident:{public_id}:note:diag:{action_id}"


def resolution_key(inc: Incident, what: str) -> str:
    """One resolution per incident generation, whoever resolves it (Alertmanager or a
    person): both paths use this key, so the card is edited and the note posted once."""
    return f"incident:{inc.id}:g{inc.generation}:{what}:resolved"


def enqueue_resolution(s: Session, inc: Incident, at: datetime) -> None:
    add_message(s, IncidentUpdate(incident=inc.public_id), inc.channel,
                resolution_key(inc, "update"), at, inc.id)
    add_message(s, ThreadNote(incident=inc.public_id, note=NoteKind.RESOLVED), inc.channel,
                resolution_key(inc, "thread_reply"), at, inc.id)


@dataclass(frozen=True)
class Changed:
    """An incident after an action, and whether the action changed it."""

    incident: Incident
    changed: bool


class IncidentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ reads

    def get(self, public_id: str) -> Incident | None:
        with self.db.session(readonly=True) as s:
            return s.scalars(select(Incident).where(Incident.public_id == public_id)).first()

    def with_latest_event(self, public_id: str) -> tuple[Incident, AlertEvent | None] | None:
        """The incident and its latest notification, read together."""
        with self.db.session(readonly=True) as s:
            inc = s.scalars(select(Incident).where(Incident.public_id == public_id)).first()
            if inc is None:
                return None
            event = s.scalars(select(AlertEvent).where(AlertEvent.incident_id == inc.id)
                              .order_by(AlertEvent.id.desc()).limit(1)).first()
            return inc, event

    def open(self, include_drills: bool = False) -> list[Incident]:
        """Firing incidents, oldest first."""
        q = select(Incident).where(Incident.open_marker == 1)
        if not include_drills:
            q = q.where(Incident.drill.is_(False))
        with self.db.session(readonly=True) as s:
            return list(s.scalars(q.order_by(Incident.opened_at, Incident.id)))

    def actions(self, public_id: str) -> list[Action]:
        """The audit log of one incident, oldest first. Raises :class:`NotFound`."""
        with self.db.session(readonly=True) as s:
            inc = get_incident(s, public_id)
            return list(s.scalars(select(Action).where(Action.incident_id == inc.id)
                                  .order_by(Action.id)))

    def events(self, public_id: str) -> list[AlertEvent]:
        """The notifications recorded for one incident, oldest first. Raises NotFound."""
        with self.db.session(readonly=True) as s:
            inc = get_incident(s, public_id)
            return list(s.scalars(select(AlertEvent).where(AlertEvent.incident_id == inc.id)
                                  .order_by(AlertEvent.id)))

    # ------------------------------------------------------------------ the audit log

    def record_action(self, incident_public_id: str | None, kind: ActionKind, user_id: str,
                      allowed: bool, detail: dict[str, Any] | None = None, *,
                      drill_id: int | None = None, now: datetime | None = None) -> Action:
        """Append to the audit log. An unknown public id is kept in ``detail["incident"]``
        (a forged or stale button is still recorded, e.g. as refused)."""
        at = as_utc(now) if now is not None else utcnow()
        info = dict(detail or {})
        with self.db.session() as s:
            inc = None
            if incident_public_id is not None:
                inc = s.scalars(select(Incident)
                                .where(Incident.public_id == incident_public_id)).first()
                if inc is None:
                    info.setdefault("incident", incident_public_id)
            return add_action(s, inc, kind, user_id, allowed, info, at, drill_id)

    # ------------------------------------------------------------------ actions

    def acknowledge(self, public_id: str, user_id: str, now: datetime) -> Changed:
        """Acknowledge; ``changed`` is False if already acknowledged (the first ack's time and
        user stay). Audited with ``tta_s``; the first ack edits the card and notes it in the
        thread. Raises :class:`NotFound`."""
        at = as_utc(now)
        with self.db.session() as s:
            inc = get_incident(s, public_id, lock=True)
            first = inc.acked_at is None
            if first:
                inc.acked_at = at
                inc.acked_by = user_id
            detail: dict[str, Any] = {"tta_s": inc.tta_s, "first": first}
            if not first:
                detail["acked_by"] = inc.acked_by
            act = add_action(s, inc, ActionKind.ACK, user_id, True, detail, at)
            if first:
                announce(s, inc, act, "ack", ThreadNote(incident=inc.public_id,
                                                        note=NoteKind.ACK, user=user_id),
                         "ack")
            return Changed(inc, first)

    def resolve_by_hand(self, public_id: str, user_id: str, now: datetime) -> Changed:
        """Resolve from Slack; ``changed`` is False if it was already resolved. Audited, and
        queues the same card edit and thread note as an Alertmanager resolve (same keys).
        Raises :class:`NotFound`. If Alertmanager keeps sending ``firing`` for the group,
        that opens a new incident."""
        at = as_utc(now)
        with self.db.session() as s:
            inc = get_incident(s, public_id, lock=True)
            changed = inc.is_open
            if changed:
                inc.mark_resolved(at, by=user_id)
                enqueue_resolution(s, inc, at)
            add_action(s, inc, ActionKind.RESOLVE, user_id, True, {"changed": changed}, at)
            return Changed(inc, changed)

    def set_silence(self, public_id: str, silence_id: str, until: datetime, user_id: str,
                    detail: str, *, now: datetime | None = None) -> Incident:
        """Keep the Alertmanager silence on the incident, audit it, edit the card and note
        it in the thread (``detail``: e.g. "for 4h (silence abc)"). Raises NotFound."""
        at = as_utc(now) if now is not None else utcnow()
        end = as_utc(until)
        with self.db.session() as s:
            inc = get_incident(s, public_id, lock=True)
            inc.silence_id = silence_id
            inc.silenced_until = end
            act = add_action(s, inc, ActionKind.SILENCE, user_id, True,
                             {"silence_id": silence_id, "until": end.isoformat()}, at)
            announce(s, inc, act, "silence", ThreadNote(incident=inc.public_id,
                                                        note=NoteKind.SILENCE, user=user_id,
                                                        detail=detail),
                     f"silence:{silence_id}")
            return inc

    def clear_silence(self, public_id: str, user_id: str, *,
                      now: datetime | None = None,
                      kind: ActionKind = ActionKind.UNSILENCE) -> Incident:
        """Forget the incident's silence (after expiring it in Alertmanager), audit it with
        the old id (as ``kind``: Unsilence, or Expire from ``/genai silences``), edit the
        card and note it. Raises :class:`NotFound`."""
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session() as s:
            inc = get_incident(s, public_id, lock=True)
            old = inc.silence_id
            inc.silence_id = None
            inc.silenced_until = None
            act = add_action(s, inc, kind, user_id, True, {"silence_id": old}, at)
            announce(s, inc, act, "unsilence", ThreadNote(incident=inc.public_id,
                                                          note=NoteKind.UNSILENCE,
                                                          user=user_id),
                     f"unsilence:{old}")
            return inc

    def by_silence(self, silence_ids: Collection[str]) -> dict[str, Incident]:
        """The incident that holds each of these Alertmanager silence ids (the newest, if
        several ever did); ids no incident holds are left out."""
        if not silence_ids:
            return {}
        with self.db.session(readonly=True) as s:
            found = s.scalars(select(Incident).where(Incident.silence_id.in_(silence_ids))
                              .order_by(Incident.id))
            return {inc.silence_id: inc for inc in found if inc.silence_id is not None}

    def move_silence(self, public_id: str, old_id: str, new_id: str, until: datetime,
                     user_id: str, detail: dict[str, Any], note: str, *,
                     now: datetime | None = None) -> Incident:
        """An extended silence of this incident: keep its (possibly new) id and end, audit
        the extension, edit the card and note it in the thread (``note``: e.g. "extended to
        18:00 UTC"). The incident keeps its silence only if it still held ``old_id``.
        Raises :class:`NotFound`."""
        at = as_utc(now) if now is not None else utcnow()
        end = as_utc(until)
        with self.db.session() as s:
            inc = get_incident(s, public_id, lock=True)
            if inc.silence_id == old_id:
                inc.silence_id = new_id
                inc.silenced_until = end
            act = add_action(s, inc, ActionKind.SILENCE_EXTEND, user_id, True,
                             {**detail, "silence_id": new_id, "until": end.isoformat()}, at)
            announce(s, inc, act, "silence_extend",
                     ThreadNote(incident=inc.public_id, note=NoteKind.SILENCE, user=user_id,
                                detail=note),
                     f"silence_extend:{act.id}")
            return inc

    def record_diagnosis(self, public_id: str, user_id: str, detail: dict[str, Any],
                         report: Report | None, missing_label: str = "", *,
                         now: datetime | None = None) -> Action:
        """Audit a Run diagnostics and queue its answer for the thread, together.
        Raises :class:`NotFound`."""
        at = as_utc(now) if now is not None else utcnow()
        with self.db.session() as s:
            inc = get_incident(s, public_id)
            act = add_action(s, inc, ActionKind.DIAG, user_id, True, detail, at)
            add_message(s, Diagnosis(incident=inc.public_id, user=user_id, report=report,
                                     missing_label=missing_label),
                        inc.channel, diag_key(inc.public_id, act.id), at, inc.id)
            return act

    def add_findings(self, public_id: str, user_id: str, findings: list[str],
                     items: list[dict[str, Any]], now: datetime) -> Incident:
        """Append a postmortem's findings and action items, each stamped with who and when
        (as a drill keeps them), and audit it. Raises :class:`NotFound`."""
        at = as_utc(now)
        with self.db.session() as s:
            inc = get_incident(s, public_id, lock=True)
            stamp = {"by": user_id, "at": at.isoformat()}
            # New lists: the JSON columns are not mutation-tracked.
            inc.findings = [*inc.findings, *({"text": f, **stamp} for f in findings)]
            inc.action_items = [*inc.action_items,
                                *({**i, **stamp, "done": False} for i in items)]
            add_action(s, inc, ActionKind.FINDINGS, user_id, True,
                       {"findings": len(findings), "action_items": len(items)}, at)
            return inc
