"""A strict stand-in for Slack (the SaaS) that serves the real protocols on 127.0.0.1.

The bot under test talks to it with the real ``slack_sdk`` / ``slack_bolt`` code, the way
bolt-python's own tests use a local mock server:

* Web API methods under ``/api/<method>`` (form, JSON or query parameters, Bearer auth);
* ``response_url`` and incoming-webhook endpoints;
* a Socket Mode websocket, reached through ``apps.connections.open`` and a TCP relay that
  breaks connections the way Slack and networks do (refresh, close, drop, half-open);
* signed HTTP deliveries to a bot in HTTP mode (slash commands, interactivity, events).

It is strict where Slack is: Block Kit limits, token types, trigger_id expiry, 429s with
``Retry-After``. Everything is recorded with ``time.time()`` timestamps so tests can assert
ack latency and what a user would see.

The package, one idea per module: `records` (constants, `Call`, `Delivery`), `answers`
(Slack's error shapes), `state` (what the parts share), `recording`, `faults`, `web_api`
(the `/api/<method>` front door), `messages` (chat.*), `conversations`, `views`,
`responses` (response_url and incoming webhooks), `payloads`, `deliveries` (signed HTTP),
`socket_mode` (envelopes, acks, routing), `socket_faults` (what breaks connections),
`relay` (the TCP relay in front of the websocket server), and `server` (`SlackStandin`,
on the shared `tests.harness.loopback` base).
Everything public is re-exported here, so `from tests.harness.slack import SlackStandin`
works as before.
"""

from __future__ import annotations

from .deliveries import sign
from .messages import public_message
from .payloads import iter_elements
from .records import (
    ACK_DEADLINE_S,
    CHANNEL_ID,
    DEFAULT_CHANNELS,
    HISTORY_MAX_LIMIT,
    HOST,
    MAX_SOCKET_CONNECTIONS,
    RESPONSE_URL_MAX_USES,
    SOCKET_PING_INTERVAL_S,
    TRIGGER_TTL_S,
    VERIFICATION_TOKEN,
    ApiAnswer,
    Call,
    Delivery,
    JSONDict,
)
from .server import SlackStandin

__all__ = [
    "ACK_DEADLINE_S",
    "CHANNEL_ID",
    "DEFAULT_CHANNELS",
    "HISTORY_MAX_LIMIT",
    "HOST",
    "MAX_SOCKET_CONNECTIONS",
    "RESPONSE_URL_MAX_USES",
    "SOCKET_PING_INTERVAL_S",
    "TRIGGER_TTL_S",
    "VERIFICATION_TOKEN",
    "ApiAnswer",
    "Call",
    "Delivery",
    "JSONDict",
    "SlackStandin",
    "iter_elements",
    "public_message",
    "sign",
]
