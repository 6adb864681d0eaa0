"""A bounded job pool: the work behind an acked command runs here, never on Bolt's listener
threads, so a slow backend cannot delay the next user's ack."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from bot.metrics import JOBS_QUEUED


class PoolFull(Exception):
    """More work is queued than the configured limit; the user is told to retry."""


class JobPool:
    def __init__(self, workers: int, queue_limit: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._slots = threading.BoundedSemaphore(workers + queue_limit)

    def submit(self, fn: Callable[[], None]) -> Future[None]:
        if not self._slots.acquire(blocking=False):
            raise PoolFull
        JOBS_QUEUED.inc()

        def wrapped() -> None:
            try:
                fn()
            finally:
                JOBS_QUEUED.dec()
                self._slots.release()

        return self._executor.submit(wrapped)

    def shutdown(self, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
