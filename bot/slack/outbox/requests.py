"""One outbox row as one Slack call: which method, which fields, where (the thread), and how
to find it again if it may have been sent already.

Every ``chat.postMessage`` carries message metadata ``{"event_type": "genai_outbox",
"event_payload": {"key": <dedupe_key>}}``, so a post whose fate is unknown (its worker died,
or a 5xx followed a post Slack had taken) is looked up by that key
(``conversations.history``, or ``conversations.replies`` in a thread) and adopted rather
than posted twice. ``chat.update`` is idempotent and needs no lookup.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.store import OutboxRow
from bot.store.states import Delivery

log = structlog.get_logger(__name__)

METADATA_EVENT_TYPE = "genai_outbox"
LOOKBACK = timedelta(minutes=1)  # look for an earlier post from created_at minus this
LOOKUP_PAGE_SIZE = 200
LOOKUP_MAX_PAGES = 25
FALLBACK_TEXT_MAX = 3000
POST = "chat.postMessage"
UPDATE = "chat.update"
_RESERVED = ("channel", "ts", "thread_ts", "metadata")


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



class NoTarget(ValueError):
    """The row cannot be delivered at all (nothing to update or reply to)."""


@dataclass(frozen=True)
class SlackRequest:
    method: str
    kwargs: dict[str, Any]
    thread_ts: str | None  # where a post goes (for the lookup)
    fallback: str

    def text_only(self) -> SlackRequest:
        """The same call with the plain-text fallback only (Slack refused the blocks)."""
        keep = {k: v for k, v in self.kwargs.items() if k in _RESERVED}
        keep["text"] = self.fallback
        if self.method == UPDATE:  # an update keeps omitted blocks: clear them
            keep["blocks"] = []
            keep["attachments"] = []
        return SlackRequest(self.method, keep, self.thread_ts, self.fallback)


def build_request(row: OutboxRow, rendered: Mapping[str, Any],
                  edit_ts: str | None = None) -> SlackRequest:
    """The Slack call for ``row``. A post for an incident anchored in an existing thread
    goes into that thread; an update edits the incident's message, or ``edit_ts`` for a
    message that belongs to no incident. Raises :class:`NoTarget`."""
    fields = {k: v for k, v in rendered.items() if k not in _RESERVED}
    fallback = fallback_text(rendered)
    kwargs: dict[str, Any] = {"channel": row.channel}
    if row.kind is Delivery.UPDATE:
        ts = row.slack_ts or edit_ts
        if not ts:
            raise NoTarget("update without a message to edit")
        kwargs["ts"] = str(ts)
        kwargs.update(fields)
        return SlackRequest(UPDATE, kwargs, None, fallback)
    if row.kind is Delivery.POST:
        anchored = row.thread_ts is not None and row.thread_ts != row.slack_ts
        thread = row.thread_ts if anchored else None
    else:
        thread = row.thread_ts
        if not thread:
            raise NoTarget("thread_reply without a thread to reply to")
    if thread:
        kwargs["thread_ts"] = str(thread)
    kwargs.update(fields)
    kwargs["metadata"] = {"event_type": METADATA_EVENT_TYPE,
                          "event_payload": {"key": row.dedupe_key}}
    return SlackRequest(POST, kwargs, kwargs.get("thread_ts"), fallback)


def send(client: WebClient, request: SlackRequest) -> str:
    """Make the call; Slack's ts of the message."""
    if request.method == UPDATE:
        resp = client.chat_update(**request.kwargs)
        return str(resp.get("ts") or request.kwargs["ts"])
    resp = client.chat_postMessage(**request.kwargs)
    ts = resp.get("ts")
    if not isinstance(ts, str) or not ts:
        raise ValueError("chat.postMessage answered ok without a ts")
    return ts


def find_sent(client: WebClient, row: OutboxRow, request: SlackRequest,
              now: datetime) -> str | None:
    """The ts of an earlier post of this row, found by its metadata, or None."""
    since = (row.created_at or now) - LOOKBACK
    args: dict[str, Any] = {"channel": row.channel, "oldest": f"{since.timestamp():.6f}",
                            "include_all_metadata": True, "limit": LOOKUP_PAGE_SIZE}
    cursor: str | None = None
    for _ in range(LOOKUP_MAX_PAGES):
        if cursor:
            args["cursor"] = cursor
        try:
            if request.thread_ts:
                page = client.conversations_replies(ts=request.thread_ts, **args)
            else:
                page = client.conversations_history(**args)
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
    # Not among that many messages since it was queued: posting again risks a duplicate,
    # never posting would lose the alert.
    log.warning("outbox.lookup_truncated", outbox_id=row.id, pages=LOOKUP_MAX_PAGES)
    return None
