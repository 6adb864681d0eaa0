"""An incident's whole history, read in one transaction: what a timeline and a postmortem
are built from. Read-only; the rows stay ORM objects (detached, fully loaded).

- the incident, its notifications (Alertmanager's values) and its audit log;
- when the outbox delivered its card, and each Run diagnostics' report as it was posted;
- the escalation steps that fired;
- the incidents before and after it of the same alert group (a re-fire is a new row with
  the next ``generation``), and how often its alert fired in the week before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.messages import Diagnosis, load
from bot.report import Report
from bot.store.db import Database
from bot.store.incidents import diag_key
from bot.store.models import Action, AlertEvent, Escalation, Incident, Outbox
from bot.store.states import ActionKind, Delivery, OutboxState
from bot.times import as_utc

PRIOR_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class IncidentHistory:
    incident: Incident
    events: list[AlertEvent]  # oldest first
    actions: list[Action]  # oldest first
    escalations: list[Escalation]  # by step
    posted_at: datetime | None  # the card's delivery; None: not (yet) posted alone
    diag_reports: dict[int, Report]  # action id -> the report posted in the thread
    previous: Incident | None  # the same group's episode before this one
    next: Incident | None  # the re-fire after this one
    fired_before: int  # incidents of the same alert in the week before this one


class HistoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def of(self, public_id: str) -> IncidentHistory | None:
        with self.db.session(readonly=True) as s:
            inc = s.scalars(select(Incident).where(Incident.public_id == public_id)).first()
            if inc is None:
                return None
            actions = list(s.scalars(select(Action).where(Action.incident_id == inc.id)
                                     .order_by(Action.at, Action.id)))
            return IncidentHistory(
                incident=inc,
                events=list(s.scalars(select(AlertEvent).where(AlertEvent.incident_id == inc.id)
                                      .order_by(AlertEvent.id))),
                actions=actions,
                escalations=list(s.scalars(select(Escalation)
                                           .where(Escalation.incident_id == inc.id)
                                           .order_by(Escalation.step))),
                posted_at=_posted_at(s, inc),
                diag_reports=_diag_reports(s, inc, actions),
                previous=_generation(s, inc, before=True),
                next=_generation(s, inc, before=False),
                fired_before=_fired_before(s, inc),
            )


def _posted_at(s: Session, inc: Incident) -> datetime | None:
    posted = s.scalar(select(func.min(Outbox.sent_at)).where(
        Outbox.incident_id == inc.id, Outbox.kind == Delivery.POST,
        Outbox.state == OutboxState.DONE))
    return as_utc(posted) if posted else None


def _diag_reports(s: Session, inc: Incident, actions: list[Action]) -> dict[int, Report]:
    keys = {diag_key(inc.public_id, a.id): a.id for a in actions
            if a.kind is ActionKind.DIAG and a.allowed}
    if not keys:
        return {}
    out: dict[int, Report] = {}
    for key, payload in s.execute(select(Outbox.dedupe_key, Outbox.payload)
                                  .where(Outbox.dedupe_key.in_(list(keys)))):
        try:
            message = load(payload)
        except ValidationError:  # a row from an older shape: the audit detail still tells
            continue
        if isinstance(message, Diagnosis) and message.report is not None:
            out[keys[key]] = message.report
    return out


def _generation(s: Session, inc: Incident, *, before: bool) -> Incident | None:
    q = select(Incident).where(Incident.fingerprint_hash == inc.fingerprint_hash)
    if before:
        q = q.where(Incident.generation < inc.generation).order_by(Incident.generation.desc())
    else:
        q = q.where(Incident.generation > inc.generation).order_by(Incident.generation)
    return s.scalars(q.limit(1)).first()


def _fired_before(s: Session, inc: Incident) -> int:
    began = as_utc(inc.opened_at)
    return s.scalar(select(func.count(Incident.id)).where(
        Incident.alertname == inc.alertname, Incident.drill.is_(inc.drill),
        Incident.opened_at >= began - PRIOR_WINDOW, Incident.opened_at < began)) or 0
