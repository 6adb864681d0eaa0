"""Who may do what. Viewer: anyone. Responder: ack, silence, resolve, diagnose. Admin: drills."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import structlog

from bot.config import RoleSettings
from bot.words import article


class Role(IntEnum):
    VIEWER = 0
    RESPONDER = 1
    ADMIN = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def with_article(self) -> str:
        """"a viewer", "a responder", "an admin": for "you are {role.with_article}"."""
        return article(self.label)

    @property
    def plural(self) -> str:
        """"responders", as in "Only responders may …"."""
        return f"{self.label}s"


GroupMembers = Callable[[str], list[str]]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Caller:
    """Who is asking, with the role they hold, and why that role may be too low: a usergroup
    that could not be read (Slack down, a missing scope) must neither grant rights nor be
    mistaken for "you are a viewer"."""

    user_id: str
    role: Role
    lookup_error: str | None = None

    def may(self, needed: Role) -> bool:
        return self.role >= needed

    def refusal(self, what: str, needed: Role) -> str:
        """Why this caller may not ``what`` ("start drills"), in plain words."""
        if self.lookup_error is not None:
            return (f"Could not check whether you are one of the {needed.plural} who may "
                    f"{what}: {self.lookup_error}. Try again in a minute; if it persists, "
                    "tell whoever runs the bot.")
        return (f"Only {needed.plural} may {what}; you are {self.role.with_article}. Ask an "
                "admin to add you (or your usergroup) to the roles in the bot's config.")


class RoleResolver:
    """Resolves a Slack user to a role from configured user ids and usergroup ids.

    Usergroup membership is fetched through `members_of` (the Slack side injects a call to
    ``usergroups.users.list``) and cached for `ttl_s`, so a burst of clicks costs one call.
    """

    def __init__(
        self, settings: RoleSettings, members_of: GroupMembers | None = None, ttl_s: float = 300
    ) -> None:
        self._settings = settings
        self._members_of = members_of
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def role_of(self, user_id: str) -> Role:
        return self.caller(user_id).role

    def caller(self, user_id: str) -> Caller:
        errors: list[str] = []
        if self._matches(user_id, self._settings.admins, errors):
            return Caller(user_id, Role.ADMIN)
        role = Role.RESPONDER if self._matches(user_id, self._settings.responders, errors) \
            else Role.VIEWER
        return Caller(user_id, role, errors[0] if errors else None)

    def _matches(self, user_id: str, entries: list[str], errors: list[str]) -> bool:
        for entry in entries:
            if entry == user_id:
                return True
            if entry.startswith("S"):
                members = self._group(entry, errors)
                if user_id in members:
                    return True
        return False

    def _group(self, group_id: str, errors: list[str]) -> frozenset[str]:
        if self._members_of is None:
            return frozenset()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(group_id)
            if hit is not None and now - hit[0] < self._ttl_s:
                return hit[1]
        try:
            members = frozenset(self._members_of(group_id))
        except Exception as exc:
            # An unreachable Slack must not grant rights; keep a stale answer if there is one.
            if hit is not None:
                return hit[1]
            reason = _reason(exc)
            log.warning("usergroup_lookup_failed", usergroup=group_id, error=reason)
            errors.append(f"Slack did not list usergroup {group_id} ({reason})")
            return frozenset()
        with self._lock:
            self._cache[group_id] = (now, members)
        return members


def _reason(exc: Exception) -> str:
    """Slack's error code when there is one (``missing_scope``), else the exception type."""
    response = getattr(exc, "response", None)
    code = response.get("error") if response is not None and hasattr(response, "get") else None
    return str(code) if code else type(exc).__name__
