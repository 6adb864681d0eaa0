"""Who may do what. Viewer: anyone. Responder: ack, silence, resolve, diagnose. Admin: drills."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import IntEnum

from bot.config import RoleSettings


class Role(IntEnum):
    VIEWER = 0
    RESPONDER = 1
    ADMIN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


GroupMembers = Callable[[str], list[str]]


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
        if self._matches(user_id, self._settings.admins):
            return Role.ADMIN
        if self._matches(user_id, self._settings.responders):
            return Role.RESPONDER
        return Role.VIEWER

    def _matches(self, user_id: str, entries: list[str]) -> bool:
        for entry in entries:
            if entry == user_id:
                return True
            if entry.startswith("S") and user_id in self._group(entry):
                return True
        return False

    def _group(self, group_id: str) -> frozenset[str]:
        if self._members_of is None:
            return frozenset()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(group_id)
            if hit is not None and now - hit[0] < self._ttl_s:
                return hit[1]
        try:
            members = frozenset(self._members_of(group_id))
        except Exception:
            # An unreachable Slack must not grant rights; keep a stale answer if there is one.
            return hit[1] if hit is not None else frozenset()
        with self._lock:
            self._cache[group_id] = (now, members)
        return members
