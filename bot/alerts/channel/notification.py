"""A channel post, as the webhook payload (version 4) Alertmanager would have sent, so the
intake records it like any other notification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.alerts.channel.post import RECEIVER_LINK, ChannelAlert

ZERO_TIME = "0001-01-01T00:00:00Z"


def _digest(parts: Iterable[Any], length: int) -> str:
    raw = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def group_labels_of(alert: ChannelAlert) -> dict[str, str]:
    """The recovered group labels (alertname always included)."""
    out = {k: alert.labels[k] for k in alert.group_keys if k in alert.labels}
    if "alertname" not in out:
        out = {"alertname": alert.alertname, **out}
    return out


def group_key(alert: ChannelAlert, *, team: str = "") -> str:
    """Stable per channel and alert group: the FIRING and the RESOLVED post of one group
    (same channel, alertname and group label values) give the same key."""
    groups = sorted(group_labels_of(alert).items())
    digest = _digest([team, alert.channel, alert.alertname, groups], 24)
    return f"slack:{alert.channel}:{alert.alertname[:64]}:{digest}"


def fingerprint(alert: ChannelAlert, *, team: str = "") -> str:
    """16 hex digits like Alertmanager's, from channel and every recovered label."""
    return _digest([team, alert.channel, sorted(alert.labels.items())], 16)


def ts_to_rfc3339(ts: str) -> str:
    """Slack's `1700000000.000100` as `2023-11-14T22:13:20.0001Z` (UTC)."""
    seconds, _, fraction = ts.partition(".")
    try:
        moment = datetime.fromtimestamp(int(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return ZERO_TIME
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = fraction.rstrip("0")
    return f"{base}.{fraction}Z" if fraction.isdigit() else f"{base}Z"


def external_url(title_link: str | None) -> str:
    """Alertmanager's external URL: `title_link` before `/#/alerts?receiver=`, else its
    origin; "" when there is no usable http(s) link."""
    if not title_link:
        return ""
    if RECEIVER_LINK in title_link:
        base = title_link.split(RECEIVER_LINK, 1)[0]
        if base.startswith(("http://", "https://")):
            return base
    try:
        parts = urlsplit(title_link)
    except ValueError:
        return ""
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return ""


def to_notification(alert: ChannelAlert, *, team: str = "") -> dict[str, Any]:
    """An Alertmanager webhook (version 4) payload for the post, so the intake and store can
    record it like a webhook: one synthesized alert carrying everything recovered.

    `team` is the Slack workspace id; channel ids are unique only within one workspace, so
    it is folded into `groupKey` and `fingerprint` when given.
    """
    started = ts_to_rfc3339(alert.ts)
    annotations = {"summary": alert.title, "description": alert.text}
    labels = dict(alert.labels)
    labels.setdefault("alertname", alert.alertname)
    return {
        "version": "4",
        "groupKey": group_key(alert, team=team),
        "truncatedAlerts": 0,
        "status": alert.status,
        "receiver": f"slack:{alert.channel}",
        "groupLabels": group_labels_of(alert),
        "commonLabels": dict(labels),
        "commonAnnotations": dict(annotations),
        "externalURL": external_url(alert.title_link),
        "alerts": [
            {
                "status": alert.status,
                "labels": labels,
                "annotations": annotations,
                "startsAt": started,
                "endsAt": ZERO_TIME if alert.status == "firing" else started,
                "generatorURL": "",
                "fingerprint": fingerprint(alert, team=team),
            }
        ],
    }
