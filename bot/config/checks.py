"""The small checks the settings share: lists from text, JSON, URLs, ids. Each failure is a
ValueError that validation reports as one problem line, never echoing a secret."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

SENDER_ID = re.compile(r"[AB][A-Z0-9]{2,31}")
ROLE_ID = re.compile(r"[UWS][A-Z0-9]+")
DURATION = re.compile(r"\d{1,3}[mhd]")


def shown(item: object) -> str:
    """An offending (non-secret) value, quoted and cut short so one bad line stays one line."""
    text = repr(item)
    return text if len(text) <= 40 else text[:37] + "..."


def refuse(bad: list[str], one: str, many: str) -> None:
    if len(bad) == 1:
        raise ValueError(f"{shown(bad[0])} {one}")
    if bad:
        raise ValueError(f"{', '.join(shown(b) for b in bad)} {many}")


def text_list(value: Any) -> Any:
    """The environment only holds text: take a JSON list, or comma-separated items.

    The list fields are marked NoDecode, so pydantic-settings hands us the raw text instead of
    failing with a traceback when it is not JSON. YAML lists pass through untouched.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return loads(text, "write a JSON list or comma-separated items")
    return [item.strip() for item in text.split(",") if item.strip()]


def json_value(value: Any, shape: str) -> Any:
    """Lists of objects have no plain-text form: text must be JSON, reported when it is not."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return []
    return loads(value, shape)


def loads(text: str, hint: str) -> Any:
    """json.loads whose failures are ValueErrors, which validation reports as problems."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg and exc.pos only: the JSON text itself is not echoed back.
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos}); {hint}") from None
    except RecursionError:  # "[[[[…" thousands deep; not a ValueError, so it would escape
        raise ValueError(f"not valid JSON (nested too deeply); {hint}") from None


def http_url(value: str, example: str) -> str:
    text = value.strip()
    try:
        parts = urlsplit(text)
        ok = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and (parts.port is None or parts.port > 0)  # .port raises on a non-numeric port
            and not any(c.isspace() for c in text)
        )
    except ValueError:
        ok = False
    if not ok:
        # The URL is not repeated: it may carry user:password.
        raise ValueError(f"must be an http(s) URL with a host, like {example}")
    return text


def optional_http_url(value: str | None, example: str) -> str | None:
    # An empty ConfigMap value means "not set", as it did before URLs were checked.
    if value is None or not value.strip():
        return None
    return http_url(value, example)
