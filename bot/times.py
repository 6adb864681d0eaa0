"""Time, one way everywhere: aware UTC datetimes, Alertmanager's timestamps, durations in
words."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

_GO_ZERO_YEAR = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A naive datetime is taken as UTC; an aware one is converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_time(value: Any) -> datetime | None:
    """An Alertmanager RFC 3339 timestamp as aware UTC; None for Go's zero time
    (``0001-01-01T00:00:00Z``, a firing alert's ``endsAt``) or garbage."""
    if isinstance(value, datetime):
        return None if value.year <= _GO_ZERO_YEAR else as_utc(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Go prints up to nine fractional digits; Python takes at most six.
    dot = text.find(".")
    if dot >= 0:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        digits = text[dot + 1 : end][:6]
        text = text[:dot] + ("." + digits.ljust(6, "0") if digits else "") + text[end:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return None if parsed.year <= _GO_ZERO_YEAR else as_utc(parsed)


def humanize_duration(seconds: float) -> str:
    """``45 s``, ``3 m``, ``2 h 5 m``, ``1 d 3 h`` (two units at most, rounded down)."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes, _ = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} m" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def clock(at: datetime, now: datetime | None = None) -> str:
    """``14:00 UTC``, with the date when it is not ``now``'s day."""
    at = as_utc(at)
    hhmm = f"{at:%H:%M} UTC"
    if now is not None and as_utc(now).date() == at.date():
        return hhmm
    return f"{at:%b} {at.day} {hhmm}"


class RunningClock:
    """Wall time that starts at ``now`` (default: the real time) and advances with the
    monotonic clock: a test can set the start, and a jump of the system clock cannot
    move it backwards."""

    def __init__(self, now: datetime | None = None) -> None:
        self.wall = as_utc(now) if now is not None else utcnow()
        self.mono = time.monotonic()

    def now(self) -> datetime:
        return self.wall + timedelta(seconds=time.monotonic() - self.mono)
