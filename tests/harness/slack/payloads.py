"""Payload builders shared by HTTP and Socket Mode deliveries."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .answers import _rand_id
from .records import VERIFICATION_TOKEN, JSONDict
from .state import SlackState


def iter_elements(blocks: Iterable[Any]) -> Iterator[tuple[JSONDict, JSONDict]]:
    """Yield (block, interactive element) pairs of a message, accessories included."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates: list[Any] = list(block.get("elements") or [])
        for key in ("accessory", "element"):
            if key in block:
                candidates.append(block[key])
        for el in candidates:
            if isinstance(el, dict) and "action_id" in el:
                yield block, el


class Payloads(SlackState):
    """Slash commands, clicks, submissions, event envelopes."""

    def _user(self, user_id: str) -> JSONDict:
        name = f"user-{user_id.lower()}"
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def slash_command_payload(
        self,
        text: str,
        user_id: str = "U1",
        channel_id: str = "C1",
        command: str = "/genai",
    ) -> dict[str, str]:
        """The form fields Slack posts for a slash command (all values are strings)."""
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": f"channel-{channel_id.lower()}",
            "user_id": user_id,
            "user_name": f"user-{user_id.lower()}",
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self.new_response_url(channel_id, user_id),
            "trigger_id": self.new_trigger_id(),
        }

    def _find_element(
        self, action_id: str, channel_id: str, message_ts: str | None
    ) -> tuple[JSONDict, JSONDict, JSONDict, bool] | None:
        """(message, block, element, is_ephemeral) for a clickable element, newest first."""
        with self._lock:
            pools = [(list(self.messages.get(channel_id, [])), False),
                     ([e for e in self.ephemerals if e.get("channel") == channel_id], True)]
            for pool, ephemeral in pools:
                for msg in reversed(pool):
                    if message_ts is not None and msg["ts"] != message_ts:
                        continue
                    # Blocks may sit at the top level or inside attachments (colour bar).
                    blocks = list(msg.get("blocks") or [])
                    for att in msg.get("attachments") or []:
                        if isinstance(att, dict):
                            blocks.extend(att.get("blocks") or [])
                    for block, el in iter_elements(blocks):
                        if el.get("action_id") == action_id:
                            return msg, block, el, ephemeral
        return None

    def block_action_payload(
        self,
        action_id: str,
        value: str | None = None,
        user_id: str = "U1",
        channel_id: str = "C1",
        message_ts: str | None = None,
        response_url: str | None = None,
        trigger_id: str | None = None,
        *,
        strict: bool = True,
    ) -> JSONDict:
        """A ``block_actions`` payload for a click on an element of a posted message.

        With ``strict`` the element must exist in a stored message (the newest one carrying
        ``action_id`` unless ``message_ts`` is given), and a button's value is the one in the
        message: a user cannot click what the bot did not post.
        """
        found = self._find_element(action_id, channel_id, message_ts)
        if found is None and strict:
            raise AssertionError(
                f"no message in {channel_id} (ts={message_ts}) has an element {action_id!r}"
            )
        msg, block, el, ephemeral = found or ({}, {}, {"type": "button"}, False)
        ts = message_ts or msg.get("ts") or self.new_ts()
        kind = str(el.get("type", "button"))
        action: JSONDict = {
            "action_id": action_id,
            "block_id": block.get("block_id") or _rand_id("", 5),
            "type": kind,
            "action_ts": f"{time.time():.6f}",
        }
        if kind == "button":
            if strict and value is not None and value != el.get("value"):
                raise AssertionError(
                    f"button {action_id!r} carries value {el.get('value')!r}, not {value!r}"
                )
            action["value"] = el.get("value") if value is None else value
            if "text" in el:
                action["text"] = el["text"]
        elif kind in ("static_select", "overflow", "radio_buttons", "external_select"):
            options = list(el.get("options") or [])
            for group in el.get("option_groups") or []:
                options += group.get("options") or []
            chosen = next((o for o in options if o.get("value") == value), None)
            if chosen is None and strict and kind != "external_select":
                raise AssertionError(f"{action_id!r} has no option with value {value!r}")
            action["selected_option"] = chosen or {
                "text": {"type": "plain_text", "text": str(value)}, "value": value}
        else:
            action["value"] = value
        url = response_url or self.new_response_url(channel_id, user_id, ts)
        message = self.public(msg) if msg else {"type": "message", "ts": ts, "text": ""}
        payload: JSONDict = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "message", "message_ts": ts, "channel_id": channel_id,
                          "is_ephemeral": ephemeral},
            "trigger_id": trigger_id or self.new_trigger_id(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": f"channel-{channel_id.lower()}"},
            "message": message,
            "state": {"values": {}},
            "response_url": url,
            "actions": [action],
        }
        if ephemeral:
            del payload["message"]  # Slack does not echo ephemeral messages back
        return payload

    def view_submission_payload(
        self,
        callback_id: str,
        values: JSONDict,
        user_id: str = "U1",
        private_metadata: str = "",
        view_id: str | None = None,
    ) -> JSONDict:
        """A ``view_submission`` payload; uses the opened view when one matches."""
        with self._lock:
            view = self.views.get(view_id) if view_id else next(
                (v for v in reversed(list(self.views.values()))
                 if v.get("callback_id") == callback_id), None)
        base: JSONDict = dict(view) if view else {
            "id": view_id or _rand_id("V"), "team_id": self.team_id, "type": "modal",
            "title": {"type": "plain_text", "text": "Form"}, "blocks": [],
            "hash": f"{int(time.time())}.x", "app_id": self.app_id, "bot_id": self.bot_id,
        }
        base.update({"callback_id": callback_id, "state": {"values": values}})
        if private_metadata or "private_metadata" not in base:
            base["private_metadata"] = private_metadata
        return {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": self._user(user_id),
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self.new_trigger_id(),
            "view": base,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def event_envelope(self, event: JSONDict, event_id: str | None = None) -> JSONDict:
        """The Events API ``event_callback`` envelope around ``event``."""
        event = dict(event)
        event.setdefault("event_ts", event.get("ts") or self.new_ts())
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or _rand_id("Ev", 10),
            "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": self.team_id,
                                "user_id": self.bot_user_id, "is_bot": True,
                                "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_hex(16)}",
        }
