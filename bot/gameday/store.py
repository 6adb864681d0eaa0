"""Game Day queries: drills, their timeline, prompts and the scheduler's claims.

Kept apart from :mod:`bot.store.repo`; it shares its Database and models. Concurrency rests
on primary keys, as elsewhere: ``drill_slots`` (one running drill), ``scheduler_runs``
(each scheduled run fires once) and ``gameday_prompts`` (a prompt is decided once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from bot.messages import OutboxMessage
from bot.store import Action, Drill, DrillEvent, Incident, Outbox, SchedulerRun, new_public_id
from bot.store.db import Database
from bot.store.models import DrillSlot, GamedayPrompt
from bot.store.outbox import add_message
from bot.store.states import Delivery, DrillEventKind, DrillStatus, OutboxState, PromptStatus
from bot.times import as_utc

SLOT = "gameday"

PromptMessage = Callable[[GamedayPrompt], OutboxMessage]


class DrillRunning(RuntimeError):
    def __init__(self, drill: Drill) -> None:
        super().__init__(drill.public_id)
        self.drill = drill


@dataclass(frozen=True)
class IncidentFacts:
    """What the timings are computed from: the drill's incident and its audit rows."""

    incident: Incident
    posted_at: datetime | None  # when the outbox delivered the alert post
    actions: list[Action]


def prompt_key(job: str, scheduled_for: datetime) -> str:
    return f"gameday:prompt:{job}:{as_utc(scheduled_for).isoformat()}"


class GamedayStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # ------------------------------------------------------------------ drills

    def start(self, scenario: str, user: str, at: datetime, *, job: str | None = None,
              joined: list[str] | None = None) -> Drill:
        """A running drill, or DrillRunning with the one already running."""
        at = as_utc(at)
        try:
            with self.db.session() as s:
                drill = Drill(public_id=new_public_id(), scenario=scenario,
                              status=DrillStatus.RUNNING,
                              started_by=user, started_at=at, findings=[], action_items=[],
                              scheduled_job=job)
                s.add(drill)
                s.flush()
                s.add(DrillSlot(slot=SLOT, drill_id=drill.id, taken_at=at))
                s.flush()
                s.add(DrillEvent(drill_id=drill.id, kind=DrillEventKind.STARTED, user_id=user,
                                 at=at, detail={"scheduled": job} if job else {}))
                for u in joined or []:
                    s.add(DrillEvent(drill_id=drill.id, kind=DrillEventKind.JOINED, user_id=u,
                                     at=at))
                return drill
        except IntegrityError:
            current = self.running()
            if current is None:  # it ended in between: let the caller try again
                raise
            raise DrillRunning(current) from None

    def running(self) -> Drill | None:
        with self.db.session(readonly=True) as s:
            return s.scalars(select(Drill).join(DrillSlot, DrillSlot.drill_id == Drill.id)
                             .where(DrillSlot.slot == SLOT)).first()

    def end(self, drill_id: int, user: str | None, at: datetime, how: str) -> Drill | None:
        """End a running drill; None if it had already ended (another click, replica)."""
        at = as_utc(at)
        with self.db.session() as s:
            gone = s.execute(delete(DrillSlot).where(DrillSlot.slot == SLOT,
                                                     DrillSlot.drill_id == drill_id))
            if not gone.rowcount:  # type: ignore[attr-defined]
                return None
            drill = s.get(Drill, drill_id)
            assert drill is not None
            drill.status, drill.ended_at = DrillStatus.ENDED, at
            s.add(DrillEvent(drill_id=drill_id, kind=DrillEventKind.ENDED, user_id=user, at=at,
                             detail={"how": how}))
            return drill

    def get(self, public_id: str) -> Drill | None:
        with self.db.session(readonly=True) as s:
            return s.scalars(select(Drill).where(Drill.public_id == public_id.lower())).first()

    def latest(self) -> Drill | None:
        with self.db.session(readonly=True) as s:
            return s.scalars(select(Drill).order_by(Drill.started_at.desc(),
                                                    Drill.id.desc())).first()

    def recent(self, limit: int = 10) -> list[Drill]:
        """Most recent first."""
        with self.db.session(readonly=True) as s:
            return list(s.scalars(select(Drill).order_by(Drill.started_at.desc(),
                                                         Drill.id.desc()).limit(limit)))

    def add_event(self, drill_id: int, kind: DrillEventKind, user: str | None, at: datetime,
                  detail: dict[str, Any] | None = None) -> None:
        with self.db.session() as s:
            s.add(DrillEvent(drill_id=drill_id, kind=kind, user_id=user, at=as_utc(at),
                             detail=detail or {}))

    def events(self, drill_id: int) -> list[DrillEvent]:
        with self.db.session(readonly=True) as s:
            return list(s.scalars(select(DrillEvent).where(DrillEvent.drill_id == drill_id)
                                  .order_by(DrillEvent.at, DrillEvent.id)))

    def add_findings(self, public_id: str, user: str, findings: list[str],
                     items: list[dict[str, Any]], at: datetime) -> Drill | None:
        with self.db.session() as s:
            drill = s.scalars(select(Drill).where(Drill.public_id == public_id)
                              .with_for_update()).first()
            if drill is None:
                return None
            stamp = {"by": user, "at": as_utc(at).isoformat()}
            # New lists: the JSON columns are not mutation-tracked.
            drill.findings = [*drill.findings, *({"text": f, **stamp} for f in findings)]
            drill.action_items = [*drill.action_items,
                                  *({**i, **stamp, "done": False} for i in items)]
            s.add(DrillEvent(drill_id=drill.id, kind=DrillEventKind.FINDINGS, user_id=user,
                             at=as_utc(at),
                             detail={"findings": len(findings), "action_items": len(items)}))
            return drill

    def close_action_item(self, public_id: str, number: int, user: str,
                          at: datetime) -> tuple[Drill, dict[str, Any]] | None:
        """Mark action item `number` (1-based, as listed) of a drill done. None when the
        drill or the item does not exist; closing a closed item changes nothing."""
        with self.db.session() as s:
            drill = s.scalars(select(Drill).where(Drill.public_id == public_id)
                              .with_for_update()).first()
            if drill is None or not 1 <= number <= len(drill.action_items):
                return None
            items = [dict(i) for i in drill.action_items]
            item = items[number - 1]
            if not item.get("done"):
                item.update(done=True, done_by=user, done_at=as_utc(at).isoformat())
                drill.action_items = items  # a new list: JSON columns are not mutation-tracked
                s.add(DrillEvent(drill_id=drill.id, kind=DrillEventKind.ACTION_ITEM_DONE,
                                 user_id=user,
                                 at=as_utc(at), detail={"item": number}))
            return drill, item

    # ------------------------------------------------------------------ the drill's incident

    def link_incident(self, drill: Drill) -> IncidentFacts | None:
        """The injected alert's incident (drill_id label), remembered on the drill."""
        with self.db.session() as s:
            inc: Incident | None = None
            if drill.incident_id is not None:
                inc = s.get(Incident, drill.incident_id)
            if inc is None:
                candidates = s.scalars(
                    select(Incident).where(
                        Incident.drill.is_(True),
                        Incident.opened_at >= as_utc(drill.started_at) - timedelta(minutes=5))
                    .order_by(Incident.opened_at, Incident.id))
                inc = next((i for i in candidates
                            if i.labels.get("drill_id") == drill.public_id), None)
                if inc is None:
                    return None
                s.execute(update(Drill).where(Drill.id == drill.id)
                          .values(incident_id=inc.id))
                drill.incident_id = inc.id
            posted = s.scalar(select(func.min(Outbox.sent_at)).where(
                Outbox.incident_id == inc.id, Outbox.kind == Delivery.POST,
                Outbox.state == OutboxState.DONE))
            actions = list(s.scalars(select(Action).where(Action.incident_id == inc.id)
                                     .order_by(Action.at, Action.id)))
            return IncidentFacts(inc, as_utc(posted) if posted else None, actions)

    # ------------------------------------------------------------------ scheduler, prompts

    def last_run(self, job: str) -> datetime | None:
        with self.db.session(readonly=True) as s:
            last = s.scalar(select(func.max(SchedulerRun.scheduled_for))
                            .where(SchedulerRun.job == job))
            return as_utc(last) if last else None

    def claim_run(self, job: str, scheduled_for: datetime, holder: str, scenario: str,
                  status: PromptStatus, at: datetime, post: tuple[str, PromptMessage] | None
                  ) -> GamedayPrompt | None:
        """In one transaction: the unique scheduler_runs row, the prompt and its outbox post
        (``post``: the channel and the message for the new prompt). None if another
        replica claimed the run first."""
        at, when = as_utc(at), as_utc(scheduled_for)
        try:
            with self.db.session() as s:
                s.add(SchedulerRun(job=job, scheduled_for=when, claimed_by=holder,
                                   claimed_at=at))
                s.flush()
                prompt = GamedayPrompt(public_id=new_public_id(), job=job, scheduled_for=when,
                                       scenario=scenario, status=status, joined=[],
                                       created_at=at)
                s.add(prompt)
                s.flush()
                if post is not None:
                    channel, message = post
                    add_message(s, message(prompt), channel, prompt_key(job, when), at)
                return prompt
        except IntegrityError:
            return None

    def prompt(self, public_id: str) -> GamedayPrompt | None:
        with self.db.session(readonly=True) as s:
            return s.scalars(select(GamedayPrompt)
                             .where(GamedayPrompt.public_id == public_id)).first()

    def prompts(self, limit: int = 10) -> list[GamedayPrompt]:
        with self.db.session(readonly=True) as s:
            return list(s.scalars(select(GamedayPrompt)
                                  .order_by(GamedayPrompt.scheduled_for.desc()).limit(limit)))

    def join_prompt(self, public_id: str, user: str) -> GamedayPrompt | None:
        with self.db.session() as s:
            prompt = s.scalars(select(GamedayPrompt).where(GamedayPrompt.public_id == public_id)
                               .with_for_update()).first()
            if prompt is not None and user not in prompt.joined:
                prompt.joined = [*prompt.joined, user]
            return prompt

    def decide_prompt(self, public_id: str, status: PromptStatus, user: str,
                      drill_id: int | None = None) -> bool:
        """Posted -> started/skipped, once: a second click (or replica) gets False."""
        with self.db.session() as s:
            done = s.execute(update(GamedayPrompt).where(
                GamedayPrompt.public_id == public_id,
                GamedayPrompt.status == PromptStatus.POSTED)
                .values(status=status, decided_by=user, drill_id=drill_id))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def prompt_post(self, prompt: GamedayPrompt) -> tuple[str, str] | None:
        """(channel, ts) of the prompt's delivered post, to edit it; None before delivery."""
        with self.db.session(readonly=True) as s:
            row = s.execute(select(Outbox.channel, Outbox.slack_ts).where(
                Outbox.dedupe_key == prompt_key(prompt.job, prompt.scheduled_for))).first()
            return (row.channel, row.slack_ts) if row is not None and row.slack_ts else None

    def enqueue(self, channel: str, message: OutboxMessage, key: str, at: datetime) -> None:
        try:
            with self.db.session() as s:
                add_message(s, message, channel, key, as_utc(at))
        except IntegrityError:
            pass  # the same message is already queued
