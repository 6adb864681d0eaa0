"""Modals: views.open/push/update, trigger_id expiry, view_submission ack checks."""

from __future__ import annotations

import json
import random
import secrets
import time

from ..blockkit import validate_view
from .answers import _err, _missing, _rand_id
from .records import JSONDict
from .state import SlackState


def _view_ack_errors(body: str) -> list[str]:
    """Check a view_submission ack: ``response_action`` update/push carries a view."""
    if not body.strip():
        return []
    try:
        payload = json.loads(body)
    except ValueError:
        return ["view_submission ack body is not JSON"]
    if not isinstance(payload, dict):
        return ["view_submission ack body is not a JSON object"]
    action = payload.get("response_action")
    if action in ("update", "push"):
        return validate_view(payload.get("view"))
    if action == "errors":
        errors = payload.get("errors")
        return [] if isinstance(errors, dict) and errors else ["errors must be a non-empty object"]
    if action not in (None, "clear"):
        return [f"unknown response_action: {action!r}"]
    return []


class Views(SlackState):
    """Views and the trigger_ids that open them."""

    def _views_open(self, p: JSONDict, *, push: bool) -> JSONDict:
        trigger_id = p.get("trigger_id")
        if not trigger_id:
            return _missing("trigger_id")
        if "view" not in p:
            return _missing("view")
        trigger_error = self._use_trigger(str(trigger_id))
        if trigger_error:
            return _err(trigger_error)
        view = p["view"]
        errors = validate_view(view)
        if errors:
            return _err("invalid_arguments",
                        response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
        stored = self._store_view(view, view_id=_rand_id("V"))
        return {"ok": True, "view": stored}

    def _store_view(self, view: JSONDict, view_id: str) -> JSONDict:
        stored: JSONDict = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type"),
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "blocks": view.get("blocks") or [],
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "root_view_id": view_id,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return stored

    def _views_update(self, p: JSONDict) -> JSONDict:
        view_id, external_id = p.get("view_id"), p.get("external_id")
        if not view_id and not external_id:
            return _missing("view_id")
        if "view" not in p:
            return _missing("view")
        current = self.views.get(str(view_id)) if view_id else next(
            (v for v in self.views.values() if v.get("external_id") == external_id), None
        )
        if current is None:
            return _err("not_found")
        if p.get("hash") and p["hash"] != current["hash"]:
            return _err("hash_conflict")
        errors = validate_view(p["view"])
        if errors:
            return _err("invalid_arguments",
                        response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
        return {"ok": True, "view": self._store_view(p["view"], current["id"])}

    def _use_trigger(self, trigger_id: str) -> str | None:
        if not self.strict_triggers:
            return None
        issued = self._triggers.get(trigger_id)
        if issued is None:
            return "invalid_trigger_id"
        at, used = issued
        if used:
            return "exchanged_trigger_id"
        if time.time() - at > self.trigger_ttl:
            return "expired_trigger_id"
        self._triggers[trigger_id] = (at, True)
        return None

    def new_trigger_id(self) -> str:
        """A trigger_id Slack would put in an interaction; views.open accepts it for 3 s."""
        trigger_id = f"{random.randint(10**9, 10**10)}.{random.randint(10**9, 10**10)}." \
                     f"{secrets.token_hex(16)}"
        with self._lock:
            self._triggers[trigger_id] = (time.time(), False)
        return trigger_id
