"""Web API answer helpers: Slack's error shapes, its truthy flags, its ids."""

from __future__ import annotations

import secrets
from typing import Any

from .records import JSONDict


def _err(error: str, **extra: Any) -> JSONDict:
    return {"ok": False, "error": error, **extra}


def _missing(name: str) -> JSONDict:
    """Slack's answer for a missing required argument on newer methods."""
    return _err(
        "invalid_arguments",
        response_metadata={"messages": [f"[ERROR] missing required field: {name}"]},
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _valid_metadata(value: Any) -> bool:
    """Slack message metadata: ``{"event_type": str, "event_payload": object}``."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("event_type"), str)
        and bool(value["event_type"])
        and isinstance(value.get("event_payload"), dict)
    )


def _rand_id(prefix: str, n: int = 10) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))
