"""What happens to open incidents with time alone, with no notification or click to start
it: escalation steps coming due, a storm digest closing once the storm subsides. Each task
is ``tick(now)``; one thread per process runs them in turn every ``interval_s``. The tasks
make their changes safe across replicas themselves (a unique row, a conditional update), so
every replica ticks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from bot.times import utcnow

log = structlog.get_logger(__name__)

Tick = Callable[[datetime], None]


class Ticker:
    def __init__(self, tasks: Sequence[Tick], interval_s: float = 1.0,
                 now: Callable[[], datetime] = utcnow) -> None:
        self.tasks = tuple(tasks)
        self.interval_s = interval_s
        self.now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        """Run every task once at ``now()``; one failing does not stop the others."""
        at = self.now()
        for task in self.tasks:
            try:
                task(at)
            except Exception:  # the next tick tries again
                log.exception("ticker.task_failed", task=getattr(task, "__qualname__", "?"))

    def start(self) -> None:
        if not self.tasks or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="incident-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()
