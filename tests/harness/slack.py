"""A strict stand-in for Slack (the SaaS) that serves the real protocols on 127.0.0.1.

The bot under test talks to it with the real ``slack_sdk`` / ``slack_bolt`` code, the way
bolt-python's own tests use a local mock server:

* Web API methods under ``/api/<method>`` (form, JSON or query parameters, Bearer auth);
* ``response_url`` and incoming-webhook endpoints;
* a Socket Mode websocket, reached through ``apps.connections.open``;
* signed HTTP deliveries to a bot in HTTP mode (slash commands, interactivity, events).

It is strict where Slack is: Block Kit limits, token types, trigger_id expiry, 429s with
``Retry-After``. Everything is recorded with ``time.time()`` timestamps so tests can assert
ack latency and what a user would see.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import random
import re
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from .blockkit import (
    MAX_MESSAGE_TEXT,
    validate_attachments,
    validate_blocks,
    validate_view,
)

HOST = "127.0.0.1"
ACK_DEADLINE_S = 3.0
TRIGGER_TTL_S = 3.0
RESPONSE_URL_MAX_USES = 5
VERIFICATION_TOKEN = "legacy-verification-token"
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
DEFAULT_CHANNELS = ("#general", "#genai-critical", "#genai-warnings", "#genai-alerts",
                    "#genai-gameday")
_JSON_PARAMS = ("blocks", "attachments", "view", "metadata")
_CHANNEL_METHODS = frozenset(
    {"chat.postMessage", "chat.update", "conversations.history", "conversations.replies"}
)
HISTORY_MAX_LIMIT = 999
_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"

JSONDict = dict[str, Any]
_DROP = 0  # internal HTTP "status": close the connection without answering
ApiAnswer = tuple[int, JSONDict, dict[str, str]]  # HTTP status, JSON body, extra headers


@dataclass
class Call:
    """One Web API (or response_url / webhook) request as Slack received it."""

    method: str
    params: JSONDict
    response: JSONDict
    at: float
    status: int = 200
    token: str | None = None
    dropped: bool = False  # processed, but the connection was closed before the answer

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))


@dataclass
class Delivery:
    """One signed HTTP request Slack sent to the bot, and how the bot answered it."""

    kind: str
    url: str
    body: str
    headers: dict[str, str]
    payload: JSONDict
    sent_at: float
    answered_at: float | None = None
    status: int | None = None
    response_body: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def latency(self) -> float | None:
        """Seconds from sending to the bot's HTTP answer (the ack)."""
        return None if self.answered_at is None else self.answered_at - self.sent_at

    @property
    def acked_in_time(self) -> bool:
        """Slack shows an error to the user when the ack takes more than 3 s."""
        return self.status == 200 and (self.latency or 0.0) <= ACK_DEADLINE_S


@dataclass
class _ResponseTarget:
    """What a response_url (or an ack body) acts on: the channel, user and message."""

    id: str
    channel_id: str | None
    user_id: str | None
    message_ts: str | None
    uses: int = 0


@dataclass
class _SocketConn:
    ws: ServerConnection
    connected_at: float
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    hello_at: float | None = None


