"""The outbox worker: the only path by which alert messages reach Slack.

Rows are enqueued by the store in the same transaction as the incident change that needs
them (:mod:`bot.store.repo`); this worker claims them, renders each one at send time and
delivers it with ``slack_sdk.WebClient``:

* ``post``: ``chat.postMessage`` (into the incident's thread when the incident is anchored
  in an existing thread); ``thread_reply``: ``chat.postMessage`` with ``thread_ts``;
  ``update``: ``chat.update`` of the incident's message. Slack's ``ts`` is stored with the
  row (:meth:`Store.complete_outbox`), which makes a post's ts the incident's message.
* Exactly once: every ``chat.postMessage`` carries message metadata
  ``{"event_type": "genai_outbox", "event_payload": {"key": <dedupe_key>}}``. When a row may
  already have been sent (a counted failed attempt, or a claim that expired under a vanished
  worker: :attr:`OutboxRow.may_have_been_sent`) the worker first looks for that metadata
  (``conversations.history``, or ``conversations.replies`` in a thread, with
  ``include_all_metadata``) and adopts the message it finds. Right before a send,
  :meth:`Store.mark_sending` checks that the claim is still this worker's and extends it past
  the HTTP timeout (the worker's client times out after at most a third of ``lease_s``), so
  no other worker can take the row while the request is in flight. ``chat.update`` is
  idempotent and is sent without a check.
* Pacing: at most one write per channel per ``per_channel_interval_s``. A channel that must
  wait does not stall the others: its rows go back to the store with their schedule
  unchanged and are not claimed again until the channel is free (short waits, up to
  ``min(idle_sleep_s, per_channel_interval_s)``, are waited out in place).
* 429: the row is rescheduled at now + ``Retry-After`` and its channel held until then;
  this does not count towards ``max_attempts``. 5xx, timeouts and connection errors back off
  exponentially with jitter (1, 2, 4 ... s, capped at ``max_backoff_s``) and count; at
  ``max_attempts`` the row is ``dead`` with its last error. Permanent errors
  (``channel_not_found``, ``not_in_channel``, ``invalid_auth``, ``msg_too_long`` ...) make
  it ``dead`` at once; invalid blocks or attachments first get one retry with the ``text``
  fallback only, so the alert still reaches people.
* Retries are the worker's alone: a client with retry handlers (slack_sdk's default
  retries connection errors; ``RateLimitErrorRetryHandler`` would sleep through
  ``Retry-After`` inside the call) is replaced by a copy without them, because a blind
  re-send of a post that reached Slack would duplicate it.

Several workers (replicas) may run against one PostgreSQL: claims are exclusive, so each row
is delivered once. Pacing is per worker; Slack's own 429s pace the rest.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.store import OutboxRow, Store, utcnow
from bot.store.models import as_utc

log = structlog.get_logger(__name__)

Render = Callable[[OutboxRow], dict[str, Any] | None]
"""Slack message fields (``text``, ``blocks``, ``attachments`` ...) for a row; None drops the
row (marked done, nothing sent). ``thread_ts`` (a ``post``/``thread_reply``) and ``ts`` (an
``update``) in the result are used only when the row has no incident to take them from."""

OnSent = Callable[[OutboxRow, str], None]
"""Called with the row and Slack's ts once a row is delivered (or an earlier post adopted)."""

METADATA_EVENT_TYPE = "genai_outbox"
LOOKBACK = timedelta(minutes=1)  # look for an earlier post from created_at minus this
LOOKUP_PAGE_SIZE = 200
LOOKUP_MAX_PAGES = 25
FALLBACK_TEXT_MAX = 3000

# Slack errors that no retry can fix: the row is dead at once.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed",
    "account_inactive", "token_revoked", "token_expired", "no_permission", "missing_scope",
    "not_allowed_token_type", "ekm_access_denied", "team_access_not_granted",
    "msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format",
    "invalid_attachments", "too_many_attachments", "invalid_metadata_format",
    "invalid_metadata_schema", "metadata_too_large", "invalid_arguments", "invalid_arg_name",
    "invalid_charset", "message_not_found", "cant_update_message", "edit_window_closed",
    "restricted_action", "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel", "restricted_action_non_threadable_channel",
    "cannot_reply_to_message", "message_limit_exceeded", "as_user_not_supported",
})
# Rejected content: retried once with the text fallback alone.
TEXT_FALLBACK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format",
                                  "invalid_attachments", "too_many_attachments"})
_METHOD_POST = "chat.postMessage"
_METHOD_UPDATE = "chat.update"
_RESERVED = ("channel", "ts", "thread_ts", "metadata")
_DUE_SLACK_S = 0.005


