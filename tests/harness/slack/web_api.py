"""The Web API front door: parsing, tokens, injected faults, the method table."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from .answers import _err, _missing
from .records import (
    _CHANNEL_METHODS,
    _DROP,
    _JSON_PARAMS,
    HOST,
    MAX_SOCKET_CONNECTIONS,
    ApiAnswer,
    Call,
    JSONDict,
)
from .state import SlackState


class WebApi(SlackState):
    """`/api/<method>`: parse like Slack, check the token, dispatch."""

    def _handle_api(
        self, method: str, query: str, raw: bytes, ctype: str, auth: str
    ) -> ApiAnswer:
        """Parse a Web API request the way Slack does and dispatch it."""
        params: JSONDict = dict(parse_qsl(query, keep_blank_values=True))
        try:
            params.update(self._parse_body(raw, ctype))
        except ValueError:
            return self._finish(method, params, None, 200, _err("invalid_json"), {})
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None
        token = token or (params.pop("token", None) or None)
        params.pop("token", None)

        handler = self._methods().get(method)
        if handler is None:
            return self._finish(method, params, token, 200, _err("unknown_method"), {})
        injected = self._injected(method, params)
        if injected is not None:
            return self._finish(method, params, token, *injected)
        auth_error = self._check_token(method, token)
        if auth_error is not None:
            return self._finish(method, params, token, 200, _err(auth_error), {})
        for key in _JSON_PARAMS:
            value = params.get(key)
            if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = value  # left as a string: handlers reject it
        with self._lock:
            channel_error = self._channel_errors.get(str(params.get("channel") or ""))
            if channel_error is not None and method in _CHANNEL_METHODS:
                response = _err(channel_error)
            else:
                response = handler(params)
            drop = bool(response.get("ok")) and self._drop_queue.get(method, 0) > 0
            if drop:
                self._drop_queue[method] -= 1
            hold = bool(response.get("ok")) and self._hold_queue.get(method, 0) > 0
            if hold:
                self._hold_queue[method] -= 1
                self._held += 1
                release = self._release_held
                self._changed.notify_all()
        if hold:
            release.wait()
            with self._lock:
                self._held -= 1
            drop = True
        if drop:
            self._record(Call(method, params, response, time.time(), 200, token, dropped=True))
            return _DROP, response, {}
        return self._finish(method, params, token, 200, response, {})

    def _finish(
        self,
        method: str,
        params: JSONDict,
        token: str | None,
        status: int,
        response: JSONDict,
        headers: dict[str, str],
    ) -> ApiAnswer:
        self._record(Call(method, params, response, time.time(), status, token))
        return status, response, headers

    @staticmethod
    def _parse_body(raw: bytes, ctype: str) -> JSONDict:
        if not raw:
            return {}
        kind = ctype.split(";")[0].strip().lower()
        if kind == "application/json":
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            return data
        if kind == "multipart/form-data":
            msg = BytesParser(policy=HTTP).parsebytes(
                f"Content-Type: {ctype}\r\n\r\n".encode() + raw
            )
            out: JSONDict = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                if isinstance(name, str) and isinstance(payload, bytes):
                    out[name] = payload.decode("utf-8", "replace")
            return out
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))

    def revoke(self, token: str) -> None:
        """From now on Slack answers ``token_revoked`` to ``token`` (an uninstalled app)."""
        with self._lock:
            self.revoked.add(token)

    def _check_token(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if token in self.revoked:
            return "token_revoked"
        if method == "apps.connections.open":
            if token == self.app_token:
                return None
            return "not_allowed_token_type" if token.startswith("xox") else "invalid_auth"
        if token == self.bot_token:
            return None
        return "not_allowed_token_type" if token == self.app_token else "invalid_auth"

    def _methods(self) -> dict[str, Callable[[JSONDict], JSONDict]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": lambda p: self._views_open(p, push=False),
            "views.push": lambda p: self._views_open(p, push=True),
            "views.update": self._views_update,
            "usergroups.users.list": self._usergroups_users_list,
            "apps.connections.open": self._apps_connections_open,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "conversations.list": self._conversations_list,
            "reactions.add": self._reactions_add,
        }

    def _auth_test(self, p: JSONDict) -> JSONDict:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Test Team",
            "user": "genai-ops-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _usergroups_users_list(self, p: JSONDict) -> JSONDict:
        group = p.get("usergroup")
        if not group:
            return _missing("usergroup")
        if group not in self.usergroups:
            return _err("no_such_subteam")
        return {"ok": True, "users": list(self.usergroups[group])}

    def _apps_connections_open(self, p: JSONDict) -> JSONDict:
        """A websocket URL on the relay's port; refused past Slack's 10 connections."""
        with self._lock:
            open_conns = sum(1 for c in self._conns if not c.dropped and c.closed_at is None)
        if open_conns >= MAX_SOCKET_CONNECTIONS:
            return _err("too_many_websockets")
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        url = f"ws://{HOST}:{self.ws_port}/link/?ticket={ticket}&app_id={self.app_id}"
        return {"ok": True, "url": url}

    def _reactions_add(self, p: JSONDict) -> JSONDict:
        name = str(p.get("name") or "")
        if not name:
            return _err("invalid_name")
        msg = self.find_message(str(p.get("channel") or ""), str(p.get("timestamp") or ""))
        if msg is None:
            return _err("message_not_found")
        reactions: list[JSONDict] = msg.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    return _err("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                return {"ok": True}
        reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {"ok": True}
