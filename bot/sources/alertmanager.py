"""Alertmanager's v2 API: silences for the Silence button, alerts for Game Day injection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from bot.errors import SourceError


def matchers_for(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Equality matchers for a group's labels: the silence covers exactly that group."""
    return [
        {"name": k, "value": v, "isRegex": False, "isEqual": True}
        for k, v in sorted(labels.items())
    ]


class AlertmanagerSource:
    name = "alertmanager"

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            resp = self._session.request(
                method, f"{self.url}{path}", timeout=self.timeout_s, **kwargs
            )
        except requests.Timeout:
            raise SourceError(self.name, f"timed out after {self.timeout_s:g}s") from None
        except requests.RequestException:
            raise SourceError(self.name, f"cannot connect to {self.url}") from None
        if resp.status_code >= 400:
            detail = " ".join(resp.text.split())[:200]
            raise SourceError(self.name, f"{method} {path}: HTTP {resp.status_code} {detail}")
        return resp

    def create_silence(
        self,
        matchers: Sequence[Mapping[str, Any]],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """`POST /api/v2/silences`; returns the new silence id."""
        if not matchers:
            raise SourceError(self.name, "refusing to create a silence without matchers")
        body = {
            "matchers": list(matchers),
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": created_by,
            "comment": comment,
        }
        data = self._call("POST", "/api/v2/silences", json=body).json()
        silence_id = data.get("silenceID") if isinstance(data, dict) else None
        if not isinstance(silence_id, str) or not silence_id:
            raise SourceError(self.name, "silence created but no silenceID in the answer")
        return silence_id

    def expire_silence(self, silence_id: str) -> None:
        """`DELETE /api/v2/silence/{id}`. An already expired silence counts as done."""
        try:
            self._call("DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")
        except SourceError as exc:
            if "HTTP 404" not in exc.reason:
                raise

    def silences(self) -> list[dict[str, Any]]:
        data = self._call("GET", "/api/v2/silences").json()
        return list(data) if isinstance(data, list) else []

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """`POST /api/v2/alerts` (Game Day drills inject through the real alert path)."""
        self._call("POST", "/api/v2/alerts", json=list(alerts))
