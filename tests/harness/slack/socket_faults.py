"""What happens to Socket Mode connections in real life, on purpose.

* `socket_refresh`: what Slack does every few hours: a ``disconnect`` message, new envelopes
  go to the app's other connections, and a close frame ``close_after_s`` later.
* `socket_close`: a clean close frame with no ``disconnect`` warning before it.
* `socket_drop`: the connection dies without a close frame (a TCP reset, via the relay).
* `socket_half_open`: the connection goes silent, both TCP sockets stay open (via the relay).

``conn=None`` means the oldest open connection. Every step is logged in `socket_events`
(dicts with ``event``, ``conn``, ``at`` and details), which `wait_socket_event` waits on.
"""

from __future__ import annotations

import contextlib
import threading
import time

from .records import JSONDict, _SocketConn
from .socket_mode import SocketMode


class SocketFaults(SocketMode):
    """Break Socket Mode connections the ways Slack and networks do."""

    def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Send ``disconnect`` on every open connection (no close follows: see
        `socket_refresh`); they stop getting new envelopes while another is healthy."""
        with self._lock:
            conns = self._open_conns()
        for conn in conns:
            self._warn(conn, reason)

    def socket_refresh(
        self, conn: str | None = None, close_after_s: float = 10.0,
        reason: str = "refresh_requested", *, code: int = 1000,
    ) -> str:
        """Send ``disconnect`` on one connection, keep it open (acks and envelopes already
        sent still flow; new envelopes go to other connections when there are any) and
        close it with a close frame ``code`` after ``close_after_s``. Returns its id."""
        chosen = self._pick_conn(conn)
        self._warn(chosen, reason)
        timer = threading.Timer(close_after_s, self._close_conn, (chosen, code, ""))
        timer.daemon = True
        with self._lock:
            self._socket_timers.append(timer)
        timer.start()
        return chosen.id

    def socket_close(self, conn: str | None = None, code: int = 1000, reason: str = "") -> str:
        """Start a clean close (close frame ``code``/``reason``) with no ``disconnect``
        before it; returns the id. The handshake ends in the background: wait for it with
        ``wait_socket_event("closed", conn)``."""
        chosen = self._pick_conn(conn)
        threading.Thread(target=self._close_conn, args=(chosen, code, reason),
                         name=f"slack-ws-close-{chosen.id}", daemon=True).start()
        return chosen.id

    def socket_drop(self, conn: str | None = None) -> str:
        """Kill the connection without a close frame: the client's TCP socket is reset
        (``SO_LINGER`` 0), the server's closed quietly. Returns the id."""
        chosen = self._pick_conn(conn)
        with self._changed:
            chosen.dropped = True
            self._changed.notify_all()
        self._socket_event("dropped", chosen.id)
        if self._relay is None or not self._relay.drop(chosen.id):
            raise AssertionError(f"connection {chosen.id} is not relayed (already gone?)")
        return chosen.id

    def socket_half_open(self, conn: str | None = None) -> str:
        """Make the connection stop answering: nothing is forwarded either way any more
        (envelopes, pings, pongs, acks, close frames are lost) and both TCP sockets stay
        open, so the client is told nothing. Returns the id."""
        chosen = self._pick_conn(conn)
        with self._changed:
            chosen.half_open = True
            self._changed.notify_all()
        self._socket_event("half_open", chosen.id)
        if self._relay is None or not self._relay.half_open(chosen.id):
            raise AssertionError(f"connection {chosen.id} is not relayed (already gone?)")
        return chosen.id

    def wait_socket_event(
        self, event: str, conn: str | None = None, timeout: float = 5.0
    ) -> JSONDict:
        """The first logged ``event`` (on ``conn`` if given), waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for logged in self.socket_events:
                    if logged["event"] == event and conn in (None, logged["conn"]):
                        return logged
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no {event!r} event{f' on {conn}' if conn else ''} within "
                        f"{timeout}s; events: {self.socket_events}")
                self._changed.wait(left)

    def _warn(self, conn: _SocketConn, reason: str) -> None:
        with self._changed:
            conn.refreshing = True
            self._changed.notify_all()
        message = {"type": "disconnect", "reason": reason,
                   "debug_info": {"host": "applink-standin"}}
        sent = self._send_quietly(conn, message)
        self._socket_event("disconnect", conn.id, reason=reason, sent=sent)

    def _close_conn(self, conn: _SocketConn, code: int, reason: str) -> None:
        if conn.closed_at is not None:
            return
        with self._changed:
            conn.closing = True
            self._changed.notify_all()
        self._socket_event("closing", conn.id, code=code, reason=reason)
        with contextlib.suppress(Exception):
            conn.ws.close(code, reason)
