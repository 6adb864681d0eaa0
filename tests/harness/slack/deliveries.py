"""Signed HTTP deliveries to a bot in HTTP mode, and how its answer (the ack) is checked."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx

from .records import _USER_AGENT, VERIFICATION_TOKEN, Delivery, JSONDict, _ResponseTarget
from .state import SlackState
from .views import _view_ack_errors


def sign(body: str, timestamp: int, secret: str) -> str:
    """Slack's v0 request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{ts}:{body}``."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()



class Deliveries(SlackState):
    """POSTs signed with the signing secret, timed."""

    def _deliver(
        self,
        kind: str,
        url: str,
        body: str,
        content_type: str,
        payload: JSONDict,
        *,
        sign_with: str | None,
        timestamp: int | None,
        extra_headers: Mapping[str, str] | None = None,
        target: _ResponseTarget | None = None,
    ) -> httpx.Response:
        ts = int(time.time()) if timestamp is None else timestamp
        headers = {
            "Content-Type": content_type,
            "User-Agent": _USER_AGENT,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(body, ts, sign_with or self.signing_secret),
            **(extra_headers or {}),
        }
        delivery = Delivery(kind, url, body, headers, payload, time.time())
        with self._lock:
            self.deliveries.append(delivery)
        # One pooled client: a fresh httpx.post() builds an SSL context per call, and 50 of
        # those at once cost seconds of CPU that would be charged to the bot's ack time.
        response = self._deliverer.post(url, content=body.encode(), headers=headers,
                                        timeout=self.delivery_timeout)
        delivery.answered_at = time.time()
        delivery.status = response.status_code
        delivery.response_body = response.text
        if response.status_code == 200 and delivery.acked_in_time:
            if target is not None:
                delivery.errors = self._apply_ack_body(target, response.text)
            elif kind == "view_submission":
                delivery.errors = _view_ack_errors(response.text)
        with self._changed:
            self._changed.notify_all()
        return response

    def _apply_ack_body(self, target: _ResponseTarget, body: str) -> list[str]:
        """A slash command's ack body is shown like a response_url post; blocks are checked."""
        if not body.strip():
            return []
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"text": body}
        if not isinstance(payload, dict):
            return ["ack body is not a JSON object"]
        with self._lock:
            error = self._apply_response(target, payload)
        if error is None:
            return []
        return error[2] or [error[1]]

    def send_slash_command(
        self,
        request_url: str,
        text: str,
        user_id: str = "U1",
        channel_id: str = "C1",
        command: str = "/genai",
        *,
        sign_with: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST a signed slash command; the bot's HTTP answer is its ack."""
        fields = self.slash_command_payload(text, user_id, channel_id, command)
        rid = fields["response_url"].rsplit("/", 1)[1]
        return self._deliver(
            "slash_commands", request_url, urlencode(fields),
            "application/x-www-form-urlencoded", dict(fields),
            sign_with=sign_with, timestamp=timestamp, target=self._targets[rid],
        )

    def send_block_action(
        self,
        request_url: str,
        action_id: str,
        value: str | None = None,
        user_id: str = "U1",
        channel_id: str = "C1",
        message_ts: str | None = None,
        response_url: str | None = None,
        trigger_id: str | None = None,
        *,
        strict: bool = True,
        sign_with: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST a signed ``block_actions`` interaction (form field ``payload``)."""
        payload = self.block_action_payload(action_id, value, user_id, channel_id, message_ts,
                                            response_url, trigger_id, strict=strict)
        body = urlencode({"payload": json.dumps(payload)})
        return self._deliver("block_actions", request_url, body,
                             "application/x-www-form-urlencoded", payload,
                             sign_with=sign_with, timestamp=timestamp)

    def send_view_submission(
        self,
        request_url: str,
        callback_id: str,
        values: JSONDict,
        user_id: str = "U1",
        private_metadata: str = "",
        *,
        view_id: str | None = None,
        sign_with: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST a signed ``view_submission``; the answer may carry a ``response_action``."""
        payload = self.view_submission_payload(callback_id, values, user_id, private_metadata,
                                               view_id)
        body = urlencode({"payload": json.dumps(payload)})
        return self._deliver("view_submission", request_url, body,
                             "application/x-www-form-urlencoded", payload,
                             sign_with=sign_with, timestamp=timestamp)

    def send_event(
        self,
        request_url: str,
        event: JSONDict,
        event_id: str | None = None,
        retry_num: int | None = None,
        *,
        sign_with: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST a signed Events API callback; ``retry_num`` marks it as Slack's retry."""
        envelope = self.event_envelope(event, event_id)
        extra = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self._deliver("events_api", request_url, json.dumps(envelope),
                             "application/json", envelope, sign_with=sign_with,
                             timestamp=timestamp, extra_headers=extra)

    def send_url_verification(self, request_url: str) -> httpx.Response:
        """The one-off ``url_verification`` handshake Slack does when a URL is saved."""
        payload = {"token": VERIFICATION_TOKEN, "challenge": secrets.token_hex(16),
                   "type": "url_verification"}
        return self._deliver("url_verification", request_url, json.dumps(payload),
                             "application/json", payload, sign_with=None, timestamp=None)
