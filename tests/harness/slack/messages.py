"""Messages: Block Kit checks on content, chat.* methods, message events."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from ..blockkit import MAX_MESSAGE_TEXT, validate_attachments, validate_blocks
from .answers import _err, _missing, _valid_metadata
from .records import JSONDict
from .state import SlackState

# Slack stores message text escaped: a bare & < > becomes an entity; entities and control
# sequences (<@U…>, <#C…>, <!here>, <https://…|label>) are kept as sent.
_FORMATTING = re.compile(
    r"(<(?:[@#!][^<>]*|(?:https?|mailto):[^<>]*)>)|(&(?:amp|lt|gt);)|([&<>])")
_LEGACY_FIELDS = ("text", "title", "fallback", "pretext", "footer", "author_name")


def slack_escaped(text: str) -> str:
    """``text`` as Slack keeps and delivers it."""
    def one(m: re.Match[str]) -> str:
        if m.group(3):
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;"}[m.group(3)]
        return m.group(0)

    return _FORMATTING.sub(one, text)


def _as_stored(content: Mapping[str, Any]) -> JSONDict:
    """Message text and the legacy attachment fields, escaped as Slack stores them; Block
    Kit is kept as sent."""
    out = dict(content)
    if isinstance(out.get("text"), str):
        out["text"] = slack_escaped(out["text"])
    attachments = out.get("attachments")
    if isinstance(attachments, list):
        out["attachments"] = [
            {k: slack_escaped(v) if k in _LEGACY_FIELDS and isinstance(v, str) else v
             for k, v in a.items()} if isinstance(a, Mapping) else a
            for a in attachments]
    return out


def public_message(msg: Mapping[str, Any]) -> JSONDict:
    """A stored message as the Web API shows it (no None fields, no store bookkeeping)."""
    return {k: v for k, v in msg.items() if v is not None and k not in ("channel", "params")}


class Messages(SlackState):
    """Posting, editing and deleting messages; events about them."""

    def _content(self, p: JSONDict, *, partial: bool = False) -> JSONDict:
        """Validated text/blocks/attachments, or an ``{"ok": False}`` error answer."""
        out: JSONDict = {}
        text = p.get("text")
        if text is not None:
            if not isinstance(text, str):
                text = str(text)
            if len(text) > MAX_MESSAGE_TEXT:
                return _err("msg_too_long")
            out["text"] = text
        for key, check in (("blocks", validate_blocks), ("attachments", validate_attachments)):
            value = p.get(key)
            if value is None or value == "":
                continue
            if not isinstance(value, list):
                return _err("invalid_blocks_format" if key == "blocks" else "invalid_attachments")
            errors = check(value)
            if errors:
                return _err(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )
            out[key] = value
        if not partial and not (out.get("text") or out.get("blocks") or out.get("attachments")):
            return _err("no_text")
        if partial and not out:
            return _err("no_text")
        return {"ok": True, **out}

    def _store_message(
        self,
        channel: str,
        content: Mapping[str, Any],
        *,
        thread_ts: str | None = None,
        user: str | None = None,
        bot_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> JSONDict:
        ts = self.new_ts()
        content = _as_stored(content)
        msg: JSONDict = {
            "type": "message",
            "ts": ts,
            "channel": channel,
            "user": user,
            "bot_id": bot_id,
            "text": content.get("text") or "",
            "blocks": list(content.get("blocks") or []),
            "attachments": list(content.get("attachments") or []),
            "thread_ts": thread_ts,
            "team": self.team_id,
            **(extra or {}),
        }
        with self._changed:
            if thread_ts:
                parent = self.find_message(channel, thread_ts)
                if parent is not None:
                    parent["thread_ts"] = parent["ts"]
                    parent["reply_count"] = parent.get("reply_count", 0) + 1
                    parent["latest_reply"] = ts
            self.messages[channel].append(msg)
            self._changed.notify_all()
        self._forward_message_event(msg)
        return msg


    public = staticmethod(public_message)

    def _chat_post_message(self, p: JSONDict) -> JSONDict:
        channel = self.known_channel(str(p.get("channel") or ""))
        if channel is None:
            return _err("channel_not_found")
        content = self._content(p)
        if not content["ok"]:
            return content
        if "metadata" in p and not _valid_metadata(p["metadata"]):
            return _err("invalid_metadata_format")
        extra: JSONDict = {k: p[k] for k in ("username", "icon_emoji", "icon_url", "metadata",
                                   "reply_broadcast") if k in p}
        msg = self._store_message(
            str(channel),
            content,
            thread_ts=p.get("thread_ts") or None,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            extra={"app_id": self.app_id, "params": dict(p), **extra},
        )
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": self.public(msg)}

    def _chat_update(self, p: JSONDict) -> JSONDict:
        channel, ts = p.get("channel"), p.get("ts")
        if not channel or str(channel) not in self.channel_names:  # an id, not a name
            return _err("channel_not_found")
        if not ts:
            return _err("message_not_found")
        msg = self.find_message(str(channel), str(ts))
        if msg is None:
            return _err("message_not_found")
        if msg.get("user") != self.bot_user_id:
            return _err("cant_update_message")
        content = self._content(p, partial=True)
        if not content["ok"]:
            return content
        previous = self.message_event(msg)
        content = _as_stored(content)
        # Slack keeps blocks/attachments that the update omits; [] removes them.
        for key in ("text", "blocks", "attachments"):
            if key in content:
                msg[key] = content[key]
        msg["edited"] = {"user": self.bot_user_id, "ts": self.new_ts()}
        self._changed.notify_all()
        # Subscribers hear of the edit as a hidden message_changed event, as from Slack.
        self._forward_event(self.changed_event(msg, previous))
        return {"ok": True, "channel": channel, "ts": ts, "text": msg["text"],
                "message": self.public(msg)}

    def _chat_delete(self, p: JSONDict) -> JSONDict:
        channel, ts = str(p.get("channel") or ""), str(p.get("ts") or "")
        msg = self.find_message(channel, ts)
        if msg is None:
            return _err("message_not_found")
        if msg.get("user") != self.bot_user_id:
            return _err("cant_delete_message")
        self.messages[channel].remove(msg)
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, p: JSONDict) -> JSONDict:
        if self.known_channel(str(p.get("channel") or "")) is None:
            return _err("channel_not_found")
        if not p.get("user"):
            return _missing("user")
        content = self._content(p)
        if not content["ok"]:
            return content
        ts = self.new_ts()
        self.ephemerals.append({
            "ts": ts, "channel": p["channel"], "user": p["user"],
            "text": content.get("text") or "", "blocks": content.get("blocks") or [],
            "attachments": content.get("attachments") or [],
            "thread_ts": p.get("thread_ts") or None, "source": "chat.postEphemeral",
        })
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, p: JSONDict) -> JSONDict:
        channel, ts = str(p.get("channel") or ""), str(p.get("message_ts") or "")
        if self.find_message(channel, ts) is None:
            return _err("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def add_message(
        self,
        channel: str,
        text: str = "",
        *,
        user: str | None = "U1",
        bot_id: str | None = None,
        username: str | None = None,
        attachments: list[JSONDict] | None = None,
        blocks: list[JSONDict] | None = None,
        thread_ts: str | None = None,
    ) -> JSONDict:
        """Store a message someone else posted and return its ``message`` event."""
        extra: JSONDict = {}
        if bot_id:
            extra = {"subtype": "bot_message", "username": username}
            user = None
        msg = self._store_message(
            channel, {"text": text, "blocks": blocks, "attachments": attachments},
            thread_ts=thread_ts, user=user, bot_id=bot_id, extra=extra,
        )
        return self.message_event(msg)

    def message_event(self, msg: Mapping[str, Any]) -> JSONDict:
        """The ``message`` event Slack sends for a stored message."""
        event = {k: v for k, v in msg.items() if v not in (None, []) and k != "params"}
        event.update({"type": "message", "channel_type": "channel", "event_ts": msg["ts"]})
        return event

    def changed_event(self, msg: Mapping[str, Any],
                      previous: Mapping[str, Any]) -> JSONDict:
        """The ``message_changed`` event Slack sends when ``msg`` was edited."""
        ts = self.new_ts()
        inner = {k: v for k, v in self.message_event(msg).items()
                 if k not in ("channel", "channel_type", "event_ts")}
        old = {k: v for k, v in previous.items()
               if k not in ("channel", "channel_type", "event_ts")}
        return {"type": "message", "subtype": "message_changed", "hidden": True,
                "channel": msg["channel"], "channel_type": "channel", "ts": ts,
                "event_ts": ts, "message": inner, "previous_message": old}

    def forward_events_to(self, target: str | None) -> None:
        """Send a ``message`` event for every stored channel message, like a real event
        subscription: ``"socket"`` for Socket Mode, a URL for HTTP mode, None to stop."""
        with self._lock:
            self._event_target = target

    def _forward_message_event(self, msg: Mapping[str, Any]) -> None:
        self._forward_event(self.message_event(msg))

    def _forward_event(self, event: JSONDict) -> None:
        target = self._event_target
        if target is None:
            return
        if target == "socket":
            threading.Thread(target=self.socket_send_event, args=(event,), daemon=True).start()
        else:
            threading.Thread(target=self.send_event, args=(target, event), daemon=True).start()
