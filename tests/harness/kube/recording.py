"""What the stand-in records per request (`KubeRequest`) and keeps per fault, delay, log line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .resources import ResourceType


@dataclass(slots=True)
class KubeRequest:
    """One request as RBAC sees it (`verb`, `api_group`, `resource`, `subresource`).

    `resource` is "" for non-resource URLs such as `/version`. `status` is filled in when the
    answer is sent (it stays None while a delayed request is waiting).
    """

    method: str
    path: str
    query: dict[str, str]
    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    status: int | None = None

    @property
    def rbac_resource(self) -> str:
        """`pods/log` style, as written in a Role's `resources:`."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(slots=True)
class _Fault:
    pattern: re.Pattern[str]
    status: int
    remaining: int | None
    message: str | None
    retry_after: float | None
    method: str | None


@dataclass(slots=True)
class _Delay:
    pattern: re.Pattern[str]
    seconds: float


@dataclass(slots=True)
class _LogEntry:
    at: datetime
    line: str


@dataclass(slots=True)
class _Route:
    """What a URL addresses, parsed like the API server's RequestInfoFactory."""

    request: KubeRequest
    rtype: ResourceType | None = None
    is_resource: bool = True
    known_group_version: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
