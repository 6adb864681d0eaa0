"""Alertmanager's webhook (v4): authenticate, bound, validate, store, then say 200.

One path for both sources: the webhook and the messages Alertmanager posts in the alert
channels both end in :meth:`Intake.record`, one transaction with the incident, its event
and its messages, so a 2xx means the alert cannot be lost.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import SecretStr, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot.alerts.webhook import WebhookPayload, problems
from bot.alerts.writer import GroupCommitWriter
from bot.channels import Channels
from bot.store import IntakeItem, IntakeResult
from bot.store.intake import IntakeStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class Intake:
    def __init__(self, store: IntakeStore, channels: Channels, token: SecretStr | None,
                 max_bytes: int, after_commit: Callable[[], None] = lambda: None) -> None:
        self.channels = channels
        self.token = token
        self.max_bytes = max_bytes
        self.after_commit = after_commit
        self.writer = GroupCommitWriter(store)

    def authorized(self, header: str | None) -> bool:
        if self.token is None or not header:
            return False
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.get_secret_value().encode()
        )

    def receive(self, body: bytes, authorization: str | None) -> Answer:
        """The whole webhook contract, HTTP-free so it can be fuzzed directly."""
        if self.token is None:
            return Answer(503, {"error": "webhook disabled: set GENAI_WEBHOOK_TOKEN"})
        if not self.authorized(authorization):
            return Answer(401, {"error": "missing or wrong bearer token"})
        if len(body) > self.max_bytes:
            return Answer(413, {"error": f"body is {len(body)} bytes; the limit is "
                                         f"{self.max_bytes}"})
        try:
            raw = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return Answer(400, {"error": f"body is not JSON: {exc}"})
        try:
            payload = WebhookPayload.model_validate(raw)
        except ValidationError as exc:
            return Answer(400, {"error": "not an Alertmanager v4 payload",
                                "problems": problems(exc)})
        return self.record(raw, self.channels.for_alert(payload.commonLabels))

    def record(self, raw: dict[str, Any], channel: str, thread_ts: str | None = None) -> Answer:
        try:
            result = self.writer.write(IntakeItem(raw, channel, thread_ts))
        except SQLAlchemyError as exc:
            # Alertmanager retries a 5xx, so nothing is lost while the database is away.
            log.error("intake_store_failed", error=type(exc).__name__)
            return Answer(503, {"error": "database unavailable; retry"})
        self.after_commit()
        return Answer(200, _body(result))

    def close(self) -> None:
        self.writer.close()


def _body(result: IntakeResult) -> dict[str, Any]:
    return {"status": "duplicate" if result.duplicate else "stored",
            "incident": result.public_id, "incident_status": result.status.value}