class _Kind(Enum):
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Failure:
    """A classified failed Slack call."""

    kind: _Kind
    code: str  # Slack's error code, or the exception type
    error: str  # what is kept in the row's last_error
    retry_after: float = 0.0


def classify(exc: BaseException, method: str) -> Failure:
    """429 → rate limited (with Retry-After); 5xx, timeouts, connection errors and unknown
    errors → transient (counted, backed off); :data:`PERMANENT_ERRORS` → permanent."""
    if isinstance(exc, SlackApiError):
        resp = exc.response
        status = int(getattr(resp, "status_code", 0) or 0)
        code = str(resp.get("error") or "unknown_error") if resp is not None else "unknown_error"
        text = f"{method}: {code} (HTTP {status})"
        details = (resp.get("response_metadata") or {}).get("messages") if resp else None
        if isinstance(details, list) and details:
            text += ": " + "; ".join(str(d) for d in details[:5])
        if status == 429 or code == "ratelimited":
            return Failure(_Kind.RATE_LIMITED, "ratelimited", text, _retry_after(resp))
        if status >= 500 or code not in PERMANENT_ERRORS:
            return Failure(_Kind.TRANSIENT, code, text)
        return Failure(_Kind.PERMANENT, code, text)
    name = type(exc).__name__
    if isinstance(exc, OSError | http.client.HTTPException):  # URLError, timeouts, resets
        return Failure(_Kind.TRANSIENT, name, f"{method}: connection error: {name}: {exc}")
    return Failure(_Kind.TRANSIENT, name, f"{method}: {name}: {exc}")


def _retry_after(resp: Any) -> float:
    """Seconds from the Retry-After header (1 s if absent or unreadable)."""
    headers: Mapping[str, Any] = getattr(resp, "headers", None) or {}
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return min(max(float(raw), 0.0), 3600.0)
            except (TypeError, ValueError):
                break
    return 1.0


def delivery_client(client: WebClient, lease_s: float) -> WebClient:
    """``client`` itself, or a copy without retry handlers and with a timeout of at most a
    third of ``lease_s`` (see the module docstring for why)."""
    max_timeout = max(1, int(lease_s / 3))
    handlers = list(client.retry_handlers or [])
    if not handlers and client.timeout <= max_timeout:
        return client
    copy = WebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=min(client.timeout, max_timeout),
        ssl=client.ssl,
        proxy=client.proxy,
        headers=dict(client.headers),
        logger=client.logger,
        retry_handlers=[],
    )
    copy.default_params = dict(client.default_params)
    if "User-Agent" in client.headers:
        copy.headers["User-Agent"] = client.headers["User-Agent"]
    log.info("outbox.client_copied", dropped_retry_handlers=[type(h).__name__ for h in handlers],
             timeout_s=copy.timeout)
    return copy


def fallback_text(rendered: Mapping[str, Any]) -> str:
    """The message as plain text: its ``text``, else the text found in its blocks and
    attachments."""
    text = rendered.get("text")
    if isinstance(text, str) and text.strip():
        return text[:FALLBACK_TEXT_MAX]
    parts: list[str] = []
    for block in rendered.get("blocks") or []:
        if isinstance(block, Mapping):
            parts.extend(_block_texts(block))
    for att in rendered.get("attachments") or []:
        if isinstance(att, Mapping):
            for key in ("fallback", "title", "text"):
                if isinstance(att.get(key), str) and att[key]:
                    parts.append(att[key])
                    break
    joined = "\n".join(p for p in parts if p.strip())
    return (joined or "An alert message could not be displayed; see the bot's logs.")[
        :FALLBACK_TEXT_MAX
    ]


def _block_texts(block: Mapping[str, Any]) -> Iterator[str]:
    for key in ("text",):
        obj = block.get(key)
        if isinstance(obj, Mapping) and isinstance(obj.get("text"), str):
            yield obj["text"]
    for key in ("fields", "elements"):
        for item in block.get(key) or []:
            if isinstance(item, Mapping) and isinstance(item.get("text"), str):
                yield item["text"]


def metadata_key(message: Mapping[str, Any]) -> str | None:
    """The outbox dedupe key in a Slack message's metadata, if it carries one."""
    meta = message.get("metadata")
    if not isinstance(meta, Mapping) or meta.get("event_type") != METADATA_EVENT_TYPE:
        return None
    payload = meta.get("event_payload")
    key = payload.get("key") if isinstance(payload, Mapping) else None
    return str(key) if key is not None else None


