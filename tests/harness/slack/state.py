"""The state every part of the Slack stand-in shares, declared once.

`SlackStandin` is assembled from mixins (recording, faults, Web API, messages,
conversations, views, response_url and webhooks, payloads, deliveries, Socket Mode), one
module each; they all work on the attributes below, which `SlackStandin.__init__` sets up.
A mixin calls another's methods through `self`.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict, deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx
    from websockets.sync.server import Server

    from .faults import _TokenBucket
    from .records import Call, Delivery, JSONDict, _ResponseTarget, _SocketConn
    from .relay import Relay


class SlackState:
    """Attribute declarations only: no behaviour, no initialisation."""

    bot_token: str
    app_token: str
    signing_secret: str
    team_id: str
    bot_user_id: str
    bot_id: str
    app_id: str
    team_domain: str
    strict_triggers: bool
    trigger_ttl: float
    socket_ping_interval: float
    delivery_timeout: float

    calls: list[Call]
    messages: defaultdict[str, list[JSONDict]]
    channel_names: dict[str, str]
    ephemerals: list[JSONDict]
    views: dict[str, JSONDict]
    responses: list[JSONDict]
    deliveries: list[Delivery]
    usergroups: dict[str, list[str]]
    revoked: set[str]
    socket_sent: list[JSONDict]
    socket_acks: list[JSONDict]
    socket_messages: list[JSONDict]
    socket_events: list[JSONDict]

    _lock: threading.RLock
    _changed: threading.Condition
    _last_ts_us: int
    _fail_queue: dict[str, deque[tuple[int, int]]]
    _drop_queue: dict[str, int]
    _hold_queue: dict[str, int]
    _held: int
    _release_held: threading.Event
    _channel_errors: dict[str, str]
    _ratio: tuple[float, int, random.Random, frozenset[str] | None] | None
    _channel_bucket: tuple[_TokenBucket, int] | None
    _triggers: dict[str, tuple[float, bool]]
    _targets: dict[str, _ResponseTarget]
    _webhooks: dict[str, str]
    _tickets: set[str]
    _envelopes: dict[str, JSONDict]
    _conns: list[_SocketConn]
    _all_conns: dict[str, _SocketConn]
    _refusals: deque[tuple[str, int | None]]
    _hello_delays: deque[float | None]
    _socket_timers: list[threading.Timer]
    _relay: Relay | None
    _event_target: str | None
    _deliverer: httpx.Client
    _ws: Server | None
