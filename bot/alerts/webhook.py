"""Alertmanager's webhook body (version 4), validated at the door."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


def problems(exc: ValidationError, limit: int = 5) -> list[str]:
    """Each problem as ``field.path: message``, at most ``limit`` of them."""
    out = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        out.append(f"{where}: {err['msg']}")
    if exc.error_count() > limit:
        out.append(f"… and {exc.error_count() - limit} more")
    return out