class _NoTarget(ValueError):
    """The row cannot be delivered at all (unknown kind, nothing to update or reply to)."""


@dataclass(frozen=True)
class _Request:
    method: str
    kwargs: dict[str, Any]
    thread_ts: str | None  # where a post goes (for the lookup)
    fallback: str

    def text_only(self) -> _Request:
        keep = {k: v for k, v in self.kwargs.items() if k in _RESERVED}
        keep["text"] = self.fallback
        if self.method == _METHOD_UPDATE:  # an update keeps omitted blocks: clear them
            keep["blocks"] = []
            keep["attachments"] = []
        return _Request(self.method, keep, self.thread_ts, self.fallback)


class _Outcome(Enum):
    FINISHED = "finished"  # done or dead
    RESCHEDULED = "rescheduled"  # back to pending (429, backoff)
    REQUEUE = "requeue"  # try again in this batch once the channel is free (text fallback)
    NONE = "none"  # claim lost, or left for the lease to expire


class _Clock:
    """Wall time for the store, starting at ``now`` and advancing with the monotonic clock."""

    def __init__(self, now: datetime | None) -> None:
        self.wall = as_utc(now) if now is not None else utcnow()
        self.mono = time.monotonic()

    def now(self) -> datetime:
        return self.wall + timedelta(seconds=time.monotonic() - self.mono)


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
        store: Store,
        client: WebClient,
        render: Render,
        *,
        worker_id: str,
        per_channel_interval_s: float = 1.0,
        batch: int = 20,
        lease_s: float = 30.0,
        idle_sleep_s: float = 0.2,
        max_attempts: int = 8,
        max_backoff_s: float = 300.0,
        on_sent: OnSent | None = None,
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
        self.stats: Counter[str] = Counter()
        self._inline_wait_s = min(idle_sleep_s, per_channel_interval_s)
        self._free_at: dict[str, float] = {}  # channel -> monotonic time of its next write
        self._text_only: set[int] = set()  # rows whose blocks Slack refused
        self._rng = random.Random()
        self._run_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = log.bind(worker_id=worker_id)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Loop :meth:`run_once` in a daemon thread until :meth:`stop`."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"outbox-{self.worker_id}", daemon=True
        )
        self._thread.start()
        self._log.info("outbox.started")

    def notify(self) -> None:
        """Wake the loop now (after an enqueue) instead of after ``idle_sleep_s``."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop; the row being sent finishes, the rest of the batch is released."""
        self._stop.set()
        self._wake.set()
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
            self._wake.clear()
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
        mono = time.monotonic()
        waits = [t - mono for t in self._free_at.values() if t > mono]
        return max(0.0, min([self.idle_sleep_s, *waits]))

    # ------------------------------------------------------------------ one batch

    def run_once(self, now: datetime | None = None) -> int:
        """Claim a batch and handle it; returns the number of rows finished (done or dead).

        ``now`` (default: the current time) is the store's clock for this batch; it
        advances with real time while the batch runs."""
        with self._run_lock:
            return self._run_batch(now).finished

    def _run_batch(self, now: datetime | None) -> _BatchResult:
        clock = _Clock(now)
        mono = time.monotonic()
        self._free_at = {ch: t for ch, t in self._free_at.items() if t > mono - 60.0}
        held = sorted(ch for ch, t in self._free_at.items() if t > mono)
        rows = self.store.claim_outbox(
            self.worker_id, self.batch, clock.now(), self.lease_s, exclude_channels=held
        )
        result = _BatchResult(claimed=len(rows))
        if not rows:
            return result
        queues: dict[str, deque[OutboxRow]] = {}
        for row in rows:
            queues.setdefault(row.channel, deque()).append(row)
        # When a channel left out of this claim frees up, claim again rather than wait here.
        reclaim_at = min((self._free_at[ch] for ch in held), default=float("inf"))
        leftover: list[OutboxRow] = []
        while queues:
            if self._stop.is_set():
                leftover.extend(r for q in queues.values() for r in q)
                break
            mono = time.monotonic()
            ready = [ch for ch in queues if self._free_at.get(ch, 0.0) <= mono]
            if not ready:
                until = min(self._free_at[ch] for ch in queues)
                if until - mono <= self._inline_wait_s and until <= reclaim_at:
                    self._stop.wait(until - mono)
                    continue
                leftover.extend(r for q in queues.values() for r in q)
                break
            channel = min(ready, key=lambda ch: queues[ch][0].id)
            row = queues[channel].popleft()
            outcome = self._handle_safely(row, clock)
            if outcome is _Outcome.REQUEUE:
                queues[channel].appendleft(row)
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
            n = self.store.release_outbox(plain, worker_id=self.worker_id)
            n += self.store.release_outbox(maybe, worker_id=self.worker_id,
                                           may_have_been_sent=True)
            self.stats["released"] += n
        except Exception:  # the claims expire after lease_s and the rows come back anyway
            self._log.exception("outbox.release_failed", rows=len(rows))

    def _handle_safely(self, row: OutboxRow, clock: _Clock) -> _Outcome:
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

    def _handle(self, row: OutboxRow, clock: _Clock) -> _Outcome:
        lg = self._log.bind(outbox_id=row.id, kind=row.kind, channel=row.channel,
                            dedupe_key=row.dedupe_key, attempts=row.attempts)
        try:
            rendered = self.render(row)
        except Exception as exc:
            lg.exception("outbox.render_failed")
            return self._retry(row, f"render failed: {type(exc).__name__}: {exc}", clock, lg)
        if rendered is None:
            self.store.complete_outbox(row.id, None, worker_id=self.worker_id, now=clock.now())
            self.stats["dropped"] += 1
            lg.info("outbox.dropped")
            return _Outcome.FINISHED
        try:
            request = self._request(row, rendered)
        except _NoTarget as exc:
            return self._dead(row, str(exc), clock, lg)
        text_only = row.id in self._text_only
        if text_only:
            request = request.text_only()
        if request.method == _METHOD_POST and row.may_have_been_sent:
            self.stats["lookups"] += 1
            try:
                found = self._find_sent(row, request, clock)
            except Exception as exc:
                failure = classify(exc, "lookup")
                return self._failed(row, failure, "lookup", text_only, clock, lg)
            if found is not None:
                return self._complete(row, found, clock, lg, adopted=True)
        if self.store.mark_sending(row.id, self.worker_id, clock.now(), self.lease_s) is None:
            lg.warning("outbox.claim_lost")
            return _Outcome.NONE
        try:
            ts = self._send(request)
        except Exception as exc:
            return self._failed(row, classify(exc, request.method), "send", text_only, clock, lg)
        finally:
            # Every write counts, refused or not.
            self._free_at[row.channel] = max(
                self._free_at.get(row.channel, 0.0),
                time.monotonic() + self.per_channel_interval_s,
            )
        return self._complete(row, ts, clock, lg, adopted=False)

    def _request(self, row: OutboxRow, rendered: Mapping[str, Any]) -> _Request:
        fields = {k: v for k, v in rendered.items() if k not in _RESERVED}
        if "metadata" in rendered:
            self._log.warning("outbox.render_metadata_ignored", outbox_id=row.id)
        fallback = fallback_text(rendered)
        given_thread = rendered.get("thread_ts")
        kwargs: dict[str, Any] = {"channel": row.channel}
        if row.kind in ("post", "thread_reply"):
            if row.kind == "post":
                anchored = row.thread_ts is not None and row.thread_ts != row.slack_ts
                thread = row.thread_ts if anchored else given_thread
            else:
                thread = row.thread_ts or given_thread
                if not thread:
                    raise _NoTarget("thread_reply without a thread to reply to")
            if thread:
                kwargs["thread_ts"] = str(thread)
            kwargs.update(fields)
            kwargs["metadata"] = {"event_type": METADATA_EVENT_TYPE,
                                  "event_payload": {"key": row.dedupe_key}}
            return _Request(_METHOD_POST, kwargs, kwargs.get("thread_ts"), fallback)
        if row.kind == "update":
            ts = row.slack_ts or rendered.get("ts")
            if not ts:
                raise _NoTarget("update without a message to edit")
            kwargs["ts"] = str(ts)
            kwargs.update(fields)
            return _Request(_METHOD_UPDATE, kwargs, None, fallback)
        raise _NoTarget(f"unknown outbox kind {row.kind!r}")

    def _send(self, request: _Request) -> str:
        if request.method == _METHOD_UPDATE:
            resp = self.client.chat_update(**request.kwargs)
            return str(resp.get("ts") or request.kwargs["ts"])
        resp = self.client.chat_postMessage(**request.kwargs)
        ts = resp.get("ts")
        if not isinstance(ts, str) or not ts:
            raise ValueError("chat.postMessage answered ok without a ts")
        return ts

    def _find_sent(self, row: OutboxRow, request: _Request, clock: _Clock) -> str | None:
        """The ts of an earlier post of this row, found by its metadata, or None."""
        since = (row.created_at or clock.now()) - LOOKBACK
        args: dict[str, Any] = {
            "channel": row.channel,
            "oldest": f"{since.timestamp():.6f}",
            "include_all_metadata": True,
            "limit": LOOKUP_PAGE_SIZE,
        }
        cursor: str | None = None
        for _ in range(LOOKUP_MAX_PAGES):
            if cursor:
                args["cursor"] = cursor
            try:
                if request.thread_ts:
                    page = self.client.conversations_replies(ts=request.thread_ts, **args)
                else:
                    page = self.client.conversations_history(**args)
            except SlackApiError as exc:
                if exc.response is not None and exc.response.get("error") == "thread_not_found":
                    return None
                raise
            for message in page.get("messages") or []:
                if isinstance(message, Mapping) and metadata_key(message) == row.dedupe_key:
                    return str(message["ts"])
            meta = page.get("response_metadata") or {}
            cursor = meta.get("next_cursor") if isinstance(meta, Mapping) else None
            if not page.get("has_more") or not cursor:
                return None
        self._log.warning("outbox.lookup_truncated", outbox_id=row.id, pages=LOOKUP_MAX_PAGES)
        return None

    # ------------------------------------------------------------------ outcomes

    def _complete(
        self, row: OutboxRow, ts: str, clock: _Clock, lg: Any, *, adopted: bool
    ) -> _Outcome:
        try:
            held = self.store.complete_outbox(row.id, ts, worker_id=self.worker_id,
                                              now=clock.now())
        except Exception:
            # Slack has the message but the store does not know: hand the row back so that
            # the next claim (or, if the store is down, the lease's expiry) adopts it.
            lg.exception("outbox.complete_failed", ts=ts)
            with contextlib.suppress(Exception):
                self.store.release_outbox([row.id], worker_id=self.worker_id,
                                          may_have_been_sent=True)
            return _Outcome.NONE
        if not held:
            lg.warning("outbox.complete_lost", ts=ts)  # another worker will adopt it
            return _Outcome.NONE
        self._text_only.discard(row.id)
        self.stats["adopted" if adopted else "sent"] += 1
        lg.info("outbox.adopted" if adopted else "outbox.sent", ts=ts)
        if self.on_sent is not None:
            try:
                self.on_sent(row, ts)
            except Exception:
                lg.exception("outbox.on_sent_failed", ts=ts)
        return _Outcome.FINISHED

    def _failed(
        self, row: OutboxRow, failure: Failure, stage: str, text_only: bool, clock: _Clock,
        lg: Any,
    ) -> _Outcome:
        if failure.kind is _Kind.RATE_LIMITED:
            hold = failure.retry_after
            due = clock.now() + timedelta(seconds=hold)
            # The channel frees a moment after the row is due again, so that the row (the
            # channel's oldest) is claimable when the channel is, and keeps its place.
            self._free_at[row.channel] = max(self._free_at.get(row.channel, 0.0),
                                             time.monotonic() + hold + _DUE_SLACK_S)
            # A 429 means Slack did not take the message; only a lookup that was cut short
            # leaves the question "was it sent before?" open.
            self.store.release_outbox(
                [row.id], worker_id=self.worker_id, next_attempt_at=due, error=failure.error,
                may_have_been_sent=stage == "lookup" and row.may_have_been_sent,
            )
            self.stats["rate_limited"] += 1
            lg.info("outbox.rate_limited", retry_after_s=hold, stage=stage)
            return _Outcome.RESCHEDULED
        if failure.kind is _Kind.PERMANENT:
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

    def _retry(self, row: OutboxRow, error: str, clock: _Clock, lg: Any) -> _Outcome:
        """Count a failed attempt: back off, or ``dead`` at ``max_attempts``."""
        delay = self._backoff(row.attempts)
        give_up = row.attempts + 1 >= self.max_attempts
        state = self.store.retry_outbox(
            row.id, error, clock.now() + timedelta(seconds=delay), worker_id=self.worker_id,
            give_up=give_up,
        )
        if state == "dead":
            self._text_only.discard(row.id)
            self.stats["dead"] += 1
            lg.error("outbox.dead", error=error, attempts=row.attempts + 1)
            return _Outcome.FINISHED
        self.stats["retried"] += 1
        lg.warning("outbox.retry", error=error, retry_in_s=round(delay, 3))
        return _Outcome.RESCHEDULED

    def _dead(self, row: OutboxRow, error: str, clock: _Clock, lg: Any) -> _Outcome:
        self.store.retry_outbox(row.id, error, clock.now(), worker_id=self.worker_id,
                                give_up=True)
        self._text_only.discard(row.id)
        self.stats["dead"] += 1
        lg.error("outbox.dead", error=error, permanent=True)
        return _Outcome.FINISHED