class _TokenBucket:
    """Per-channel pacing like Slack's ~1 message per second per channel, with a burst."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = float(burst)
        self.tokens: dict[str, float] = {}
        self.stamp: dict[str, float] = {}

    def take(self, key: str, now: float) -> bool:
        tokens = self.tokens.get(key, self.burst)
        tokens = min(self.burst, tokens + (now - self.stamp.get(key, now)) * self.per_second)
        self.stamp[key] = now
        if tokens < 1.0:
            self.tokens[key] = tokens
            return False
        self.tokens[key] = tokens - 1.0
        return True


def _err(error: str, **extra: Any) -> JSONDict:
    return {"ok": False, "error": error, **extra}


def _missing(name: str) -> JSONDict:
    """Slack's answer for a missing required argument on newer methods."""
    return _err(
        "invalid_arguments",
        response_metadata={"messages": [f"[ERROR] missing required field: {name}"]},
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _valid_metadata(value: Any) -> bool:
    """Slack message metadata: ``{"event_type": str, "event_payload": object}``."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("event_type"), str)
        and bool(value["event_type"])
        and isinstance(value.get("event_payload"), dict)
    )


def _in_window(msgs: Iterable[JSONDict], p: Mapping[str, Any]) -> list[JSONDict]:
    """Messages between ``oldest`` and ``latest`` (exclusive unless ``inclusive``)."""
    inclusive = _truthy(p.get("inclusive"))
    oldest = float(p.get("oldest") or 0)
    latest = float(p["latest"]) if p.get("latest") else None
    out = []
    for m in msgs:
        ts = float(m["ts"])
        if ts < oldest or (ts == oldest and not inclusive):
            continue
        if latest is not None and (ts > latest or (ts == latest and not inclusive)):
            continue
        out.append(m)
    return out


def _page(msgs: list[JSONDict], p: Mapping[str, Any], default_limit: int,
          with_metadata: bool) -> JSONDict:
    """One page of ``msgs`` as the Web API answers it (opaque ``next_cursor``)."""
    limit = max(1, min(int(p.get("limit") or default_limit), HISTORY_MAX_LIMIT))
    cursor = str(p.get("cursor") or "")
    start = int(cursor.removeprefix("off:")) if cursor.startswith("off:") else 0
    chunk = msgs[start : start + limit]
    more = start + limit < len(msgs)
    shown = []
    for m in chunk:
        item = SlackStandin.public(m)
        if not with_metadata:
            item.pop("metadata", None)
        shown.append(item)
    return {"ok": True, "messages": shown, "has_more": more,
            "response_metadata": {"next_cursor": f"off:{start + limit}" if more else ""}}


def _rand_id(prefix: str, n: int = 10) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def sign(body: str, timestamp: int, secret: str) -> str:
    """Slack's v0 request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{ts}:{body}``."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


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


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    standin: SlackStandin


class _Handler(BaseHTTPRequestHandler):
    """Routes /api/*, /response/* and /services/* to the stand-in."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; everything is recorded on the stand-in instead."""

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        standin = self.server.standin
        ctype = self.headers.get("Content-Type", "")
        if url.path.startswith("/api/"):
            status, body, extra = standin._handle_api(
                url.path[len("/api/") :], url.query, raw, ctype,
                self.headers.get("Authorization") or "",
            )
            if status == _DROP:
                self.close_connection = True  # no answer at all: the client sees a reset
                return
            self._reply(status, json.dumps(body).encode(), "application/json; charset=utf-8",
                        extra)
        elif url.path.startswith("/response/"):
            status, text = standin._handle_response_url(url.path[len("/response/") :], raw)
            self._reply(status, text.encode(), "text/plain; charset=utf-8")
        elif url.path.startswith("/services/"):
            status, text = standin._handle_webhook(url.path[len("/services/") :], raw)
            self._reply(status, text.encode(), "text/plain; charset=utf-8")
        else:
            self._reply(404, b"not found", "text/plain")

    def _reply(
        self, status: int, body: bytes, ctype: str, extra: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class SlackStandin:
    """Strict local Slack: Web API, response_url, webhooks, Socket Mode, signed deliveries."""

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-1-test",
        signing_secret: str = "test-signing-secret",
        team_id: str = "T0TEST",
        bot_user_id: str = "UBOT",
        *,
        bot_id: str = "B0TEST",
        app_id: str = "A0TEST",
        team_domain: str = "test",
        strict_triggers: bool = True,
        socket_ping_interval: float = 0.5,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.team_domain = team_domain
        self.strict_triggers = strict_triggers
        self.trigger_ttl = TRIGGER_TTL_S
        self.socket_ping_interval = socket_ping_interval

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.calls: list[Call] = []
        self.messages: defaultdict[str, list[JSONDict]] = defaultdict(list)
        # Like a workspace: channels have ids (C…) and names. chat.postMessage takes either;
        # chat.update, conversations.history/replies and reactions take only the id.
        self.channel_names: dict[str, str] = {}
        for name in DEFAULT_CHANNELS:
            self.channel_id(name)
        self.ephemerals: list[JSONDict] = []
        self.views: dict[str, JSONDict] = {}
        self.responses: list[JSONDict] = []
        self.deliveries: list[Delivery] = []
        self.usergroups: dict[str, list[str]] = {}
        self.socket_sent: list[JSONDict] = []
        self.socket_acks: list[JSONDict] = []
        self.socket_messages: list[JSONDict] = []

        self._last_ts_us = 0
        self._fail_queue: dict[str, deque[tuple[int, int]]] = defaultdict(deque)
        self._drop_queue: dict[str, int] = defaultdict(int)
        self._channel_errors: dict[str, str] = {}
        self._ratio: tuple[float, int, random.Random, frozenset[str] | None] | None = None
        self._channel_bucket: tuple[_TokenBucket, int] | None = None
        self._triggers: dict[str, tuple[float, bool]] = {}
        self._targets: dict[str, _ResponseTarget] = {}
        self._webhooks: dict[str, str] = {}
        self._tickets: set[str] = set()
        self._envelopes: dict[str, JSONDict] = {}
        self._conns: list[_SocketConn] = []
        self._event_target: str | None = None

        self._http: _HTTPServer | None = None
        # Slack itself gives up after 3 s; benchmarks raise this to measure how late acks are.
        self.delivery_timeout = 10.0
        self._deliverer = httpx.Client(limits=httpx.Limits(max_connections=256,
                                                           max_keepalive_connections=64))
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> SlackStandin:
        """Bind both servers to 127.0.0.1 on free ports and serve them in threads."""
        if self._http is not None:
            return self
        self._http = _HTTPServer((HOST, 0), _Handler)
        self._http.standin = self
        self._ws = serve(
            self._ws_handler,
            HOST,
            0,
            process_request=self._ws_check_ticket,
            compression=None,
            close_timeout=1,
            # Frequent pings wake the builtin client's blocking recv(), so its close() takes
            # well under a second instead of its 3 s socket timeout.
            ping_interval=self.socket_ping_interval,
        )
        http = self._http
        for target, name in ((lambda: http.serve_forever(poll_interval=0.05), "slack-http"),
                             (self._ws.serve_forever, "slack-ws")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Close the websocket and HTTP servers and join their threads (about 2 s at most)."""
        if self._ws is not None:
            self._ws.shutdown()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads.clear()
        self._http = None
        self._ws = None
        with self._lock:
            self._conns.clear()

    def __enter__(self) -> SlackStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._http is not None, "SlackStandin is not started"
        return int(self._http.server_address[1])

    @property
    def ws_port(self) -> int:
        assert self._ws is not None, "SlackStandin is not started"
        return int(self._ws.socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        """Pass as ``WebClient(base_url=...)``; ends with a slash like slack_sdk's default."""
        return f"{self.base_url}/api/"

    # -- recording ---------------------------------------------------------------------

    def _record(self, call: Call) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[Call]:
        """Recorded calls of one method; ``ok=True`` keeps only successful ones."""
        with self._lock:
            return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def wait_for(self, predicate: Callable[[Call], bool], timeout: float = 10.0) -> Call:
        """Block until a recorded call satisfies ``predicate``; fail with what was seen."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for call in self.calls:
                    if predicate(call):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no Slack call matched within {timeout}s; calls:\n{self.summary()}"
                    )
                self._changed.wait(left)

    def summary(self) -> str:
        """One line per recorded call, for assertion messages."""
        with self._lock:
            lines = []
            for c in self.calls:
                outcome = "ok" if c.ok else f"{c.status} {c.response.get('error', '')}"
                detail = c.params.get("channel") or c.params.get("usergroup") or ""
                lines.append(f"  {c.at:.3f} {c.method} {detail} -> {outcome}")
            return "\n".join(lines) or "  (none)"

    def clear(self) -> None:
        """Forget recorded calls, messages, responses and deliveries (servers keep running)."""
        with self._lock:
            self.calls.clear()
            self.messages.clear()
            self.ephemerals.clear()
            self.views.clear()
            self.responses.clear()
            self.deliveries.clear()
            self.socket_sent.clear()
            self.socket_acks.clear()
            self.socket_messages.clear()

    def new_ts(self) -> str:
        """A unique, increasing message ts such as ``1700000000.000100``."""
        with self._lock:
            us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
            self._last_ts_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def channel_id(self, name_or_id: str) -> str:
        """The id of a channel named `#name` or `name` (created on first use, as if it
        existed in the workspace); an id is returned as it is."""
        if CHANNEL_ID.match(name_or_id):
            return name_or_id
        name = name_or_id.lstrip("#")
        cid = "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()
        self.channel_names.setdefault(cid, name)
        return cid

    def find_message(self, channel: str, ts: str) -> JSONDict | None:
        with self._lock:
            for msg in self.messages.get(channel, []):
                if msg["ts"] == ts:
                    return msg
        return None

    def thread(self, channel: str, ts: str) -> list[JSONDict]:
        """The parent message and its replies, oldest first (what conversations.replies sees)."""
        with self._lock:
            msgs = self.messages.get(channel, [])
            root = next((m for m in msgs if m["ts"] == ts), None)
            if root is None:
                return []
            root_ts = root.get("thread_ts") or root["ts"]
            found = [m for m in msgs if m["ts"] == root_ts or m.get("thread_ts") == root_ts]
            return sorted(found, key=lambda m: float(m["ts"]))

    # -- fault injection ---------------------------------------------------------------

    def fail_next(self, method: str, n: int = 1, status: int = 429, retry_after: int = 1) -> None:
        """Answer the next ``n`` calls of ``method`` with ``status`` (429 carries Retry-After)."""
        with self._lock:
            for _ in range(n):
                self._fail_queue[method].append((status, retry_after))

    def drop_next_response(self, method: str, n: int = 1) -> None:
        """Process the next ``n`` successful calls of ``method`` (a message is really posted)
        but close the connection instead of answering: the client sees a connection error,
        as when Slack's answer is lost on the way back."""
        with self._lock:
            self._drop_queue[method] += n

    def set_channel_error(self, channel: str, error: str | None) -> None:
        """Make chat.postMessage, chat.update and conversations.history/replies on
        ``channel`` answer ``error`` (e.g. ``channel_not_found``, ``not_in_channel``,
        ``is_archived``); None lifts it."""
        with self._lock:
            if error is None:
                self._channel_errors.pop(channel, None)
            else:
                self._channel_errors[channel] = error

    def set_429_ratio(
        self,
        ratio: float,
        retry_after: int = 1,
        seed: int = 0,
        *,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Rate-limit a seeded random share of Web API calls (all methods unless given)."""
        with self._lock:
            if ratio <= 0:
                self._ratio = None
                return
            only = frozenset(methods) if methods is not None else None
            self._ratio = (ratio, retry_after, random.Random(seed), only)

    def set_channel_rate_limit(
        self, per_second: float = 1.0, burst: int = 3, retry_after: int = 1
    ) -> None:
        """Pace chat.postMessage per channel like Slack (~1/s with a small burst)."""
        with self._lock:
            self._channel_bucket = (_TokenBucket(per_second, burst), retry_after)

    def _injected(self, method: str, params: JSONDict) -> ApiAnswer | None:
        with self._lock:
            queue = self._fail_queue.get(method)
            if queue:
                status, retry_after = queue.popleft()
                return self._failure(status, retry_after)
            if self._ratio is not None:
                ratio, retry_after, rng, only = self._ratio
                if (only is None or method in only) and rng.random() < ratio:
                    return self._failure(429, retry_after)
            if self._channel_bucket is not None and method == "chat.postMessage":
                bucket, retry_after = self._channel_bucket
                channel = str(params.get("channel") or "")
                if channel and not bucket.take(channel, time.monotonic()):
                    return self._failure(429, retry_after)
        return None

    @staticmethod
    def _failure(status: int, retry_after: int) -> ApiAnswer:
        if status == 429:
            return 429, _err("ratelimited"), {"Retry-After": str(retry_after)}
        return status, _err("internal_error" if status < 503 else "service_unavailable"), {}

    # -- Web API -----------------------------------------------------------------------

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

    def _check_token(self, method: str, token: str | None) -> str | None:
        if not token:
            return "not_authed"
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

    def _content(self, p: JSONDict, *, partial: bool = False) -> JSONDict:
        """Validated text/blocks/attachments, or an ``{"ok": False}`` error answer."""
        out: JSONDict = {}
        text = p.get("text")
        if text is not None:
            if not isinstance(text, str):
                text = str(text)
            if len(text) > MAX_MESSAGE_TEXT:
                return _err("msg_too_long")
            out["text"] = text
        for key, check in (("blocks", validate_blocks), ("attachments", validate_attachments)):
            value = p.get(key)
            if value is None or value == "":
                continue
            if not isinstance(value, list):
                return _err("invalid_blocks_format" if key == "blocks" else "invalid_attachments")
            errors = check(value)
            if errors:
                return _err(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )
            out[key] = value
        if not partial and not (out.get("text") or out.get("blocks") or out.get("attachments")):
            return _err("no_text")
        if partial and not out:
            return _err("no_text")
        return {"ok": True, **out}

    def _store_message(
        self,
        channel: str,
        content: Mapping[str, Any],
        *,
        thread_ts: str | None = None,
        user: str | None = None,
        bot_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> JSONDict:
        ts = self.new_ts()
        msg: JSONDict = {
            "type": "message",
            "ts": ts,
            "channel": channel,
            "user": user,
            "bot_id": bot_id,
            "text": content.get("text") or "",
            "blocks": list(content.get("blocks") or []),
            "attachments": list(content.get("attachments") or []),
            "thread_ts": thread_ts,
            "team": self.team_id,
            **(extra or {}),
        }
        with self._changed:
            if thread_ts:
                parent = self.find_message(channel, thread_ts)
                if parent is not None:
                    parent["thread_ts"] = parent["ts"]
                    parent["reply_count"] = parent.get("reply_count", 0) + 1
                    parent["latest_reply"] = ts
            self.messages[channel].append(msg)
            self._changed.notify_all()
        self._forward_message_event(msg)
        return msg

    @staticmethod
    def public(msg: Mapping[str, Any]) -> JSONDict:
        """A stored message as the Web API shows it (no None fields, no store bookkeeping)."""
        return {k: v for k, v in msg.items() if v is not None and k not in ("channel", "params")}

    def _chat_post_message(self, p: JSONDict) -> JSONDict:
        if not p.get("channel"):
            return _err("channel_not_found")
        channel = self.channel_id(str(p["channel"]))
        content = self._content(p)
        if not content["ok"]:
            return content
        if "metadata" in p and not _valid_metadata(p["metadata"]):
            return _err("invalid_metadata_format")
        extra: JSONDict = {k: p[k] for k in ("username", "icon_emoji", "icon_url", "metadata",
                                   "reply_broadcast") if k in p}
        msg = self._store_message(
            str(channel),
            content,
            thread_ts=p.get("thread_ts") or None,
            user=self.bot_user_id,
            bot_id=self.bot_id,
            extra={"app_id": self.app_id, "params": dict(p), **extra},
        )
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": self.public(msg)}

    def _chat_update(self, p: JSONDict) -> JSONDict:
        channel, ts = p.get("channel"), p.get("ts")
        if not channel or not CHANNEL_ID.match(str(channel)):
            return _err("channel_not_found")
        if not ts:
            return _err("message_not_found")
        msg = self.find_message(str(channel), str(ts))
        if msg is None:
            return _err("message_not_found")
        if msg.get("user") != self.bot_user_id:
            return _err("cant_update_message")
        content = self._content(p, partial=True)
        if not content["ok"]:
            return content
        # Slack keeps blocks/attachments that the update omits; [] removes them.
        for key in ("text", "blocks", "attachments"):
            if key in content:
                msg[key] = content[key]
        msg["edited"] = {"user": self.bot_user_id, "ts": self.new_ts()}
        self._changed.notify_all()
        return {"ok": True, "channel": channel, "ts": ts, "text": msg["text"],
                "message": self.public(msg)}

    def _chat_delete(self, p: JSONDict) -> JSONDict:
        channel, ts = str(p.get("channel") or ""), str(p.get("ts") or "")
        msg = self.find_message(channel, ts)
        if msg is None:
            return _err("message_not_found")
        if msg.get("user") != self.bot_user_id:
            return _err("cant_delete_message")
        self.messages[channel].remove(msg)
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, p: JSONDict) -> JSONDict:
        if not p.get("channel"):
            return _err("channel_not_found")
        if not p.get("user"):
            return _missing("user")
        content = self._content(p)
        if not content["ok"]:
            return content
        ts = self.new_ts()
        self.ephemerals.append({
            "ts": ts, "channel": p["channel"], "user": p["user"],
            "text": content.get("text") or "", "blocks": content.get("blocks") or [],
            "attachments": content.get("attachments") or [],
            "thread_ts": p.get("thread_ts") or None, "source": "chat.postEphemeral",
        })
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, p: JSONDict) -> JSONDict:
        channel, ts = str(p.get("channel") or ""), str(p.get("message_ts") or "")
        if self.find_message(channel, ts) is None:
            return _err("message_not_found")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

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

    def _usergroups_users_list(self, p: JSONDict) -> JSONDict:
        group = p.get("usergroup")
        if not group:
            return _missing("usergroup")
        if group not in self.usergroups:
            return _err("no_such_subteam")
        return {"ok": True, "users": list(self.usergroups[group])}

    def _apps_connections_open(self, p: JSONDict) -> JSONDict:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        url = f"ws://{HOST}:{self.ws_port}/link/?ticket={ticket}&app_id={self.app_id}"
        return {"ok": True, "url": url}

    def _conversations_replies(self, p: JSONDict) -> JSONDict:
        """The thread, oldest first; ``oldest``/``latest``/``inclusive`` keep the parent as
        Slack does, ``limit`` and ``cursor`` page, ``include_all_metadata`` shows metadata."""
        channel, ts = p.get("channel"), p.get("ts")
        if not channel or not CHANNEL_ID.match(str(channel)):
            return _err("channel_not_found")
        if not ts:
            return _missing("ts")
        found = self.thread(str(channel), str(ts))
        if not found:
            return _err("thread_not_found")
        parent, replies = found[0], _in_window(found[1:], p)
        return _page([parent, *replies], p, 1000, _truthy(p.get("include_all_metadata")))

    def _conversations_list(self, p: JSONDict) -> JSONDict:
        channels = [{"id": cid, "name": name, "is_channel": True, "is_archived": False,
                     "is_member": True} for cid, name in sorted(self.channel_names.items())]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _conversations_history(self, p: JSONDict) -> JSONDict:
        """Top-level messages, newest first, with ``oldest``/``latest``/``inclusive``,
        ``limit``/``cursor`` paging and ``include_all_metadata`` (metadata is hidden
        without it). Any channel id exists (chat.postMessage takes any), unless
        :meth:`set_channel_error` says otherwise."""
        channel = str(p.get("channel") or "")
        if not CHANNEL_ID.match(channel):
            return _err("channel_not_found")
        msgs = self.messages.get(channel, [])
        top = [m for m in msgs if m.get("thread_ts") in (None, m["ts"])]
        newest_first = sorted(_in_window(top, p), key=lambda m: float(m["ts"]), reverse=True)
        return _page(newest_first, p, 100, _truthy(p.get("include_all_metadata")))

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

    # -- response_url and incoming webhooks --------------------------------------------

    def new_response_url(
        self,
        channel_id: str | None = None,
        user_id: str | None = None,
        message_ts: str | None = None,
    ) -> str:
        """A response_url bound to the interaction's channel, user and (for buttons) message."""
        rid = secrets.token_hex(12)
        with self._lock:
            self._targets[rid] = _ResponseTarget(rid, channel_id, user_id, message_ts)
        return f"{self.base_url}/response/{rid}"

    def _handle_response_url(self, rid: str, raw: bytes) -> tuple[int, str]:
        """Slack answers ``ok`` (200) or a short error word with a 4xx status."""
        payload: Any = None
        with contextlib.suppress(ValueError):
            payload = json.loads(raw or b"null")
        injected = self._injected("response_url", {})
        if injected is not None:
            status, body, _ = injected
            return self._record_response(rid, payload, status, str(body["error"]))
        with self._lock:
            target = self._targets.get(rid)
            if target is None:
                return self._record_response(rid, payload, 404, "invalid_url")
            if not isinstance(payload, dict):
                return self._record_response(rid, payload, 400, "invalid_payload")
            if target.uses >= RESPONSE_URL_MAX_USES:
                return self._record_response(rid, payload, 404, "used_url")
            target.uses += 1
            error = self._apply_response(target, payload)
            if error is not None:
                status, word, errors = error
                return self._record_response(rid, payload, status, word, errors)
        return self._record_response(rid, payload, 200, "ok")

    def _record_response(
        self, rid: str, payload: Any, status: int, answer: str, errors: list[str] | None = None
    ) -> tuple[int, str]:
        at = time.time()
        entry = {"id": rid, "payload": payload, "at": at, "status": status, "answer": answer,
                 "errors": errors or []}
        params = payload if isinstance(payload, dict) else {"raw": payload}
        with self._changed:
            self.responses.append(entry)
        response = {"ok": status == 200} if status == 200 else _err(answer, errors=errors or [])
        self._record(Call("response_url", {"response_url_id": rid, **params}, response, at,
                          status))
        return status, answer

    def _original(self, target: _ResponseTarget) -> tuple[JSONDict | None, list[JSONDict]]:
        """The message a response_url acts on (channel or ephemeral) and the list holding it."""
        if not (target.channel_id and target.message_ts):
            return None, []
        for pool in (self.messages.get(target.channel_id, []), self.ephemerals):
            for msg in pool:
                if msg["ts"] == target.message_ts and msg.get("channel") == target.channel_id:
                    return msg, pool
        return None, []

    def _apply_response(
        self, target: _ResponseTarget, payload: JSONDict
    ) -> tuple[int, str, list[str]] | None:
        """Apply a response_url post (or an ack body) to the store as Slack would show it."""
        original, container = self._original(target)
        if _truthy(payload.get("delete_original")):
            if original is not None:
                container.remove(original)
            return None
        content = self._content(payload)
        if not content["ok"]:
            error = str(content["error"])
            return 400, error, list(content.get("errors", []))
        if _truthy(payload.get("replace_original")) and original is not None:
            for key in ("text", "blocks", "attachments"):
                original[key] = content.get(key) or ([] if key != "text" else "")
            original["edited"] = {"user": self.bot_user_id, "ts": self.new_ts()}
            return None
        if payload.get("response_type") == "in_channel" and target.channel_id:
            self._store_message(
                target.channel_id, content, thread_ts=payload.get("thread_ts") or None,
                user=self.bot_user_id, bot_id=self.bot_id, extra={"app_id": self.app_id},
            )
            return None
        self.ephemerals.append({
            "ts": self.new_ts(), "channel": target.channel_id, "user": target.user_id,
            "text": content.get("text") or "", "blocks": content.get("blocks") or [],
            "attachments": content.get("attachments") or [],
            "thread_ts": payload.get("thread_ts") or None, "source": "response_url",
        })
        return None

    def new_incoming_webhook(self, channel: str) -> str:
        """An incoming-webhook URL posting into ``channel`` (what Alertmanager's api_url is)."""
        path = f"{self.team_id}/{_rand_id('B')}/{secrets.token_hex(12)}"
        with self._lock:
            self._webhooks[path] = channel
        return f"{self.base_url}/services/{path}"

    def _handle_webhook(self, path: str, raw: bytes) -> tuple[int, str]:
        payload: Any = None
        with contextlib.suppress(ValueError):
            payload = json.loads(raw or b"null")
        with self._lock:
            channel = self._webhooks.get(path)
            status, answer, response = 200, "ok", {"ok": True}
            if channel is None:
                status, answer = 404, "no_service"
            elif not isinstance(payload, dict):
                status, answer = 400, "invalid_payload"
            else:
                content = self._content(payload)
                if not content["ok"]:
                    status, answer = 400, str(content["error"])
                else:
                    self._store_message(
                        self.channel_id(channel), content, bot_id=f"B{path.split('/')[1][1:]}",
                        extra={"subtype": "bot_message",
                               "username": payload.get("username") or "incoming-webhook"},
                    )
            if status != 200:
                response = _err(answer)
        params = payload if isinstance(payload, dict) else {"raw": payload}
        self._record(Call("incoming_webhook", {"channel": channel, **params}, response,
                          time.time(), status))
        return status, answer

    # -- payload builders (shared by HTTP and Socket Mode deliveries) -------------------

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

    def add_message(
        self,
        channel: str,
        text: str = "",
        *,
        user: str | None = "U1",
        bot_id: str | None = None,
        username: str | None = None,
        attachments: list[JSONDict] | None = None,
        blocks: list[JSONDict] | None = None,
        thread_ts: str | None = None,
    ) -> JSONDict:
        """Store a message someone else posted and return its ``message`` event."""
        extra: JSONDict = {}
        if bot_id:
            extra = {"subtype": "bot_message", "username": username}
            user = None
        msg = self._store_message(
            channel, {"text": text, "blocks": blocks, "attachments": attachments},
            thread_ts=thread_ts, user=user, bot_id=bot_id, extra=extra,
        )
        return self.message_event(msg)

    def message_event(self, msg: Mapping[str, Any]) -> JSONDict:
        """The ``message`` event Slack sends for a stored message."""
        event = {k: v for k, v in msg.items() if v not in (None, []) and k != "params"}
        event.update({"type": "message", "channel_type": "channel", "event_ts": msg["ts"]})
        return event

    def forward_events_to(self, target: str | None) -> None:
        """Send a ``message`` event for every stored channel message, like a real event
        subscription: ``"socket"`` for Socket Mode, a URL for HTTP mode, None to stop."""
        with self._lock:
            self._event_target = target

    def _forward_message_event(self, msg: Mapping[str, Any]) -> None:
        target = self._event_target
        if target is None:
            return
        event = self.message_event(msg)
        if target == "socket":
            threading.Thread(target=self.socket_send_event, args=(event,), daemon=True).start()
        else:
            threading.Thread(target=self.send_event, args=(target, event), daemon=True).start()

    # -- signed HTTP deliveries --------------------------------------------------------

    def _deliver(
        self,
        kind: str,
        url: str,
        body: str,
        content_type: str,
        payload: JSONDict,
        *,
        sign_with: str | None,
        timestamp: int | None,
        extra_headers: Mapping[str, str] | None = None,
        target: _ResponseTarget | None = None,
    ) -> httpx.Response:
        ts = int(time.time()) if timestamp is None else timestamp
        headers = {
            "Content-Type": content_type,
            "User-Agent": _USER_AGENT,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(body, ts, sign_with or self.signing_secret),
            **(extra_headers or {}),
        }
        delivery = Delivery(kind, url, body, headers, payload, time.time())
        with self._lock:
            self.deliveries.append(delivery)
        # One pooled client: a fresh httpx.post() builds an SSL context per call, and 50 of
        # those at once cost seconds of CPU that would be charged to the bot's ack time.
        response = self._deliverer.post(url, content=body.encode(), headers=headers,
                                        timeout=self.delivery_timeout)
        delivery.answered_at = time.time()
        delivery.status = response.status_code
        delivery.response_body = response.text
        if response.status_code == 200 and delivery.acked_in_time:
            if target is not None:
                delivery.errors = self._apply_ack_body(target, response.text)
            elif kind == "view_submission":
                delivery.errors = _view_ack_errors(response.text)
        with self._changed:
            self._changed.notify_all()
        return response

    def _apply_ack_body(self, target: _ResponseTarget, body: str) -> list[str]:
        """A slash command's ack body is shown like a response_url post; blocks are checked."""
        if not body.strip():
            return []
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"text": body}
        if not isinstance(payload, dict):
            return ["ack body is not a JSON object"]
        with self._lock:
            error = self._apply_response(target, payload)
        if error is None:
            return []
        return error[2] or [error[1]]

    def send_slash_command(
        self,
        request_url: str,
        text: str,
        user_id: str = "U1",
        channel_id: str = "C1",
        command: str = "/genai",
        *,
        sign_with: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST a signed slash command; the bot's HTTP answer is its ack."""
        fields = self.slash_command_payload(text, user_id, channel_id, command)
        rid = fields["response_url"].rsplit("/", 1)[1]
        return self._deliver(
            "slash_commands", request_url, urlencode(fields),
            "application/x-www-form-urlencoded", dict(fields),
            sign_with=sign_with, timestamp=timestamp, target=self._targets[rid],
        )

    def send_block_action(
        self,
        request_url: str,
        action_id: str,
        value: str | None = None,
        user_id: str = "U1",
        channel_id: str = "C1",
        message_ts: str | None = None,
        response_url: str | None = None,
        trigger_id: str | None = None,
        *,
        strict: bool = True,
        sign_with: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST a signed ``block_actions`` interaction (form field ``payload``)."""
        payload = self.block_action_payload(action_id, value, user_id, channel_id, message_ts,
                                            response_url, trigger_id, strict=strict)
        body = urlencode({"payload": json.dumps(payload)})
        return self._deliver("block_actions", request_url, body,
                             "application/x-www-form-urlencoded", payload,
                             sign_with=sign_with, timestamp=timestamp)

    def send_view_submission(
        self,
        request_url: str,
        callback_id: str,
        values: JSONDict,
        user_id: str = "U1",
        private_metadata: str = "",
        *,
        view_id: str | None = None,
        sign_with: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST a signed ``view_submission``; the answer may carry a ``response_action``."""
        payload = self.view_submission_payload(callback_id, values, user_id, private_metadata,
                                               view_id)
        body = urlencode({"payload": json.dumps(payload)})
        return self._deliver("view_submission", request_url, body,
                             "application/x-www-form-urlencoded", payload,
                             sign_with=sign_with, timestamp=timestamp)

    def send_event(
        self,
        request_url: str,
        event: JSONDict,
        event_id: str | None = None,
        retry_num: int | None = None,
        *,
        sign_with: str | None = None,
        timestamp: int | None = None,
    ) -> httpx.Response:
        """POST a signed Events API callback; ``retry_num`` marks it as Slack's retry."""
        envelope = self.event_envelope(event, event_id)
        extra = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self._deliver("events_api", request_url, json.dumps(envelope),
                             "application/json", envelope, sign_with=sign_with,
                             timestamp=timestamp, extra_headers=extra)

    def send_url_verification(self, request_url: str) -> httpx.Response:
        """The one-off ``url_verification`` handshake Slack does when a URL is saved."""
        payload = {"token": VERIFICATION_TOKEN, "challenge": secrets.token_hex(16),
                   "type": "url_verification"}
        return self._deliver("url_verification", request_url, json.dumps(payload),
                             "application/json", payload, sign_with=None, timestamp=None)

    # -- Socket Mode -------------------------------------------------------------------

    def _ws_check_ticket(self, conn: ServerConnection, request: Request) -> Response | None:
        """Refuse websocket upgrades whose ticket was not issued by apps.connections.open."""
        query = parse_qs(urlsplit(request.path).query)
        ticket = (query.get("ticket") or [""])[0]
        with self._lock:
            known = ticket in self._tickets
        if not known:
            return conn.respond(HTTPStatus.UNAUTHORIZED, "invalid ticket\n")
        return None

    def _ws_handler(self, ws: ServerConnection) -> None:
        conn = _SocketConn(ws, time.time())
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-standin", "build_number": 1,
                           "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        with self._changed:
            hello["num_connections"] = len(self._conns) + 1
        with conn.send_lock:
            ws.send(json.dumps(hello))
        with self._changed:
            conn.hello_at = time.time()
            self._conns.append(conn)
            self._changed.notify_all()
        try:
            for raw in ws:
                self._on_socket_message(raw if isinstance(raw, str) else raw.decode())
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                if conn in self._conns:
                    self._conns.remove(conn)
                self._changed.notify_all()

    def _on_socket_message(self, raw: str) -> None:
        at = time.time()
        try:
            message = json.loads(raw)
        except ValueError:
            message = {"raw": raw}
        with self._changed:
            self.socket_messages.append({"message": message, "at": at})
            envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
            if envelope_id is not None:
                sent = self._envelopes.get(str(envelope_id))
                ack: JSONDict = {
                    "envelope_id": envelope_id,
                    "payload": message.get("payload"),
                    "message": message,
                    "at": at,
                    "sent_at": sent["sent_at"] if sent else None,
                    "latency": at - sent["sent_at"] if sent else None,
                    "errors": [],
                }
                target = sent.get("target") if sent else None
                ack_payload = message.get("payload")
                if isinstance(ack_payload, dict) and target is not None:
                    error = self._apply_response(target, ack_payload)
                    if error is not None:
                        ack["errors"] = error[2] or [error[1]]
                elif isinstance(ack_payload, dict) and "response_action" in ack_payload:
                    ack["errors"] = _view_ack_errors(json.dumps(ack_payload))
                self.socket_acks.append(ack)
            self._changed.notify_all()

    def socket_connected(self, timeout: float = 5.0) -> bool:
        """Wait until a Socket Mode client has connected and received hello."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._conns:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    @property
    def socket_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def socket_send(
        self,
        kind: str,
        payload: JSONDict,
        *,
        accepts_response_payload: bool,
        retry_attempt: int = 0,
        retry_reason: str = "",
        target: _ResponseTarget | None = None,
        connect_timeout: float = 5.0,
    ) -> str:
        """Push one envelope to the newest connection; returns its envelope_id."""
        if not self.socket_connected(connect_timeout):
            raise AssertionError("no Socket Mode client is connected")
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        with self._lock:
            conn = self._conns[-1]
            record = {"envelope": envelope, "sent_at": time.time(), "target": target}
            self._envelopes[envelope_id] = record
            self.socket_sent.append(record)
        with conn.send_lock:
            conn.ws.send(json.dumps(envelope))
        return envelope_id

    def socket_send_slash_command(
        self, text: str, user_id: str = "U1", channel_id: str = "C1", command: str = "/genai"
    ) -> str:
        fields = self.slash_command_payload(text, user_id, channel_id, command)
        target = self._targets[fields["response_url"].rsplit("/", 1)[1]]
        return self.socket_send("slash_commands", dict(fields), accepts_response_payload=True,
                                target=target)

    def socket_send_block_action(
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
    ) -> str:
        payload = self.block_action_payload(action_id, value, user_id, channel_id, message_ts,
                                            response_url, trigger_id, strict=strict)
        return self.socket_send("interactive", payload, accepts_response_payload=False)

    def socket_send_view_submission(
        self,
        callback_id: str,
        values: JSONDict,
        user_id: str = "U1",
        private_metadata: str = "",
        *,
        view_id: str | None = None,
    ) -> str:
        payload = self.view_submission_payload(callback_id, values, user_id, private_metadata,
                                               view_id)
        return self.socket_send("interactive", payload, accepts_response_payload=True)

    def socket_send_event(
        self, event: JSONDict, event_id: str | None = None, retry_attempt: int = 0
    ) -> str:
        envelope = self.event_envelope(event, event_id)
        return self.socket_send(
            "events_api", envelope, accepts_response_payload=False,
            retry_attempt=retry_attempt, retry_reason="timeout" if retry_attempt else "",
        )

    def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does every few hours."""
        message = json.dumps({"type": "disconnect", "reason": reason,
                              "debug_info": {"host": "applink-standin"}})
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with conn.send_lock, contextlib.suppress(ConnectionClosed):
                conn.ws.send(message)

    def wait_socket_ack(self, envelope_id: str, timeout: float = ACK_DEADLINE_S) -> JSONDict:
        """The client's ack for ``envelope_id``: ``envelope_id``, ``payload`` (or None),
        ``message`` (raw), ``at``, ``sent_at``, ``latency`` and ``errors`` (blocks checks)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for ack in self.socket_acks:
                    if ack["envelope_id"] == envelope_id:
                        return ack
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"envelope {envelope_id} not acked within {timeout}s")
                self._changed.wait(left)
