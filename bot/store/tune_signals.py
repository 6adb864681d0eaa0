"""What people did about an alert's incidents over a window: the ground truth `/genai tune`
scores a rule's firings against. Read-only.

- signal: someone acknowledged it, ran diagnostics on it, or resolved it by hand;
- noise: it resolved by itself and nobody did any of that;
- open: still firing, untouched so far (neither, yet).

Drills stay out: a drill's alert says nothing about the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import Unavailable
from bot.store.db import Database, error_reason
from bot.store.models import Action, AlertEvent, Incident
from bot.store.states import ActionKind, IncidentStatus
from bot.times import as_utc

# A hand resolve is `resolved_by` (Alertmanager's resolve leaves it empty); a Resolve click
# on an incident that had already resolved itself is audited too but changes nothing.
HANDLED = (ActionKind.ACK, ActionKind.DIAG, ActionKind.FINDINGS)


class Outcome(StrEnum):
    SIGNAL = "signal"
    NOISE = "noise"
    OPEN = "open"


@dataclass(frozen=True)
class IncidentOutcome:
    """One incident of the alert: when it fired (startsAt to endsAt, else when the bot heard
    and when it resolved; ``ended`` None while open), its labels, and its outcome.
    ``alert_labels`` holds each alert's own label set seen in its notifications."""

    public_id: str
    began: datetime
    ended: datetime | None
    outcome: Outcome
    labels: dict[str, str]
    alert_labels: tuple[dict[str, str], ...] = ()


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class TuneSignalStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def outcomes(self, alertname: str, since: datetime, until: datetime,
                 margin: timedelta = timedelta(minutes=30)) -> list[IncidentOutcome]:
        """Incidents of ``alertname`` that overlap ``since..until`` (widened by ``margin``,
        so an incident the bot heard of late still counts), oldest first."""
        lo, hi = as_utc(since) - margin, as_utc(until) + margin
        finished = func.coalesce(Incident.ended_at, Incident.resolved_at)
        cond: list[ColumnElement[bool]] = [
            Incident.alertname == alertname, Incident.drill.is_(False),
            func.coalesce(Incident.started_at, Incident.opened_at) <= hi,
            or_(Incident.status == IncidentStatus.FIRING, finished >= lo),
        ]
        try:
            rows, handled, seen = self._read(cond)
        except SQLAlchemyError as exc:  # the caller says "unknown", with this cause
            raise Unavailable("database", error_reason(exc)) from None
        out = []
        for r in rows:
            if r.acked_at is not None or r.resolved_by or r.id in handled:
                outcome = Outcome.SIGNAL
            elif r.status is IncidentStatus.RESOLVED:
                outcome = Outcome.NOISE
            else:
                outcome = Outcome.OPEN
            ended = None if r.status is IncidentStatus.FIRING else (r.ended_at or r.resolved_at)
            out.append(IncidentOutcome(
                public_id=r.public_id, began=as_utc(r.started_at or r.opened_at),
                ended=as_utc(ended) if ended is not None else None, outcome=outcome,
                labels=_str_map(r.labels), alert_labels=tuple(seen.get(r.id, []))))
        return out

    def _read(self, cond: list[ColumnElement[bool]]
              ) -> tuple[Sequence[Row[Any]], set[int | None], dict[int, list[dict[str, str]]]]:
        """The matching incidents, which of them people handled, and each one's alerts'
        labels, in one read-only session."""
        with self.db.session(readonly=True) as s:
            rows = s.execute(select(
                Incident.id, Incident.public_id, Incident.status, Incident.opened_at,
                Incident.started_at, Incident.ended_at, Incident.resolved_at,
                Incident.resolved_by, Incident.acked_at, Incident.labels)
                .where(*cond).order_by(Incident.opened_at, Incident.id)).all()
            handled = set(s.scalars(
                select(Action.incident_id).join(Incident, Incident.id == Action.incident_id)
                .where(and_(*cond), Action.kind.in_(HANDLED), Action.allowed.is_(True))
                .distinct()))
            seen: dict[int, list[dict[str, str]]] = {}
            for inc_id, alerts in s.execute(
                    select(AlertEvent.incident_id, AlertEvent.alerts)
                    .join(Incident, Incident.id == AlertEvent.incident_id).where(*cond)):
                bucket = seen.setdefault(inc_id, [])
                for alert in alerts if isinstance(alerts, list) else []:
                    labels = _str_map(alert.get("labels") if isinstance(alert, dict) else None)
                    if labels and labels not in bucket:
                        bucket.append(labels)
        return rows, handled, seen
