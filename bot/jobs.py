"""A bounded job pool: the work behind an acked command runs here, never on Bolt's listener
threads, so a slow backend cannot delay the next user's ack."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from bot.metrics import JOB_QUEUE_DEPTH, JOBS_QUEUED


class AckGate:
    """Slack's 3 s ack comes before any background work.

    Requests count themselves in while they wait for their ack; a job waits (at most
    `max_wait_s`) until none is pending before it starts. In a burst of 50 commands the
    backend calls of the first jobs would otherwise take the GIL from the later acks.
    """

    def __init__(self, max_wait_s: float = 0.5) -> None:
        self._pending = 0
        self._cond = threading.Condition()
        self.max_wait_s = max_wait_s

    def enter(self) -> None:
        with self._cond:
            self._pending += 1

    def leave(self) -> None:
        with self._cond:
            self._pending -= 1
            if self._pending <= 0:
                self._pending = 0
                self._cond.notify_all()

    def wait_clear(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._pending == 0, timeout=self.max_wait_s)


class PoolFull(Exception):
    """More work is queued than the configured limit; the user is told to retry."""


class JobPool:
    def __init__(self, workers: int, queue_limit: int, gate: AckGate | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._slots = threading.BoundedSemaphore(workers + queue_limit)
        self.gate = gate or AckGate()
        self._busy = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[[], None]) -> Future[None]:
        if not self._slots.acquire(blocking=False):
            raise PoolFull
        JOBS_QUEUED.inc()
        JOB_QUEUE_DEPTH.inc()
        with self._idle:
            self._busy += 1

        def wrapped() -> None:
            JOB_QUEUE_DEPTH.dec()
            try:
                self.gate.wait_clear()
                fn()
            finally:
                JOBS_QUEUED.dec()
                self._slots.release()
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

        return self._executor.submit(wrapped)

    def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for every accepted job to finish (a shutdown: the users
        who were told "working on it" get their answer). Returns how many did not."""
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)
            return self._busy

    def shutdown(self, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)


class Wakeup:
    """"There is new work": producers (intake, buttons, drills) notify after they commit,
    and the one consumer (the outbox worker) waits for it instead of polling. Made before
    either side, so nothing has to be patched in later."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def notify(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s; True if notified. Clears the signal either way."""
        fired = self._event.wait(timeout)
        self._event.clear()
        return fired
