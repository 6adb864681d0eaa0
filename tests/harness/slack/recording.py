"""What the stand-in recorded, how tests wait for it, and the workspace's ids and threads."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from .records import CHANNEL_ID, Call, JSONDict
from .state import SlackState


class Recording(SlackState):
    """Recorded calls and stored messages, read thread-safely."""

    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[Call]:
        """Recorded calls of one method; ``ok=True`` keeps only successful ones."""
        with self._lock:
            return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def wait_for(self, predicate: Callable[[Call], bool], timeout: float = 10.0) -> Call:
        """Block until a recorded call satisfies ``predicate``; fail with what was seen."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for call in self.calls:
                    if predicate(call):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no Slack call matched within {timeout}s; calls:\n{self.summary()}"
                    )
                self._changed.wait(left)

    def summary(self) -> str:
        """One line per recorded call, for assertion messages."""
        with self._lock:
            lines = []
            for c in self.calls:
                outcome = "ok" if c.ok else f"{c.status} {c.response.get('error', '')}"
                detail = c.params.get("channel") or c.params.get("usergroup") or ""
                lines.append(f"  {c.at:.3f} {c.method} {detail} -> {outcome}")
            return "\n".join(lines) or "  (none)"

    def clear(self) -> None:
        """Forget recorded calls, messages, responses and deliveries (servers keep running)."""
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self.ephemerals.clear()
            self.views.clear()
            self.responses.clear()
            self.deliveries.clear()
            self.socket_sent.clear()
            self.socket_acks.clear()
            self.socket_messages.clear()

    def new_ts(self) -> str:
        """A unique, increasing message ts such as ``1700000000.000100``."""
        with self._lock:
            us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
            self._last_ts_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def channel_id(self, name_or_id: str) -> str:
        """The id of a channel named `#name` or `name` (created on first use, as if it
        existed in the workspace); an id is returned as it is."""
        if CHANNEL_ID.match(name_or_id):
            return name_or_id
        name = name_or_id.lstrip("#")
        cid = "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()
        self.channel_names.setdefault(cid, name)
        return cid

    def find_message(self, channel: str, ts: str) -> JSONDict | None:
        with self._lock:
            for msg in self.messages.get(channel, []):
                if msg["ts"] == ts:
                    return msg
        return None

    def thread(self, channel: str, ts: str) -> list[JSONDict]:
        """The parent message and its replies, oldest first (what conversations.replies sees)."""
        with self._lock:
            msgs = self.messages.get(channel, [])
            root = next((m for m in msgs if m["ts"] == ts), None)
            if root is None:
                return []
            root_ts = root.get("thread_ts") or root["ts"]
            found = [m for m in msgs if m["ts"] == root_ts or m.get("thread_ts") == root_ts]
            return sorted(found, key=lambda m: float(m["ts"]))
