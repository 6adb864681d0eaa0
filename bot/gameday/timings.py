"""TTD, TTA, time to diagnosis and TTR of a drill, from the real rows.

Every duration runs from the drill's clock start: the injection (or the start, for a drill
that injects nothing), so each reads as "how long until the team had detected / acked /
diagnosed / resolved", comparable with the scenario's targets.

- detected: the outbox delivered the alert post (the incident's open time if unknown);
- acked: the incident's first ack (the normal Ack button);
- diagnosed: the first allowed ``diag`` audit row of the incident (Run diagnostics) or a
  ``diag`` drill event (a `/genai diag` command run during the drill), whichever is first;
- resolved: the Resolve button on the incident, or the drill's end, whichever is first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.gameday.catalog import Targets
from bot.gameday.store import IncidentFacts
from bot.postmortem import fmt_duration as fmt_duration  # re-exported: the scoreboard's
from bot.store import Drill, DrillEvent
from bot.store.states import ActionKind, DrillEventKind
from bot.times import as_utc


@dataclass(frozen=True)
class Milestone:
    key: str  # detect, ack, diagnose, resolve
    label: str
    at: datetime | None
    by: str | None
    target_min: float

    def seconds_from(self, start: datetime) -> float | None:
        return None if self.at is None else (self.at - start).total_seconds()


@dataclass(frozen=True)
class Timings:
    start: datetime
    milestones: list[Milestone]

    def seconds(self, key: str) -> float | None:
        m = next(m for m in self.milestones if m.key == key)
        return m.seconds_from(self.start)

    def met(self, key: str) -> bool | None:
        m = next(m for m in self.milestones if m.key == key)
        s = m.seconds_from(self.start)
        return None if s is None else s <= m.target_min * 60


def _first(*pairs: tuple[datetime | None, str | None]) -> tuple[datetime | None, str | None]:
    found = [(as_utc(at), by) for at, by in pairs if at is not None]
    return min(found, key=lambda p: p[0]) if found else (None, None)


def compute(drill: Drill, events: list[DrillEvent], facts: IncidentFacts | None,
            targets: Targets) -> Timings:
    injected = next((e for e in events if e.kind is DrillEventKind.INJECTED), None)
    start = as_utc(injected.at if injected else drill.started_at)
    detect: tuple[datetime | None, str | None] = (None, None)
    ack: tuple[datetime | None, str | None] = (None, None)
    diag_rows: list[tuple[datetime | None, str | None]] = [
        (e.at, e.user_id) for e in events if e.kind is DrillEventKind.DIAG]
    resolve: tuple[datetime | None, str | None] = (None, None)
    if facts is not None:
        inc = facts.incident
        detect = (facts.posted_at or inc.opened_at, None)
        ack = (inc.acked_at, inc.acked_by)
        diag_rows += [(a.at, a.user_id) for a in facts.actions
                      if a.kind is ActionKind.DIAG and a.allowed]
        # Only a person's resolve counts: Alertmanager resolving the drill alert (its endsAt
        # passed, or the drill ended) is not the team fixing anything.
        if inc.resolved_at is not None and inc.resolved_by:
            resolve = (inc.resolved_at, inc.resolved_by)
    ended = next((e for e in events if e.kind is DrillEventKind.ENDED), None)
    if ended is not None:
        resolve = _first(resolve, (ended.at, ended.user_id))
    diagnose = _first(*diag_rows)
    return Timings(start, [
        Milestone("detect", "Time to detect (TTD)", detect[0], detect[1], targets.detect_min),
        Milestone("ack", "Time to acknowledge (TTA)", ack[0], ack[1], targets.ack_min),
        Milestone("diagnose", "Time to diagnosis", diagnose[0], diagnose[1],
                  targets.diagnose_min),
        Milestone("resolve", "Time to resolve (TTR)", resolve[0], resolve[1],
                  targets.resolve_min),
    ])


def participants(drill: Drill, events: list[DrillEvent], facts: IncidentFacts | None
                 ) -> list[str]:
    """Who joined or acted, in order of first appearance."""
    users: list[str | None] = [drill.started_by]
    users += [e.user_id for e in events]
    if facts is not None:
        users += [a.user_id for a in facts.actions if a.allowed]
    seen: dict[str, None] = {}
    for u in users:
        if u and u.startswith(("U", "W")):  # Slack users; not "scheduler" or "cli"
            seen.setdefault(u, None)
    return list(seen)
