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
        """The id of a workspace channel, by id, ``#name`` or ``name``. Only the channels
        the workspace has exist (DEFAULT_CHANNELS, and those `create_channel` adds): any
        other is an AssertionError here, and ``channel_not_found`` in the Web API, as in
        Slack, so a typo in the bot's routing cannot pass."""
        found = self.known_channel(name_or_id)
        if found is None:
            raise AssertionError(f"no channel {name_or_id!r} in the stand-in's workspace "
                                 "(create_channel adds one)")
        return found

    def create_channel(self, name: str, channel_id: str | None = None) -> str:
        """Add a channel to the workspace (``channel_id`` or one derived from the name)."""
        name = name.lstrip("#")
        cid = channel_id or "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()
        if not CHANNEL_ID.match(cid):
            raise ValueError(f"{cid!r} is not a channel id")
        with self._lock:
            self.channel_names[cid] = name
        return cid

    def known_channel(self, name_or_id: str) -> str | None:
        """The id of the channel, or None when the workspace has no such channel."""
        with self._lock:
            if name_or_id in self.channel_names:
                return name_or_id
            name = name_or_id.lstrip("#")
            return next((cid for cid, n in self.channel_names.items() if n == name), None)

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
