"""Alertmanager silences for an incident: which labels, for how long."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.store import Incident

_DURATION = re.compile(r"^(\d{1,3})([mhd])$")
_GROUP_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNQUOTE = re.compile(r"\\(.)")


def parse_duration(text: str) -> timedelta:
    """``30m``, ``4h``, ``7d``; ValueError for anything else (or zero)."""
    m = _DURATION.match(text)
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"bad duration {text!r}")
    n, unit = int(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]


def group_labels(incident: Incident) -> dict[str, str]:
    """The group's labels, read from Alertmanager's groupKey (``<route>:{a="b", …}``): a
    silence on them covers the whole group, as an on-call engineer expects. Falls back to
    the incident's common labels when the key has another shape (channel-sourced alerts)."""
    key = incident.group_key
    start = key.rfind(":{")
    if start >= 0 and key.endswith("}"):
        pairs = _GROUP_LABEL.findall(key[start + 2 : -1])
        if pairs:
            return {k: _UNQUOTE.sub(r"\1", v) for k, v in pairs}
    return {k: str(v) for k, v in incident.labels.items()}
