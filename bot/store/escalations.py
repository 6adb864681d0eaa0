"""Escalation steps of unacknowledged incidents: which are still waiting, and firing one
exactly once.

The claim is the ``escalations`` row: UNIQUE(incident_id, step), inserted with ``ON CONFLICT
DO NOTHING``. The replica whose insert lands writes the audit row and queues the thread note
and the card's edit in the same transaction; a replica that loses the race (or a restarted
one that finds the row) writes nothing. The incident row is locked first, so a step never
fires after an acknowledge, silence or resolve that committed before it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.messages import IncidentUpdate, NoteKind, ThreadNote, dump
from bot.store.db import Database
from bot.store.incidents import add_action
from bot.store.leases import insert_ignore
from bot.store.models import Escalation, Incident, Outbox
from bot.store.outbox import add_message
from bot.store.states import ActionKind, OutboxState
from bot.times import as_utc

BOT_USER = "bot"  # the audit log's user for what the bot does by policy
CHANNEL = "channel"  # in ``notified``: the step also mentioned @channel


@dataclass(frozen=True)
class Waiting:
    """An open, unacknowledged, unsilenced incident, and the steps it has had already."""

    incident_id: int
    public_id: str
    severity: str  # lower case, as the policies are keyed
    began_at: datetime  # Alertmanager's startsAt, else when the bot heard
    fired: frozenset[int]


@dataclass(frozen=True)
class Fired:
    """A step that fired: when, and whom it mentioned (ids, and :data:`CHANNEL`)."""

    step: int
    at: datetime
    notified: tuple[str, ...]


def _still_escalating(inc: Incident) -> bool:
    """Open and nobody has taken it: Acknowledge, Silence and Resolve each stop the policy
    (Unsilence, "notify again", lets it go on)."""
    return inc.is_open and inc.acked_at is None and inc.silence_id is None


class EscalationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def waiting(self, severities: Collection[str], *, drills: bool = False) -> list[Waiting]:
        """Incidents a policy may still escalate: open, unacknowledged, unsilenced, of one of
        ``severities`` (lower case; matched without regard to case), oldest first."""
        if not severities:
            return []
        where = [Incident.open_marker == 1, Incident.acked_at.is_(None),
                 Incident.silence_id.is_(None),
                 func.lower(func.trim(Incident.severity)).in_(list(severities))]
        if not drills:
            where.append(Incident.drill.is_(False))
        with self.db.session(readonly=True) as s:
            rows = s.execute(select(Incident.id, Incident.public_id, Incident.severity,
                                    Incident.started_at, Incident.opened_at)
                             .where(*where).order_by(Incident.id)).all()
            if not rows:
                return []
            # A subquery, not a list of ids: a storm's thousands would pass SQLite's limit
            # on bound parameters.
            fired: dict[int, set[int]] = {}
            for incident_id, step in s.execute(
                    select(Escalation.incident_id, Escalation.step)
                    .where(Escalation.incident_id.in_(select(Incident.id).where(*where)))):
                fired.setdefault(incident_id, set()).add(step)
        return [Waiting(r.id, r.public_id, (r.severity or "").strip().lower(),
                        as_utc(r.started_at or r.opened_at), frozenset(fired.get(r.id, ())))
                for r in rows]

    def fire(self, incident_id: int, step: int, notified: Sequence[str], *, note: str,
             detail: dict[str, Any], now: datetime) -> bool:
        """Fire ``step`` of the incident's policy, once: the escalations row, the audit row
        (user "bot"), the thread note mentioning ``notified`` and the card's edit, in one
        transaction. False, and nothing written, if it fired already (here or on another
        replica) or the incident was acknowledged, silenced or resolved meanwhile."""
        at = as_utc(now)
        with self.db.session() as s:
            # Locked as acknowledge/silence/resolve lock it: whichever commits first wins.
            inc = s.get(Incident, incident_id, with_for_update=True)
            if inc is None or not _still_escalating(inc):
                return False
            if not insert_ignore(self.db, s, Escalation, {
                    "incident_id": inc.id, "step": step, "fired_at": at,
                    "notified": list(notified)}):
                return False
            add_action(s, inc, ActionKind.ESCALATE, BOT_USER, True,
                       {"step": step, "notified": list(notified), **detail}, at)
            if inc.digest_id is None:
                _enqueue(s, inc, step, tuple(notified), note, at)
            else:
                _enqueue_for_digest(self.db, s, inc, step, tuple(notified), note, at)
            return True

    def fired(self, public_id: str) -> list[Fired]:
        """The steps that fired for an incident, in order (empty for an unknown id)."""
        q = (select(Escalation.step, Escalation.fired_at, Escalation.notified)
             .join(Incident, Incident.id == Escalation.incident_id)
             .where(Incident.public_id == public_id).order_by(Escalation.step))
        with self.db.session(readonly=True) as s:
            return [Fired(step, as_utc(at), tuple(str(n) for n in notified or ()))
                    for step, at, notified in s.execute(q)]


def _enqueue_for_digest(db: Database, s: Session, inc: Incident, step: int,
                        notified: tuple[str, ...], note: str, at: datetime) -> None:
    """A storm's incidents escalate together: one note in the digest's thread per step,
    whichever incident gets there first (each still has its own audit row and timeline
    entry). The digest shows no cards, so there is no card to edit."""
    message = ThreadNote(incident=inc.public_id, note=NoteKind.ESCALATED, mentions=notified,
                         detail=f"{note}; every incident of this storm digest still unacknowledged")
    insert_ignore(db, s, Outbox, {
        "incident_id": inc.id, "kind": message.delivery, "channel": inc.channel,
        "payload": dump(message), "dedupe_key": f"digest:{inc.digest_id}:escalation:{step}",
        "state": OutboxState.PENDING, "attempts": 0, "next_attempt_at": at, "created_at": at})


def _enqueue(s: Session, inc: Incident, step: int, notified: tuple[str, ...], note: str,
             at: datetime) -> None:
    key = f"incident:{inc.id}:escalation:{step}"
    add_message(s, ThreadNote(incident=inc.public_id, note=NoteKind.ESCALATED, detail=note,
                              mentions=notified),
                inc.channel, f"{key}:note", at, inc.id)
    add_message(s, IncidentUpdate(incident=inc.public_id), inc.channel, f"{key}:update", at,
                inc.id)
