"""Why a Slack call failed, and what to do about it: the one place that decides retries
(as Alertmanager's ``notify/slack`` does in ``retry.Check``).

- 429: rate limited, retried at Retry-After without counting an attempt;
- 5xx, timeouts, connection errors and unknown errors: transient, counted, backed off;
- :data:`PERMANENT_ERRORS`: no retry can fix them, the row is given up at once, except that
  rejected content (:data:`TEXT_FALLBACK_ERRORS`) is first retried as plain text.
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from slack_sdk.errors import SlackApiError

# Slack errors that no retry can fix: the row is dead at once.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed",
    "account_inactive", "token_revoked", "token_expired", "no_permission", "missing_scope",
    "not_allowed_token_type", "ekm_access_denied", "team_access_not_granted",
    "msg_too_long", "no_text", "invalid_blocks", "invalid_blocks_format",
    "invalid_attachments", "too_many_attachments", "invalid_metadata_format",
    "invalid_metadata_schema", "metadata_too_large", "invalid_arguments", "invalid_arg_name",
    "invalid_charset", "message_not_found", "cant_update_message", "edit_window_closed",
    "restricted_action", "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel", "restricted_action_non_threadable_channel",
    "cannot_reply_to_message", "message_limit_exceeded", "as_user_not_supported",
})
# Rejected content: retried once with the text fallback alone.
TEXT_FALLBACK_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format",
                                  "invalid_attachments", "too_many_attachments"})

class FailureKind(Enum):
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Failure:
    """A classified failed Slack call."""

    kind: FailureKind
    code: str  # Slack's error code, or the exception type
    error: str  # what is kept in the row's last_error
    retry_after: float = 0.0


def classify(exc: BaseException, method: str) -> Failure:
    """429 → rate limited (with Retry-After); 5xx, timeouts, connection errors and unknown
    errors → transient (counted, backed off); :data:`PERMANENT_ERRORS` → permanent."""
    if isinstance(exc, SlackApiError):
        resp = exc.response
        status = int(getattr(resp, "status_code", 0) or 0)
        code = str(resp.get("error") or "unknown_error") if resp is not None else "unknown_error"
        text = f"{method}: {code} (HTTP {status})"
        details = (resp.get("response_metadata") or {}).get("messages") if resp else None
        if isinstance(details, list) and details:
            text += ": " + "; ".join(str(d) for d in details[:5])
        if status == 429 or code == "ratelimited":
            return Failure(FailureKind.RATE_LIMITED, "ratelimited", text, retry_after(resp))
        if status >= 500 or code not in PERMANENT_ERRORS:
            return Failure(FailureKind.TRANSIENT, code, text)
        return Failure(FailureKind.PERMANENT, code, text)
    name = type(exc).__name__
    if isinstance(exc, OSError | http.client.HTTPException):  # URLError, timeouts, resets
        return Failure(FailureKind.TRANSIENT, name, f"{method}: connection error: {name}: {exc}")
    return Failure(FailureKind.TRANSIENT, name, f"{method}: {name}: {exc}")


def retry_after(resp: Any) -> float:
    """Seconds from the Retry-After header (1 s if absent or unreadable)."""
    headers: Mapping[str, Any] = getattr(resp, "headers", None) or {}
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return min(max(float(raw), 0.0), 3600.0)
            except (TypeError, ValueError):
                break
    return 1.0
