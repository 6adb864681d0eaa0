"""The outbox worker: the only path by which messages reach Slack.

It claims rows that the store queued with the change that needs them, renders each typed
message at send time (:class:`~bot.slack.render.table.MessageRenderer`) and delivers it
(:mod:`~bot.slack.outbox.requests`); Slack's ``ts`` is kept with the row.

* Exactly once: a row that may already have been sent is looked up by its metadata key and
  adopted. Right before a send, :meth:`OutboxStore.mark_sending` checks that the claim is
  still ours and extends it past the HTTP timeout (at most a third of ``lease_s``), so no
  other worker takes the row while the request is in flight. Retries are the worker's alone
  (:func:`~bot.slack.client.delivery_client`): a blind re-send would duplicate a post.
* Pacing (:mod:`~bot.slack.outbox.pace`): one write per channel per
  ``per_channel_interval_s`` for the whole deployment: right before a write the channel is
  reserved in the database, so replicas share the pace, and 429 holds with it. A waiting
  channel does not stall the others: its rows go back unchanged and are not claimed until it
  is free (waits up to ``min(idle_sleep_s, per_channel_interval_s)`` are waited out in place).
* Failures are classified in one place (:mod:`~bot.slack.outbox.failures`): 429 holds the
  channel until Retry-After without counting; transient errors back off (1, 2, 4 … s with
  jitter, up to ``max_backoff_s``) and count, up to ``max_attempts``; permanent ones give
  the row up at once, after one plain-text try for refused blocks.

Several workers (replicas) may share one PostgreSQL: claims are exclusive, so each row is
delivered once.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import structlog
from slack_sdk import WebClient

from bot.jobs import Wakeup
from bot.messages import IncidentPost, OutboxMessage
from bot.metrics import ALERT_TO_POST, NOTIFICATION_TO_POST
from bot.slack.client import delivery_client
from bot.slack.outbox.failures import TEXT_FALLBACK_ERRORS, Failure, FailureKind, classify
from bot.slack.outbox.pace import ChannelPacer
from bot.slack.outbox.requests import POST, NoTarget, build_request, find_sent, send
from bot.store import OutboxRow
from bot.store.outbox import OutboxStore
from bot.store.pace import PaceStore
from bot.store.states import OutboxState
from bot.times import RunningClock

log = structlog.get_logger(__name__)

Render = Callable[[OutboxMessage], Mapping[str, Any] | None]
"""Slack message fields (``text``, ``blocks``, ``attachments`` …) for a message; None drops
the row (marked done, nothing sent)."""

OnSent = Callable[[OutboxRow, str], None]
"""Called with the row and Slack's ts once a row is delivered (or an earlier post adopted)."""

_DUE_SLACK_S = 0.005


def _observe_latency(row: OutboxRow, posted: datetime) -> None:
    """How long an alert took to reach Slack: from its startsAt, and from the notification."""
    if row.incident_began_at is not None:
        ALERT_TO_POST.observe(max(0.0, (posted - row.incident_began_at).total_seconds()))
    if row.incident_opened_at is not None:
        NOTIFICATION_TO_POST.observe(max(0.0, (posted - row.incident_opened_at).total_seconds()))


class _Outcome(Enum):
    FINISHED = "finished"  # done or dead
    RESCHEDULED = "rescheduled"  # back to pending (429, backoff)
    REQUEUE = "requeue"  # try again in this batch once the channel is free (text fallback)
    PACED = "paced"  # another replica holds the channel: the same, but claim again at once
    NONE = "none"  # claim lost, or left for the lease to expire


@dataclass
class _BatchResult:
    claimed: int = 0
    finished: int = 0
    progressed: bool = False


