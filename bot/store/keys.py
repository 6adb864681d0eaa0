"""Identities: incident public ids, the hash of a group, and what makes two notifications
the same (retries and HA peers collide on it)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from typing import Any

_ALERT_KEYS = ("status", "labels", "annotations", "startsAt", "endsAt", "fingerprint")


def group_hash(group_key: str) -> str:
    """sha256 of a groupKey: the unique index is on this, since a groupKey has no length
    bound and PostgreSQL refuses btree entries above ~2.7 kB."""
    return hashlib.sha256(group_key.encode("utf-8")).hexdigest()


def notification_hash(payload: Mapping[str, Any]) -> str:
    """sha256 of what makes two notifications "the same".

    ``externalURL`` and each alert's ``generatorURL`` are left out: HA peers may differ there
    while sending the same notification. Alerts are sorted by fingerprint.
    """
    alerts = [
        {k: a.get(k) for k in _ALERT_KEYS}
        for a in payload.get("alerts") or []
        if isinstance(a, Mapping)
    ]
    alerts.sort(key=lambda a: (str(a.get("fingerprint")), canonical(a)))
    canon = {
        "groupKey": payload.get("groupKey"),
        "status": payload.get("status"),
        "receiver": payload.get("receiver"),
        "groupLabels": payload.get("groupLabels"),
        "commonLabels": payload.get("commonLabels"),
        "commonAnnotations": payload.get("commonAnnotations"),
        "truncatedAlerts": payload.get("truncatedAlerts"),
        "alerts": alerts,
    }
    return hashlib.sha256(canonical(canon).encode("utf-8")).hexdigest()


def new_public_id() -> str:
    """10 random lowercase base32 characters (50 bits): what a button carries."""
    return base64.b32encode(secrets.token_bytes(10)).decode("ascii")[:10].lower()


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
