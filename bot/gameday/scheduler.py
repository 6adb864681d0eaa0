"""Scheduled drill prompts: cron + timezone from config, one replica per prompt.

Each tick, the replica holding the ``gameday-scheduler`` lease looks for cron runs due since
the job's last recorded run. A run fires by inserting its unique (job, scheduled_for) row in
the same transaction as the prompt and its outbox post, so even two replicas that both think
they hold the lease (clock skew, a paused process) post it once.

A run whose time passed more than a grace period ago (no replica was up) is handled per
``gameday.missed``: ``catch_up`` posts it once, marked late; ``skip`` records it as missed
without posting. Only the latest missed run counts (older ones are never replayed), and only
within ``catch_up_max_age_h``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from croniter import croniter

from bot.config import GamedaySchedule
from bot.gameday.service import Gameday
from bot.store.leases import LeaseStore
from bot.store.states import PromptStatus
from bot.times import as_utc, utcnow

log = structlog.get_logger(__name__)

LEASE = "gameday-scheduler"


@dataclass(frozen=True)
class Fired:
    job: str
    scheduled_for: datetime
    status: PromptStatus  # posted, missed
    late: bool


def due_runs(cron: str, tz: str, after: datetime, until: datetime) -> list[datetime]:
    """Cron times in (after, until], in UTC; computed in ``tz`` so 14:00 means local 14:00."""
    zone = ZoneInfo(tz)
    it = croniter(cron, as_utc(after).astimezone(zone))
    out: list[datetime] = []
    while len(out) < 1000:
        nxt = as_utc(it.get_next(datetime))
        if nxt > until:
            break
        out.append(nxt)
    return out


class Scheduler:
    def __init__(self, gameday: Gameday, leases: LeaseStore, holder: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.gameday = gameday
        self.leases = leases
        self.settings = gameday.settings
        self.holder = holder
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def grace(self) -> timedelta:
        """How late a run may be and still count as on time (a tick or two of delay)."""
        return timedelta(seconds=max(2 * self.settings.tick_s, 60))

    def tick(self, now: datetime | None = None) -> list[Fired]:
        if not self.settings.schedules:
            return []
        at = as_utc(now) if now is not None else self.clock()
        ttl = max(3 * self.settings.tick_s, 30)
        if not self.leases.try_lease(LEASE, self.holder, ttl, at):
            return []
        fired = []
        for schedule in self.settings.schedules:
            result = self._fire(schedule, at)
            if result is not None:
                fired.append(result)
        return fired

    def _fire(self, schedule: GamedaySchedule, now: datetime) -> Fired | None:
        job = f"gameday:{schedule.name}"
        last = self.gameday.drills.last_run(job)
        horizon = now - timedelta(hours=self.settings.catch_up_max_age_h)
        # Without any record, only an on-time run fires: a first deploy replays nothing.
        after = max(last, horizon) if last is not None else now - self.grace
        runs = due_runs(schedule.cron, schedule.timezone, after, now)
        if not runs:
            return None
        latest = runs[-1]
        late = now - latest > self.grace
        post = not late or self.settings.missed == "catch_up"
        scenario = schedule.scenario or self._least_recent_scenario()
        status = PromptStatus.POSTED if post else PromptStatus.MISSED
        prompt = self.gameday.drills.claim_run(
            job, latest, self.holder, scenario, status, now,
            (self.gameday.channel, lambda p: self.gameday.prompt_message(p, late))
            if post else None)
        if prompt is None:
            return None  # another replica fired it
        log.info("gameday_prompt", job=job, scheduled_for=latest.isoformat(), late=late,
                 posted=post, skipped_runs=len(runs) - 1)
        self.gameday.notify()
        return Fired(job, latest, status, late)

    def _least_recent_scenario(self) -> str:
        last: dict[str, datetime] = {}
        for d in self.gameday.drills.recent(200):
            last.setdefault(d.scenario, d.started_at)
        ids = self.gameday.catalog.ids()
        never = [i for i in ids if i not in last]
        return never[0] if never else min(ids, key=lambda i: last[i])

    # ------------------------------------------------------------------ thread

    def start(self) -> None:
        if not self.settings.schedules:
            return
        self._thread = threading.Thread(target=self._loop, name="gameday-scheduler",
                                        daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # a failing database must not kill the thread
                log.exception("gameday_tick_failed")
            self._stop.wait(self.settings.tick_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self.leases.release_lease(LEASE, self.holder)
