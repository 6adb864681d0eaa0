"""Alert fatigue per alert name: the figures behind the guide's "tune thresholds gradually"."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from bot.store.db import Database
from bot.store.models import Action, Escalation, Incident, tta_seconds
from bot.store.states import ActionKind, IncidentStatus
from bot.times import as_utc


@dataclass(frozen=True)
class FatigueRow:
    """One alert name over a window. ``never_acked`` counts resolved incidents nobody
    acknowledged; ``silenced_share`` is the share of incidents that got a Silence.
    ``mtta_p50_s`` runs from each alert's startsAt and is None when nothing was acked;
    ``mttr_p50_s`` runs from startsAt to endsAt (or the resolve) and is None when nothing
    resolved. ``escalated`` counts incidents with at least one escalation step, and
    ``escalations`` the steps that fired."""

    alertname: str
    count: int
    acked: int
    ack_rate: float
    mtta_p50_s: float | None
    never_acked: int
    silenced_share: float
    mttr_p50_s: float | None = None
    escalated: int = 0
    escalations: int = 0


class FatigueStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def per_alert(self, since: datetime, include_drills: bool = False) -> list[FatigueRow]:
        """Incidents opened at or after ``since``, per alert name; most frequent first."""
        cond = [Incident.opened_at >= as_utc(since)]
        if not include_drills:
            cond.append(Incident.drill.is_(False))
        with self.db.session(readonly=True) as s:
            incidents = s.execute(select(
                Incident.id, Incident.alertname, Incident.opened_at, Incident.started_at,
                Incident.acked_at, Incident.status, Incident.silence_id, Incident.ended_at,
                Incident.resolved_at).where(*cond)).all()
            silenced = set(s.scalars(
                select(Action.incident_id).join(Incident, Incident.id == Action.incident_id)
                .where(Action.kind == ActionKind.SILENCE, Action.allowed.is_(True), *cond)
                .distinct()))
            steps: dict[int, int] = dict(s.execute(
                select(Escalation.incident_id, func.count(Escalation.id))
                .join(Incident, Incident.id == Escalation.incident_id).where(*cond)
                .group_by(Escalation.incident_id)).tuples().all())
        groups: dict[str, list[Any]] = {}
        for inc in incidents:
            groups.setdefault(inc.alertname, []).append(inc)
        out: list[FatigueRow] = []
        for name, rows in groups.items():
            ttas = [tta_seconds(r.acked_at, r.started_at or r.opened_at)
                    for r in rows if r.acked_at is not None]
            count = len(rows)
            never = sum(1 for r in rows
                        if r.acked_at is None and r.status is IncidentStatus.RESOLVED)
            sil = sum(1 for r in rows if r.id in silenced or r.silence_id is not None)
            # Time to resolve, as the card counts it: startsAt to endsAt (or the resolve).
            ttrs = [tta_seconds(r.ended_at or r.resolved_at, r.started_at or r.opened_at)
                    for r in rows if r.status is IncidentStatus.RESOLVED
                    and (r.ended_at or r.resolved_at) is not None]
            out.append(FatigueRow(
                alertname=name, count=count, acked=len(ttas), ack_rate=len(ttas) / count,
                mtta_p50_s=statistics.median(ttas) if ttas else None, never_acked=never,
                silenced_share=sil / count,
                mttr_p50_s=statistics.median(ttrs) if ttrs else None,
                escalated=sum(1 for r in rows if r.id in steps),
                escalations=sum(steps.get(r.id, 0) for r in rows),
            ))
        out.sort(key=lambda r: (-r.count, r.alertname))
        return out
