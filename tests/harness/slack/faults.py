"""Fault injection: queued failures, dropped answers, channel errors, 429s, pacing."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable

from .answers import _err
from .records import ApiAnswer, JSONDict
from .state import SlackState


class _TokenBucket:
    """Per-channel pacing like Slack's ~1 message per second per channel, with a burst."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = float(burst)
        self.tokens: dict[str, float] = {}
        self.stamp: dict[str, float] = {}

    def take(self, key: str, now: float) -> bool:
        tokens = self.tokens.get(key, self.burst)
        tokens = min(self.burst, tokens + (now - self.stamp.get(key, now)) * self.per_second)
        self.stamp[key] = now
        if tokens < 1.0:
            self.tokens[key] = tokens
            return False
        self.tokens[key] = tokens - 1.0
        return True


class Faults(SlackState):
    """What makes Slack answer badly, on purpose."""

    def fail_next(self, method: str, n: int = 1, status: int = 429, retry_after: int = 1) -> None:
        """Answer the next ``n`` calls of ``method`` with ``status`` (429 carries Retry-After)."""
        with self._lock:
            for _ in range(n):
                self._fail_queue[method].append((status, retry_after))

    def drop_next_response(self, method: str, n: int = 1) -> None:
        """Process the next ``n`` successful calls of ``method`` (a message is really posted)
        but close the connection instead of answering: the client sees a connection error,
        as when Slack's answer is lost on the way back."""
        with self._lock:
            self._drop_queue[method] += n

    def hold_next_response(self, method: str, n: int = 1) -> None:
        """Process the next ``n`` successful calls of ``method`` (a message is really
        posted) but keep each answer back until `release_held`, then close the connection
        without it: a client killed meanwhile never learns that its post went through."""
        with self._lock:
            self._hold_queue[method] += n

    def wait_held(self, n: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``n`` answers are being held back."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._held < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self._held} answers held, not {n}, in {timeout}s")
                self._changed.wait(left)

    def release_held(self) -> None:
        """Let the held answers go (as dropped connections); later holds block again."""
        with self._lock:
            release, self._release_held = self._release_held, threading.Event()
        release.set()

    def set_channel_error(self, channel: str, error: str | None) -> None:
        """Make chat.postMessage, chat.update and conversations.history/replies on
        ``channel`` answer ``error`` (e.g. ``channel_not_found``, ``not_in_channel``,
        ``is_archived``); None lifts it."""
        with self._lock:
            if error is None:
                self._channel_errors.pop(channel, None)
            else:
                self._channel_errors[channel] = error

    def set_429_ratio(
        self,
        ratio: float,
        retry_after: int = 1,
        seed: int = 0,
        *,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Rate-limit a seeded random share of Web API calls (all methods unless given)."""
        with self._lock:
            if ratio <= 0:
                self._ratio = None
                return
            only = frozenset(methods) if methods is not None else None
            self._ratio = (ratio, retry_after, random.Random(seed), only)

    def set_channel_rate_limit(
        self, per_second: float = 1.0, burst: int = 3, retry_after: int = 1
    ) -> None:
        """Pace chat.postMessage per channel like Slack (~1/s with a small burst)."""
        with self._lock:
            self._channel_bucket = (_TokenBucket(per_second, burst), retry_after)

    def refuse_connections_open(
        self, error: str, n: int = 1, retry_after: int | None = None
    ) -> None:
        """Answer the next ``n`` apps.connections.open calls ``{"ok": false, "error":
        error}`` (``invalid_auth``, ``token_revoked``, ``internal_error``...);
        ``ratelimited`` is an HTTP 429 with ``Retry-After: retry_after`` (default 1)."""
        with self._lock:
            for _ in range(n):
                self._refusals.append((error, retry_after))

    def delay_hello(self, seconds: float | None, n: int = 1) -> None:
        """Greet the next ``n`` Socket Mode connections ``seconds`` after they open, or,
        with None, never: no hello, no envelopes, though pings are still answered, so only
        waiting for the hello tells."""
        with self._lock:
            self._hello_delays.extend([seconds] * n)

    def _injected(self, method: str, params: JSONDict) -> ApiAnswer | None:
        with self._lock:
            if method == "apps.connections.open" and self._refusals:
                error, retry_after = self._refusals.popleft()
                if error == "ratelimited":
                    return 429, _err(error), {"Retry-After": str(retry_after or 1)}
                return 200, _err(error), {}
            queue = self._fail_queue.get(method)
            if queue:
                status, retry_after = queue.popleft()
                return self._failure(status, retry_after)
            if self._ratio is not None:
                ratio, retry_after, rng, only = self._ratio
                if (only is None or method in only) and rng.random() < ratio:
                    return self._failure(429, retry_after)
            if self._channel_bucket is not None and method == "chat.postMessage":
                bucket, retry_after = self._channel_bucket
                channel = str(params.get("channel") or "")
                if channel and not bucket.take(channel, time.monotonic()):
                    return self._failure(429, retry_after)
        return None

    @staticmethod
    def _failure(status: int, retry_after: int) -> ApiAnswer:
        if status == 429:
            return 429, _err("ratelimited"), {"Retry-After": str(retry_after)}
        return status, _err("internal_error" if status < 503 else "service_unavailable"), {}
