"""response_url and incoming webhooks: posts that act on a channel without a token."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from typing import Any

import httpx

from .answers import _err, _rand_id, _truthy
from .records import RESPONSE_URL_MAX_USES, Call, JSONDict, _ResponseTarget
from .state import SlackState


class Responses(SlackState):
    """What a response_url post (or an ack body) and a webhook post do."""

    def new_response_url(
        self,
        channel_id: str | None = None,
        user_id: str | None = None,
        message_ts: str | None = None,
    ) -> str:
        """A response_url bound to the interaction's channel, user and (for buttons) message."""
        rid = secrets.token_hex(12)
        with self._lock:
            self._targets[rid] = _ResponseTarget(rid, channel_id, user_id, message_ts)
        return f"{self.base_url}/response/{rid}"

    def _handle_response_url(self, rid: str, raw: bytes) -> tuple[int, str]:
        """Slack answers ``ok`` (200) or a short error word with a 4xx status."""
        payload: Any = None
        with contextlib.suppress(ValueError):
            payload = json.loads(raw or b"null")
        injected = self._injected("response_url", {})
        if injected is not None:
            status, body, _ = injected
            return self._record_response(rid, payload, status, str(body["error"]))
        with self._lock:
            target = self._targets.get(rid)
            if target is None:
                return self._record_response(rid, payload, 404, "invalid_url")
            if not isinstance(payload, dict):
                return self._record_response(rid, payload, 400, "invalid_payload")
            if target.uses >= RESPONSE_URL_MAX_USES:
                return self._record_response(rid, payload, 404, "used_url")
            target.uses += 1
            error = self._apply_response(target, payload)
            if error is not None:
                status, word, errors = error
                return self._record_response(rid, payload, status, word, errors)
        return self._record_response(rid, payload, 200, "ok")

    def _record_response(
        self, rid: str, payload: Any, status: int, answer: str, errors: list[str] | None = None
    ) -> tuple[int, str]:
        at = time.time()
        entry = {"id": rid, "payload": payload, "at": at, "status": status, "answer": answer,
                 "errors": errors or []}
        params = payload if isinstance(payload, dict) else {"raw": payload}
        with self._changed:
            self.responses.append(entry)
        response = {"ok": status == 200} if status == 200 else _err(answer, errors=errors or [])
        self._record(Call("response_url", {"response_url_id": rid, **params}, response, at,
                          status))
        return status, answer

    def _original(self, target: _ResponseTarget) -> tuple[JSONDict | None, list[JSONDict]]:
        """The message a response_url acts on (channel or ephemeral) and the list holding it."""
        if not (target.channel_id and target.message_ts):
            return None, []
        for pool in (self.messages.get(target.channel_id, []), self.ephemerals):
            for msg in pool:
                if msg["ts"] == target.message_ts and msg.get("channel") == target.channel_id:
                    return msg, pool
        return None, []

    def _apply_response(
        self, target: _ResponseTarget, payload: JSONDict
    ) -> tuple[int, str, list[str]] | None:
        """Apply a response_url post (or an ack body) to the store as Slack would show it."""
        original, container = self._original(target)
        if _truthy(payload.get("delete_original")):
            if original is not None:
                container.remove(original)
            return None
        content = self._content(payload)
        if not content["ok"]:
            error = str(content["error"])
            return 400, error, list(content.get("errors", []))
        if _truthy(payload.get("replace_original")) and original is not None:
            for key in ("text", "blocks", "attachments"):
                original[key] = content.get(key) or ([] if key != "text" else "")
            original["edited"] = {"user": self.bot_user_id, "ts": self.new_ts()}
            return None
        if payload.get("response_type") == "in_channel" and target.channel_id:
            self._store_message(
                target.channel_id, content, thread_ts=payload.get("thread_ts") or None,
                user=self.bot_user_id, bot_id=self.bot_id, extra={"app_id": self.app_id},
            )
            return None
        self.ephemerals.append({
            "ts": self.new_ts(), "channel": target.channel_id, "user": target.user_id,
            "text": content.get("text") or "", "blocks": content.get("blocks") or [],
            "attachments": content.get("attachments") or [],
            "thread_ts": payload.get("thread_ts") or None, "source": "response_url",
        })
        return None

    def new_incoming_webhook(self, channel: str) -> str:
        """An incoming-webhook URL posting into ``channel`` (what Alertmanager's api_url is);
        the channel must exist, as when a webhook is created in Slack."""
        self.channel_id(channel)
        path = f"{self.team_id}/{_rand_id('B')}/{secrets.token_hex(12)}"
        with self._lock:
            self._webhooks[path] = channel
        return f"{self.base_url}/services/{path}"

    def post_to_webhook(self, url: str, payload: Any) -> int:
        """POST ``payload`` to an incoming webhook as a sender holding its URL would; the
        HTTP status."""
        return httpx.post(url, json=payload, timeout=10).status_code

    def _handle_webhook(self, path: str, raw: bytes) -> tuple[int, str]:
        payload: Any = None
        with contextlib.suppress(ValueError):
            payload = json.loads(raw or b"null")
        with self._lock:
            channel = self._webhooks.get(path)
            status, answer, response = 200, "ok", {"ok": True}
            if channel is None:
                status, answer = 404, "no_service"
            elif not isinstance(payload, dict):
                status, answer = 400, "invalid_payload"
            else:
                content = self._content(payload)
                if not content["ok"]:
                    status, answer = 400, str(content["error"])
                else:
                    self._store_message(
                        self.channel_id(channel), content, bot_id=f"B{path.split('/')[1][1:]}",
                        extra={"subtype": "bot_message",
                               "username": payload.get("username") or "incoming-webhook"},
                    )
            if status != 200:
                response = _err(answer)
        params = payload if isinstance(payload, dict) else {"raw": payload}
        self._record(Call("incoming_webhook", {"channel": channel, **params}, response,
                          time.time(), status))
        return status, answer
