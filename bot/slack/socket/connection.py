"""One Socket Mode websocket: opened with keepalive pings, read by its own thread, written
under a lock, ended with a close frame that does not wait forever for Slack's answer."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.sync.client import ClientConnection, connect

CLOSE_TIMEOUT = 1.0  # waiting for the peer's close frame; a dead peer never sends one
MAX_MESSAGE = 16 << 20  # a view submission can be large; Slack's own limit is far above 1 MiB
_ids = itertools.count(1)

# websockets logs a traceback when a keepalive ping times out ("keepalive ping failed");
# the runner already says it in one line (socket.closed, why: no pong …).
_WS_LOG = logging.getLogger("websockets.client")
_WS_LOG.addFilter(lambda record: record.getMessage() != "keepalive ping failed")


class NotSent(Exception):
    """The connection was closed before the message could be written."""


class Connection:
    """A websocket to Slack. ``on_message`` runs in the reader thread for every text frame;
    ``on_closed`` runs once, in the same thread, with why it ended."""

    # Acks are small and latency-bound: Nagle's algorithm would hold one back until the
    # previous segment is acknowledged (the benchmark turns it off to show the difference).
    NODELAY = True

    def __init__(self, url: str, *, ping_interval: float, ping_timeout: float,
                 on_message: Callable[[Connection, str], None],
                 on_closed: Callable[[Connection, str], None]) -> None:
        self.id = next(_ids)
        self.url = url
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.on_message = on_message
        self.on_closed = on_closed
        self.hello = False  # Slack said hello: envelopes may arrive
        self.refreshing = False  # Slack asked us to move to a new connection
        self.opened_at = time.monotonic()
        self._ws: ClientConnection | None = None
        self._send_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def open(self, timeout: float = 10.0) -> None:
        """Connect and start reading. Keepalive: a ping every ``ping_interval`` s, and the
        connection is given up when no pong comes within ``ping_timeout`` s (a half-open
        connection, a silent drop), so deafness is bounded by their sum."""
        self._ws = connect(self.url, open_timeout=timeout, ping_interval=self.ping_interval,
                           ping_timeout=self.ping_timeout, close_timeout=CLOSE_TIMEOUT,
                           max_size=MAX_MESSAGE, compression=None)
        self._ws.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(self.NODELAY))
        self._thread = threading.Thread(target=self._read, name=f"socket-mode-{self.id}",
                                        daemon=True)
        self._thread.start()

    @property
    def healthy(self) -> bool:
        """Open, greeted and not on its way out: where envelopes are expected."""
        return self.hello and not self.refreshing and self.is_open

    @property
    def is_open(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def send(self, text: str) -> None:
        if self._ws is None:
            raise NotSent("not open")
        try:
            with self._send_lock:
                self._ws.send(text)
        except (ConnectionClosed, OSError) as exc:
            raise NotSent(str(exc)) from None

    def close(self, reason: str = "shutting down") -> None:
        """A close frame (1000), waiting at most 1 s for Slack's before dropping the TCP
        connection."""
        if self._ws is not None:
            self._ws.close(1000, reason[:100])
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(CLOSE_TIMEOUT + 1.0)

    def _read(self) -> None:
        assert self._ws is not None
        why = "closed"
        try:
            for raw in self._ws:
                self.on_message(self, raw if isinstance(raw, str) else raw.decode("utf-8"))
            why = _closed_how(self._ws)
        except ConnectionClosedError as exc:
            why = ("dropped without a close frame" if exc.rcvd is None
                   else f"closed by Slack ({exc.rcvd.code} {exc.rcvd.reason})".strip())
            if exc.sent is not None and exc.sent.code == 1011:
                why = "no pong to our keepalive ping (a half-open connection)"
        except (ConnectionClosed, OSError) as exc:
            why = f"{type(exc).__name__}: {exc}"
        finally:
            self.on_closed(self, why)


def _closed_how(ws: ClientConnection) -> str:
    """Why the iteration ended cleanly: who sent the first close frame."""
    exc = ws.close_exc
    slack_first = exc.rcvd is not None and (exc.sent is None or bool(exc.rcvd_then_sent))
    if slack_first and exc.rcvd is not None:
        reason = f" {exc.rcvd.reason}" if exc.rcvd.reason else ""
        return f"closed by Slack ({exc.rcvd.code}{reason})"
    if exc.sent is not None:
        return f"closed by us ({exc.sent.code})"
    return "closed"
