"""Constants and the records the Slack stand-in keeps: calls, deliveries, response targets."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.server import ServerConnection

from ..loopback import HOST as HOST  # the stand-ins' one loopback address

ACK_DEADLINE_S = 3.0
# Slack pings each Socket Mode connection every few seconds to tens of seconds and expects
# pongs; it does not promise a pace, so clients must ping it themselves to notice a dead
# connection. The stand-in pings this rarely by default so that its pings never hide that.
SOCKET_PING_INTERVAL_S = 10.0
MAX_SOCKET_CONNECTIONS = 10  # per app: apps.connections.open answers too_many_websockets
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


@dataclass(eq=False)
class _SocketConn:
    """One Socket Mode connection as Slack sees it; ``id`` is the relay's connection id."""

    ws: ServerConnection
    connected_at: float
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    hello_at: float | None = None
    id: str = ""
    refreshing: bool = False  # disconnect sent: new envelopes go elsewhere when they can
    half_open: bool = False  # the relay forwards nothing any more
    dropped: bool = False  # the relay reset it
    closing: bool = False  # Slack started the close: nothing new is routed here
    closed_at: float | None = None

    @property
    def healthy(self) -> bool:
        """Where Slack would route a new envelope."""
        return (self.hello_at is not None and self.closed_at is None
                and not (self.refreshing or self.half_open or self.dropped or self.closing))
