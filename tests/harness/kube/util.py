"""Small helpers: API-server timestamps, stable digests, Go's ParseBool."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime


def _now() -> datetime:
    return datetime.now(UTC)


def ts(when: datetime | None = None) -> str:
    """RFC 3339 seconds, as the API server writes `metav1.Time`."""
    return (when or _now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_ts(when: datetime | None = None) -> str:
    """RFC 3339 microseconds, as the API server writes `metav1.MicroTime` (`eventTime`)."""
    return (when or _now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hexdigest(*parts: object, n: int = 16) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()[:n]


def _parse_bool(value: str | None) -> bool:
    """Go's strconv.ParseBool, which the API server uses for query flags."""
    return (value or "").strip() in {"1", "t", "T", "true", "TRUE", "True"}
