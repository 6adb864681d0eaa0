"""Alertmanager's webhook (v4): authenticate, bound, validate, store — then say 200.

One path for both sources: the webhook and the messages Alertmanager posts in the alert
channels both end in `Intake.record()`, one transaction with the incident, its event and
the outbox rows, so a 2xx means the alert cannot be lost.
"""

from __future__ import annotations

import hmac
import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from bot.config import Settings
from bot.store import IntakeItem, IntakeResult, Store

log = structlog.get_logger(__name__)

LabelMap = dict[str, str]


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: LabelMap
    annotations: LabelMap = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class WebhookPayload(BaseModel):
    """Alertmanager webhook payload, version 4."""

    model_config = ConfigDict(extra="allow")

    version: Literal["4"]
    groupKey: str = Field(min_length=1, max_length=16_384)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: str
    groupLabels: LabelMap
    commonLabels: LabelMap
    commonAnnotations: LabelMap
    externalURL: str
    alerts: list[WebhookAlert] = Field(min_length=1)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def _problems(exc: ValidationError, limit: int = 5) -> list[str]:
    out = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        out.append(f"{where}: {err['msg']}")
    if exc.error_count() > limit:
        out.append(f"… and {exc.error_count() - limit} more")
    return out


class Intake:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        after_commit: Callable[[IntakeResult], None] = lambda _: None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.after_commit = after_commit
        # Channel name -> id, filled at start-up from Slack: chat.update and the history
        # lookups accept only ids, so every row carries the id where it is known.
        self.channel_ids: dict[str, str] = {}
        self.writer = GroupCommitWriter(store)

    def channel_for(self, labels: LabelMap) -> str:
        """Drills go to the drill channel only; real alerts by severity, as the guide routes
        them (critical, warning, everything else to the default channel)."""
        ch = self.settings.channels
        if labels.get("gameday") == "true":
            name = ch.gameday
        else:
            name = {"critical": ch.critical, "warning": ch.warning}.get(
                labels.get("severity", ""), ch.default
            )
        return self.channel_ids.get(name, name)

    def authorized(self, header: str | None) -> bool:
        token = self.settings.webhook_token
        if token is None or not header:
            return False
        scheme, _, value = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), token.get_secret_value().encode()
        )

    def receive(self, body: bytes, authorization: str | None) -> Answer:
        """The whole webhook contract, HTTP-free so it can be fuzzed directly."""
        if self.settings.webhook_token is None:
            return Answer(503, {"error": "webhook disabled: set GENAI_WEBHOOK_TOKEN"})
        if not self.authorized(authorization):
            return Answer(401, {"error": "missing or wrong bearer token"})
        limit = self.settings.alerts.webhook_max_bytes
        if len(body) > limit:
            return Answer(413, {"error": f"body is {len(body)} bytes; the limit is {limit}"})
        try:
            raw = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return Answer(400, {"error": f"body is not JSON: {exc}"})
        try:
            payload = WebhookPayload.model_validate(raw)
        except ValidationError as exc:
            return Answer(400, {"error": "not an Alertmanager v4 payload",
                                "problems": _problems(exc)})
        return self.record(raw, self.channel_for(payload.commonLabels))

    def record(self, raw: dict[str, Any], channel: str, thread_ts: str | None = None) -> Answer:
        try:
            result = self.writer.write(IntakeItem(raw, channel, thread_ts, intro="runbook"))
        except SQLAlchemyError as exc:
            # Alertmanager retries a 5xx, so nothing is lost while the database is away.
            log.error("intake_store_failed", error=type(exc).__name__)
            return Answer(503, {"error": "database unavailable; retry"})
        self.after_commit(result)
        return Answer(200, {
            "status": "duplicate" if result.duplicate else "stored",
            "incident": result.public_id,
            "incident_status": result.status,
        })

    def close(self) -> None:
        self.writer.close()


class _Pending:
    def __init__(self, item: IntakeItem) -> None:
        self.item = item
        self.done = threading.Event()
        self.result: IntakeResult | None = None
        self.error: BaseException | None = None


class GroupCommitWriter:
    """One writer thread commits whatever notifications are waiting, together.

    Under a storm each commit (one fsync) carries a batch, not one notification; when
    alerts trickle in, a batch is one item and nothing waits. Every caller still returns
    only after its own rows are committed.
    """

    def __init__(self, store: Store, max_batch: int = 128) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
        self._thread.start()

    def write(self, item: IntakeItem, timeout: float = 30.0) -> IntakeResult:
        pending = _Pending(item)
        self._queue.put(pending)
        if not pending.done.wait(timeout):
            raise OperationalError("intake", {}, TimeoutError("intake writer is stuck"))
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            results = self.store.record_batch([p.item for p in batch],
                                              outbox_payload_builder=payload_builder)
        except BaseException as exc:  # the whole transaction failed: every caller hears it
            for p in batch:
                p.error = exc
                p.done.set()
            return
        for p, result in zip(batch, results, strict=True):
            try:
                p.result = result if isinstance(result, IntakeResult) else self._retry(p.item)
            except BaseException as exc:
                p.error = exc
            p.done.set()

    def _retry(self, item: IntakeItem, attempts: int = 4) -> IntakeResult:
        """An item that lost a race with another replica: alone, the winner is now seen."""
        for _ in range(attempts - 1):
            result = self.store.record_batch([item], payload_builder)[0]
            if isinstance(result, IntakeResult):
                return result
        result = self.store.record_batch([item], payload_builder)[0]
        if isinstance(result, IntakeResult):
            return result
        raise result


def payload_builder(incident: Any, kind: str) -> dict[str, Any]:
    """Outbox rows carry only what to send; the message is rendered from the current
    incident at send time, so a late update never shows stale state."""
    note = "resolved" if kind == "thread_reply" and incident.status == "resolved" else None
    return {"incident": incident.public_id, "kind": kind, "note": note}