class OutboxWorker:
    """Delivers outbox rows to Slack. Call :meth:`run_once` yourself, or :meth:`start` a
    background thread and :meth:`notify` it after each enqueue."""

    def __init__(
        self,
        store: OutboxStore,
        client: WebClient,
        render: Render,
        *,
        worker_id: str,
        wakeup: Wakeup | None = None,
        per_channel_interval_s: float = 1.0,
        batch: int = 20,
        lease_s: float = 30.0,
        idle_sleep_s: float = 0.2,
        max_attempts: int = 8,
        max_backoff_s: float = 300.0,
        on_sent: OnSent | None = None,
        pace: PaceStore | None = None,
    ) -> None:
        if batch < 1 or max_attempts < 1:
            raise ValueError("batch and max_attempts must be at least 1")
        if lease_s <= 0 or idle_sleep_s <= 0 or per_channel_interval_s < 0 or max_backoff_s < 0:
            raise ValueError("lease_s and idle_sleep_s must be positive, intervals not negative")
        self.store = store
        self.render = render
        self.worker_id = worker_id
        self.per_channel_interval_s = per_channel_interval_s
        self.batch = batch
        self.lease_s = lease_s
        self.idle_sleep_s = idle_sleep_s
        self.max_attempts = max_attempts
        self.max_backoff_s = max_backoff_s
        self.on_sent = on_sent
        self.client = delivery_client(client, lease_s)
        # The shared pace is on the outbox's own database unless given.
        self.pacer = ChannelPacer(pace or PaceStore(store.db), per_channel_interval_s,
                                  float(self.client.timeout))
        self.stats: Counter[str] = Counter()
        self._inline_wait_s = min(idle_sleep_s, per_channel_interval_s)
        self._text_only: set[int] = set()  # rows whose blocks Slack refused
        self._rng = random.Random()
        self._run_lock = threading.Lock()
        self._wake = wakeup or Wakeup()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = log.bind(worker_id=worker_id)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Loop :meth:`run_once` in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"outbox-{self.worker_id}",
                                        daemon=True)
        self._thread.start()
        self._log.info("outbox.started")

    def notify(self) -> None:
        """Wake the loop now (after an enqueue) instead of after ``idle_sleep_s``."""
        self._wake.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop; the row being sent finishes, the rest of the batch is released."""
        self._stop.set()
        self._wake.notify()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                self._log.warning("outbox.stop_timeout", timeout_s=timeout)
            else:
                self._thread = None
        self._log.info("outbox.stopped")

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with self._run_lock:
                    result = self._run_batch(None)
                failures = 0
            except Exception:
                failures += 1
                delay = min(30.0, self.idle_sleep_s * 2 ** min(failures, 8))
                self._log.exception("outbox.loop_error", retry_in_s=round(delay, 2))
                self._stop.wait(delay)
                continue
            if result.progressed:
                continue
            self._wake.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        """``idle_sleep_s``, or less when a paced channel frees up sooner."""
        soonest = self.pacer.next_free_in()
        return self.idle_sleep_s if soonest is None else min(self.idle_sleep_s, soonest)

    # ------------------------------------------------------------------ one batch

    def run_once(self, now: datetime | None = None) -> int:
        """Claim a batch and handle it; returns the number of rows finished (done or dead).

        ``now`` (default: the current time) is the store's clock for this batch; it
        advances with real time while the batch runs."""
        with self._run_lock:
            return self._run_batch(now).finished

    def _run_batch(self, now: datetime | None) -> _BatchResult:
        clock = RunningClock(now)
        held = self.pacer.held()
        rows = self.store.claim(self.worker_id, self.batch, clock.now(), self.lease_s,
                                exclude_channels=held)
        result = _BatchResult(claimed=len(rows))
        if not rows:
            return result
        queues: dict[str, deque[OutboxRow]] = {}
        for row in rows:
            queues.setdefault(row.channel, deque()).append(row)
        # When a channel left out of this claim frees up, claim again rather than wait here.
        reclaim_at = min((self.pacer.free_at(ch) for ch in held), default=float("inf"))
        leftover: list[OutboxRow] = []
        while queues:
            if self._stop.is_set():
                leftover.extend(r for q in queues.values() for r in q)
                break
            mono = time.monotonic()
            ready = [ch for ch in queues if self.pacer.free_at(ch) <= mono]
            if not ready:
                until = min(self.pacer.free_at(ch) for ch in queues)
                if until - mono <= self._inline_wait_s and until <= reclaim_at:
                    self._stop.wait(until - mono)
                    continue
                leftover.extend(r for q in queues.values() for r in q)
                break
            channel = min(ready, key=lambda ch: queues[ch][0].id)
            row = queues[channel].popleft()
            outcome = self._handle_safely(row, clock)
            if outcome in (_Outcome.REQUEUE, _Outcome.PACED):
                queues[channel].appendleft(row)
                # The next claim leaves the held channel out: go on with the other channels.
                result.progressed |= outcome is _Outcome.PACED
            else:
                result.progressed = True
                result.finished += outcome is _Outcome.FINISHED
            if not queues[channel]:
                del queues[channel]
        if leftover:
            self._release(leftover)
        return result

    def _release(self, rows: list[OutboxRow]) -> None:
        """Give paced rows back with their schedule unchanged; rows that may have been sent
        keep that knowledge (attempts >= 1)."""
        maybe = [r.id for r in rows if r.may_have_been_sent]
        plain = [r.id for r in rows if not r.may_have_been_sent]
        try:
            n = self.store.release(plain, worker_id=self.worker_id)
            n += self.store.release(maybe, worker_id=self.worker_id, may_have_been_sent=True)
            self.stats["released"] += n
        except Exception:  # the claims expire after lease_s and the rows come back anyway
            self._log.exception("outbox.release_failed", rows=len(rows))

    def _handle_safely(self, row: OutboxRow, clock: RunningClock) -> _Outcome:
        try:
            return self._handle(row, clock)
        except Exception as exc:
            self._log.exception("outbox.row_error", outbox_id=row.id)
            try:  # counted, so the next claim looks for an earlier post first
                return self._retry(row, f"worker error: {type(exc).__name__}: {exc}", clock,
                                   self._log.bind(outbox_id=row.id))
            except Exception:
                self._log.exception("outbox.row_error_unrecorded", outbox_id=row.id)
                return _Outcome.NONE

    # ------------------------------------------------------------------ one row

    def _handle(self, row: OutboxRow, clock: RunningClock) -> _Outcome:
        lg = self._log.bind(outbox_id=row.id, kind=row.kind, channel=row.channel,
                            dedupe_key=row.dedupe_key, attempts=row.attempts)
        if row.message is None:  # a payload this version cannot read: say so, once
            return self._dead(row, row.bad_payload, clock, lg)
        try:
            rendered = self.render(row.message)
        except Exception as exc:
            lg.exception("outbox.render_failed")
            return self._retry(row, f"render failed: {type(exc).__name__}: {exc}", clock, lg)
        if rendered is None:
            self.store.complete(row.id, None, worker_id=self.worker_id, now=clock.now())
            self.stats["dropped"] += 1
            lg.info("outbox.dropped")
            return _Outcome.FINISHED
        try:
            request = build_request(row, rendered, row.message.edit_ts)
        except NoTarget as exc:
            return self._dead(row, str(exc), clock, lg)
        text_only = row.id in self._text_only
        if text_only:
            request = request.text_only()
        if request.method == POST and row.may_have_been_sent:
            self.stats["lookups"] += 1
            try:
                found = find_sent(self.client, row, request, clock.now())
            except Exception as exc:
                failure = classify(exc, "lookup")
                return self._failed(row, failure, "lookup", text_only, clock, lg)
            if found is not None:
                return self._complete(row, found, clock, lg, adopted=True)
        if self.store.mark_sending(row.id, self.worker_id, clock.now(), self.lease_s) is None:
            lg.warning("outbox.claim_lost")
            return _Outcome.NONE
        slot = self.pacer.acquire(row.channel)
        if slot is None:  # another replica's slot: back in the queue until the channel frees
            self.stats["held_elsewhere"] += 1
            return _Outcome.PACED
        try:
            ts = send(self.client, request)
        except Exception as exc:
            self.pacer.done(slot)  # first: a 429's hold in _failed may only lengthen it
            return self._failed(row, classify(exc, request.method), "send", text_only, clock, lg)
        self.pacer.done(slot)  # every write counts, refused or not
        return self._complete(row, ts, clock, lg, adopted=False)

    # ------------------------------------------------------------------ outcomes

    def _complete(
        self, row: OutboxRow, ts: str, clock: RunningClock, lg: Any, *, adopted: bool
    ) -> _Outcome:
        try:
            held = self.store.complete(row.id, ts, worker_id=self.worker_id, now=clock.now())
        except Exception:
            # Slack has the message but the store does not know: hand the row back so that
            # the next claim (or, if the store is down, the lease's expiry) adopts it.
            lg.exception("outbox.complete_failed", ts=ts)
            with contextlib.suppress(Exception):
                self.store.release([row.id], worker_id=self.worker_id,
                                   may_have_been_sent=True)
            return _Outcome.NONE
        if not held:
            lg.warning("outbox.complete_lost", ts=ts)  # another worker will adopt it
            return _Outcome.NONE
        self._text_only.discard(row.id)
        self.stats["adopted" if adopted else "sent"] += 1
        if not adopted and isinstance(row.message, IncidentPost):
            _observe_latency(row, clock.now())
        lg.info("outbox.adopted" if adopted else "outbox.sent", ts=ts)
        if self.on_sent is not None:
            try:
                self.on_sent(row, ts)
            except Exception:
                lg.exception("outbox.on_sent_failed", ts=ts)
        return _Outcome.FINISHED

    def _failed(
        self, row: OutboxRow, failure: Failure, stage: str, text_only: bool, clock: RunningClock,
        lg: Any,
    ) -> _Outcome:
        if failure.kind is FailureKind.RATE_LIMITED:
            hold = failure.retry_after
            due = clock.now() + timedelta(seconds=hold)
            # The channel frees a moment after the row is due again, so that the row (the
            # channel's oldest) is claimable when the channel is, and keeps its place.
            self.pacer.hold(row.channel, hold + _DUE_SLACK_S)
            # A 429 means Slack did not take the message; only a lookup that was cut short
            # leaves the question "was it sent before?" open.
            self.store.release(
                [row.id], worker_id=self.worker_id, next_attempt_at=due, error=failure.error,
                may_have_been_sent=stage == "lookup" and row.may_have_been_sent,
            )
            self.stats["rate_limited"] += 1
            lg.info("outbox.rate_limited", retry_after_s=hold, stage=stage)
            return _Outcome.RESCHEDULED
        if failure.kind is FailureKind.PERMANENT:
            if failure.code in TEXT_FALLBACK_ERRORS and stage == "send" and not text_only:
                self._text_only.add(row.id)
                self.stats["text_fallback"] += 1
                lg.warning("outbox.text_fallback", error=failure.error)
                return _Outcome.REQUEUE
            return self._dead(row, failure.error, clock, lg)
        return self._retry(row, failure.error, clock, lg)

    def _backoff(self, attempts: int) -> float:
        base = 2.0 ** min(attempts, 30)
        return min(self.max_backoff_s, base * self._rng.uniform(0.75, 1.25))

    def _retry(self, row: OutboxRow, error: str, clock: RunningClock, lg: Any) -> _Outcome:
        """Count a failed attempt: back off, or ``dead`` at ``max_attempts``."""
        delay = self._backoff(row.attempts)
        give_up = row.attempts + 1 >= self.max_attempts
        state = self.store.retry(
            row.id, error, clock.now() + timedelta(seconds=delay), worker_id=self.worker_id,
            give_up=give_up,
        )
        if state is OutboxState.DEAD:
            self._text_only.discard(row.id)
            self.stats["dead"] += 1
            lg.error("outbox.dead", error=error, attempts=row.attempts + 1)
            return _Outcome.FINISHED
        self.stats["retried"] += 1
        lg.warning("outbox.retry", error=error, retry_in_s=round(delay, 3))
        return _Outcome.RESCHEDULED

    def _dead(self, row: OutboxRow, error: str, clock: RunningClock, lg: Any) -> _Outcome:
        self.store.retry(row.id, error, clock.now(), worker_id=self.worker_id, give_up=True)
        self._text_only.discard(row.id)
        self.stats["dead"] += 1
        lg.error("outbox.dead", error=error, permanent=True)
        return _Outcome.FINISHED
