"""Group commit for the webhook: one writer thread commits whatever notifications are
waiting, together.

Under a storm each commit (one fsync) carries a batch, not one notification; when alerts
trickle in, a batch is one item and nothing waits. Every caller still returns only after its
own rows are committed, which is what lets the webhook answer 200 only then.
"""

from __future__ import annotations

import queue
import threading

from sqlalchemy.exc import OperationalError

from bot.store import IntakeItem, IntakeResult
from bot.store.intake import IntakeStore


class _Pending:
    def __init__(self, item: IntakeItem) -> None:
        self.item = item
        self.done = threading.Event()
        self.result: IntakeResult | None = None
        self.error: BaseException | None = None


class GroupCommitWriter:
    def __init__(self, intake: IntakeStore, max_batch: int = 128) -> None:
        self.intake = intake
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        self._thread.start()

    def write(self, item: IntakeItem, timeout: float = 30.0) -> IntakeResult:
        pending = _Pending(item)
        self._queue.put(pending)
        if not pending.done.wait(timeout):
            raise OperationalError("intake", {}, TimeoutError("intake writer is stuck"))
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = self.intake.record_batch([p.item for p in batch])
        except BaseException as exc:  # the whole transaction failed: every caller hears it
            for p in batch:
                p.error = exc
                p.done.set()
            return
        for p, result in zip(batch, results, strict=True):
            try:
                # An item that lost a race with another replica: alone, it sees the winner.
                p.result = result if isinstance(result, IntakeResult) else self.intake.record(
                    p.item)
            except BaseException as exc:
                p.error = exc
            p.done.set()
