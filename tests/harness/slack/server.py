"""`SlackStandin`: the loopback HTTP server plus the Socket Mode websocket, assembled."""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from typing import Self
from urllib.parse import urlsplit

import httpx
from websockets.sync.server import Server, serve

from ..loopback import HOST, LoopbackHandler, LoopbackServer
from .conversations import Conversations
from .deliveries import Deliveries
from .faults import Faults, _TokenBucket
from .messages import Messages
from .payloads import Payloads
from .recording import Recording
from .records import (
    _DROP,
    DEFAULT_CHANNELS,
    SOCKET_PING_INTERVAL_S,
    TRIGGER_TTL_S,
    Call,
    Delivery,
    JSONDict,
    _ResponseTarget,
    _SocketConn,
)
from .relay import Relay
from .responses import Responses
from .socket_faults import SocketFaults
from .views import Views
from .web_api import WebApi


class SlackStandin(Recording, Faults, WebApi, Messages, Conversations, Views, Responses,
                   Payloads, Deliveries, SocketFaults, LoopbackServer):
    """Strict local Slack: Web API, response_url, webhooks, Socket Mode, signed deliveries.

    Socket Mode clients reach the websocket server through a TCP relay (`relay.Relay`),
    which names each connection and can reset it or make it half-open; see
    `socket_faults` for the connection faults and `socket_mode` for envelope routing.
    """

    methods = ("GET", "POST")
    thread_name = "slack-http"
    join_timeout = 2.0

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
        socket_ping_interval: float = SOCKET_PING_INTERVAL_S,
    ) -> None:
        LoopbackServer.__init__(self)
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
        # Slack pings each connection every few seconds to tens of seconds and expects
        # pongs; clients should ping too. Nothing on the client side may rely on these.
        self.socket_ping_interval = socket_ping_interval

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.calls: list[Call] = []
        self.messages: defaultdict[str, list[JSONDict]] = defaultdict(list)
        # Like a workspace: channels have ids (C…) and names. chat.postMessage takes either;
        # chat.update, conversations.history/replies and reactions take only the id.
        self.channel_names: dict[str, str] = {}
        for name in DEFAULT_CHANNELS:
            self.create_channel(name)
        self.ephemerals: list[JSONDict] = []
        self.views: dict[str, JSONDict] = {}
        self.responses: list[JSONDict] = []
        self.deliveries: list[Delivery] = []
        self.usergroups: dict[str, list[str]] = {}
        self.revoked: set[str] = set()
        self.socket_sent: list[JSONDict] = []
        self.socket_acks: list[JSONDict] = []
        self.socket_messages: list[JSONDict] = []
        self.socket_events: list[JSONDict] = []

        self._last_ts_us = 0
        self._fail_queue: dict[str, deque[tuple[int, int]]] = defaultdict(deque)
        self._drop_queue: dict[str, int] = defaultdict(int)
        self._hold_queue: dict[str, int] = defaultdict(int)
        self._held = 0
        self._release_held = threading.Event()
        self._channel_errors: dict[str, str] = {}
        self._ratio = None
        self._channel_bucket: tuple[_TokenBucket, int] | None = None
        self._triggers: dict[str, tuple[float, bool]] = {}
        self._targets: dict[str, _ResponseTarget] = {}
        self._webhooks: dict[str, str] = {}
        self._tickets: set[str] = set()
        self._envelopes: dict[str, JSONDict] = {}
        self._conns: list[_SocketConn] = []
        self._all_conns: dict[str, _SocketConn] = {}
        self._refusals: deque[tuple[str, int | None]] = deque()
        self._hello_delays: deque[float | None] = deque()
        self._socket_timers: list[threading.Timer] = []
        self._relay: Relay | None = None
        self._event_target: str | None = None

        # Slack itself gives up after 3 s; benchmarks raise this to measure how late acks are.
        self.delivery_timeout = 10.0
        self._deliverer = httpx.Client(limits=httpx.Limits(max_connections=256,
                                                           max_keepalive_connections=64))
        self._ws: Server | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the HTTP server, the websocket server and its relay to 127.0.0.1 on free
        ports and serve them in threads."""
        if self.httpd is not None:
            return self
        super().start()  # the HTTP side, in thread "slack-http"
        self._ws = serve(
            self._ws_handler,
            HOST,
            0,
            process_request=self._ws_check_ticket,
            compression=None,
            close_timeout=1,
            ping_interval=self.socket_ping_interval,
            # Like Slack, give up on a connection that misses pongs (a half-open one's
            # server side goes, its client side stays: see `socket_half_open`).
            ping_timeout=max(self.socket_ping_interval, 1.0) * 2,
        )
        thread = threading.Thread(target=self._ws.serve_forever, name="slack-ws", daemon=True)
        thread.start()
        self._threads.append(thread)
        self._relay = Relay(int(self._ws.socket.getsockname()[1]), self._socket_event).start()
        return self

    def stop(self) -> None:
        """Close the websocket server (close frames 1001 through the relay), the relay and
        the HTTP server, and join their threads (about 2 s at most)."""
        with self._lock:
            timers, self._socket_timers = self._socket_timers, []
        for timer in timers:
            timer.cancel()
        self.release_held()
        if self._relay is not None:
            self._relay.release_half_open()  # no close handshake can cross them
        if self._ws is not None:
            self._ws.shutdown()
        if self._relay is not None:
            self._relay.stop()
        super().stop()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads.clear()
        self._ws = None
        self._relay = None
        with self._lock:
            self._conns.clear()

    @property
    def port(self) -> int:
        assert self.httpd is not None, "SlackStandin is not started"
        return int(self.httpd.server_address[1])

    @property
    def ws_port(self) -> int:
        """The Socket Mode port clients connect to: the relay's (see `relay`)."""
        assert self._relay is not None, "SlackStandin is not started"
        return self._relay.port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        """Pass as ``WebClient(base_url=...)``; ends with a slash like slack_sdk's default."""
        return f"{self.base_url}/api/"

    # -- routing -----------------------------------------------------------------------

    def on_request(self, request: LoopbackHandler) -> None:
        """Route /api/*, /response/* and /services/* to their handlers."""
        url = urlsplit(request.path)
        raw = request.read_body()
        ctype = request.headers.get("Content-Type", "")
        if url.path.startswith("/api/"):
            status, body, extra = self._handle_api(
                url.path[len("/api/") :], url.query, raw, ctype,
                request.headers.get("Authorization") or "",
            )
            if status == _DROP:
                request.close_connection = True  # no answer at all: the client sees a reset
                return
            request.reply(status, json.dumps(body).encode(), "application/json; charset=utf-8",
                          extra)
        elif url.path.startswith("/response/"):
            status, text = self._handle_response_url(url.path[len("/response/") :], raw)
            request.reply(status, text.encode(), "text/plain; charset=utf-8")
        elif url.path.startswith("/services/"):
            status, text = self._handle_webhook(url.path[len("/services/") :], raw)
            request.reply(status, text.encode(), "text/plain; charset=utf-8")
        else:
            request.reply(404, b"not found", "text/plain")
