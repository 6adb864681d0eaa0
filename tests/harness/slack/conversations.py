"""conversations.history, .replies and .list: time windows and cursor paging."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .answers import _err, _missing, _truthy
from .messages import public_message
from .records import HISTORY_MAX_LIMIT, JSONDict
from .state import SlackState


def _in_window(msgs: Iterable[JSONDict], p: Mapping[str, Any]) -> list[JSONDict]:
    """Messages between ``oldest`` and ``latest`` (exclusive unless ``inclusive``)."""
    inclusive = _truthy(p.get("inclusive"))
    oldest = float(p.get("oldest") or 0)
    latest = float(p["latest"]) if p.get("latest") else None
    out = []
    for m in msgs:
        ts = float(m["ts"])
        if ts < oldest or (ts == oldest and not inclusive):
            continue
        if latest is not None and (ts > latest or (ts == latest and not inclusive)):
            continue
        out.append(m)
    return out


def _page(msgs: list[JSONDict], p: Mapping[str, Any], default_limit: int,
          with_metadata: bool) -> JSONDict:
    """One page of ``msgs`` as the Web API answers it (opaque ``next_cursor``)."""
    limit = max(1, min(int(p.get("limit") or default_limit), HISTORY_MAX_LIMIT))
    cursor = str(p.get("cursor") or "")
    start = int(cursor.removeprefix("off:")) if cursor.startswith("off:") else 0
    chunk = msgs[start : start + limit]
    more = start + limit < len(msgs)
    shown = []
    for m in chunk:
        item = public_message(m)
        if not with_metadata:
            item.pop("metadata", None)
        shown.append(item)
    return {"ok": True, "messages": shown, "has_more": more,
            "response_metadata": {"next_cursor": f"off:{start + limit}" if more else ""}}


class Conversations(SlackState):
    """Reading channels and threads back, as the bot's history scans do."""

    def _conversations_replies(self, p: JSONDict) -> JSONDict:
        """The thread, oldest first; ``oldest``/``latest``/``inclusive`` keep the parent as
        Slack does, ``limit`` and ``cursor`` page, ``include_all_metadata`` shows metadata."""
        channel, ts = p.get("channel"), p.get("ts")
        if not channel or str(channel) not in self.channel_names:
            return _err("channel_not_found")
        if not ts:
            return _missing("ts")
        found = self.thread(str(channel), str(ts))
        if not found:
            return _err("thread_not_found")
        parent, replies = found[0], _in_window(found[1:], p)
        return _page([parent, *replies], p, 1000, _truthy(p.get("include_all_metadata")))

    def _conversations_list(self, p: JSONDict) -> JSONDict:
        channels = [{"id": cid, "name": name, "is_channel": True, "is_archived": False,
                     "is_member": True} for cid, name in sorted(self.channel_names.items())]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _conversations_history(self, p: JSONDict) -> JSONDict:
        """Top-level messages, newest first, with ``oldest``/``latest``/``inclusive``,
        ``limit``/``cursor`` paging and ``include_all_metadata`` (metadata is hidden
        without it). Only the workspace's channels exist, by id."""
        channel = str(p.get("channel") or "")
        if channel not in self.channel_names:
            return _err("channel_not_found")
        msgs = self.messages.get(channel, [])
        top = [m for m in msgs if m.get("thread_ts") in (None, m["ts"])]
        newest_first = sorted(_in_window(top, p), key=lambda m: float(m["ts"]), reverse=True)
        return _page(newest_first, p, 100, _truthy(p.get("include_all_metadata")))
