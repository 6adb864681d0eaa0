"""Alertmanager's v2 API: silences (the Silence button, ``/genai silences``), alerts for Game
Day injection."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot.errors import Forbidden, NotFound, SourceError, Timeout, Unavailable


def matchers_for(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Equality matchers for a group's labels: the silence covers exactly that group."""
    return [
        {"name": k, "value": v, "isRegex": False, "isEqual": True}
        for k, v in sorted(labels.items())
    ]


class Matcher(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    value: str
    is_regex: bool = Field(alias="isRegex")
    # Absent before Alertmanager 0.22, which had no negative matchers.
    is_equal: bool = Field(default=True, alias="isEqual")

    @property
    def operator(self) -> str:
        return ("=" if self.is_equal else "!=") if not self.is_regex else (
            "=~" if self.is_equal else "!~")

    def __str__(self) -> str:
        return f"{self.name}{self.operator}{self.value}"

    def wire(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex,
                "isEqual": self.is_equal}


class SilenceStatus(BaseModel):
    state: str  # active | pending | expired


class Silence(BaseModel):
    """One silence as ``GET /api/v2/silences`` gives it (``gettableSilence``)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(min_length=1)
    matchers: list[Matcher]
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(alias="endsAt")
    created_by: str = Field(default="", alias="createdBy")
    comment: str = ""
    status: SilenceStatus

    @property
    def state(self) -> str:
        return self.status.state

    @property
    def is_live(self) -> bool:
        """Active or pending: the ones a person may still extend or expire."""
        return self.state in ("active", "pending")

    def matcher_text(self) -> str:
        return ", ".join(str(m) for m in self.matchers)


_SILENCES = TypeAdapter(list[Silence])


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
            raise Timeout(self.name, f"timed out after {self.timeout_s:g}s") from None
        except requests.RequestException:
            raise Unavailable(self.name, f"cannot connect to {self.url}") from None
        if resp.status_code >= 400:
            detail = " ".join(resp.text.split())[:200]
            reason = f"{method} {path}: HTTP {resp.status_code} {detail}".rstrip()
            # Alertmanager 0.25 answers an unknown silence id with 500 "silence not found".
            if resp.status_code == 404 or "silence not found" in resp.text:
                raise NotFound(self.name, reason)
            if resp.status_code in (401, 403):
                raise Forbidden(self.name, reason)
            if resp.status_code >= 500:
                raise Unavailable(self.name, reason)
            raise SourceError(self.name, reason)
        return resp

    def _json(self, resp: requests.Response) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise Unavailable(self.name, f"not JSON from {self.url} (is it Alertmanager?)"
                              ) from None

    def create_silence(
        self,
        matchers: Sequence[Mapping[str, Any]],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
        *,
        silence_id: str | None = None,
    ) -> str:
        """`POST /api/v2/silences`; returns the silence's id. With ``silence_id`` it updates
        that silence: Alertmanager keeps the id when only the end moves (and ``startsAt`` is
        unchanged), else it expires the old one and answers a new id."""
        if not matchers:
            raise SourceError(self.name, "refusing to create a silence without matchers")
        body = {
            "matchers": list(matchers),
            "startsAt": starts_at.isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": created_by,
            "comment": comment,
        }
        if silence_id is not None:
            body["id"] = silence_id
        data = self._json(self._call("POST", "/api/v2/silences", json=body))
        new_id = data.get("silenceID") if isinstance(data, dict) else None
        if not isinstance(new_id, str) or not new_id:
            raise Unavailable(self.name, "silence created but no silenceID in the answer")
        return new_id

    def expire_silence(self, silence_id: str) -> None:
        """`DELETE /api/v2/silence/{id}`. An already expired silence counts as done."""
        with contextlib.suppress(NotFound):
            self._call("DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")

    def silence(self, silence_id: str) -> Silence:
        """`GET /api/v2/silence/{id}`; :class:`NotFound` when Alertmanager has no such id."""
        data = self._json(self._call("GET", f"/api/v2/silence/{quote(silence_id, safe='')}"))
        try:
            return Silence.model_validate(data)
        except ValidationError as exc:
            raise Unavailable(self.name, f"unexpected silence: {_first_error(exc)}") from None

    def silences(self) -> list[Silence]:
        """`GET /api/v2/silences`: every silence Alertmanager keeps (expired ones too, for a
        while), whoever made it: the bot, amtool or the UI."""
        data = self._json(self._call("GET", "/api/v2/silences"))
        try:
            return _SILENCES.validate_python(data)
        except ValidationError as exc:
            raise Unavailable(self.name, f"unexpected silences list: {_first_error(exc)}"
                              ) from None

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """`POST /api/v2/alerts` (Game Day drills inject through the real alert path)."""
        self._call("POST", "/api/v2/alerts", json=list(alerts))


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg', 'invalid')}"
