"""Socket Mode: the websocket reached through apps.connections.open, envelopes and acks.

Connections reach the websocket server through the relay (`relay`), which names each one
(``conn-1``...). Like Slack, the stand-in routes a new envelope to one healthy connection
(hello sent, no disconnect sent, not half-open or dropped: here the newest one) and takes
acks on any connection. What breaks connections lives in `socket_faults`.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from .records import ACK_DEADLINE_S, JSONDict, _ResponseTarget, _SocketConn
from .state import SlackState
from .views import _view_ack_errors

_CLOSED_BY = {True: "client", False: "server", None: None}  # close_rcvd_then_sent


class SocketMode(SlackState):
    """The server side of Socket Mode: hello, envelopes, acks, routing, the event log."""

    # -- the event log -----------------------------------------------------------------

    def _socket_event(self, event: str, conn_id: str, **fields: object) -> None:
        """Log one lifecycle event: opened, refused, hello, hello_withheld, disconnect,
        half_open, dropped, closing, closed, tcp_closed."""
        with self._changed:
            self.socket_events.append({"event": event, "conn": conn_id, "at": time.time(),
                                       **fields})
            self._changed.notify_all()

    def _conn_id(self, ws: ServerConnection) -> str:
        port = int(ws.remote_address[1])
        conn_id = self._relay.conn_id(port) if self._relay is not None else None
        return conn_id or f"direct-{port}"  # reached the websocket server past the relay

    # -- the server side -----------------------------------------------------------------

    def _ws_check_ticket(self, conn: ServerConnection, request: Request) -> Response | None:
        """Refuse websocket upgrades whose ticket was not issued by apps.connections.open."""
        query = parse_qs(urlsplit(request.path).query)
        ticket = (query.get("ticket") or [""])[0]
        with self._lock:
            known = ticket in self._tickets
        if not known:
            self._socket_event("refused", self._conn_id(conn), status=401)
            return conn.respond(HTTPStatus.UNAUTHORIZED, "invalid ticket\n")
        return None

    def _ws_handler(self, ws: ServerConnection) -> None:
        conn = _SocketConn(ws, time.time(), id=self._conn_id(ws))
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-standin", "build_number": 1,
                           "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        with self._changed:
            self._all_conns[conn.id] = conn
            hello["num_connections"] = len(self._open_conns()) + 1
            delay = self._hello_delays.popleft() if self._hello_delays else 0.0
        try:
            if delay is None or (delay and not self._hold_hello(ws, delay)):
                self._socket_event("hello_withheld", conn.id)
                for _ in ws:  # pings are still answered; nothing else happens here
                    pass
                return
            with conn.send_lock:
                ws.send(json.dumps(hello))
            with self._changed:
                conn.hello_at = time.time()
                self._conns.append(conn)
                self._changed.notify_all()
            self._socket_event("hello", conn.id, num_connections=hello["num_connections"])
            for raw in ws:
                self._on_socket_message(raw if isinstance(raw, str) else raw.decode(), conn)
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                conn.closed_at = time.time()
                if conn in self._conns:
                    self._conns.remove(conn)
            self._socket_event("closed", conn.id, by=_CLOSED_BY[ws.protocol.close_rcvd_then_sent],
                               code=ws.close_code, reason=ws.close_reason)

    @staticmethod
    def _hold_hello(ws: ServerConnection, delay: float) -> bool:
        """Wait ``delay`` s before the hello; False if the client left meanwhile."""
        try:
            ws.recv(timeout=delay)  # a client has nothing to say before its hello
        except TimeoutError:
            return True
        except ConnectionClosed:
            return False
        return True

    def _on_socket_message(self, raw: str, conn: _SocketConn) -> None:
        at = time.time()
        try:
            message = json.loads(raw)
        except ValueError:
            message = {"raw": raw}
        with self._changed:
            self.socket_messages.append({"message": message, "at": at, "conn": conn.id})
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
                    "conn": conn.id,  # the connection the ack came on
                    "sent_conn": sent["conn"] if sent else None,
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

    # -- connections -----------------------------------------------------------------------

    def _open_conns(self) -> list[_SocketConn]:
        """Connections Slack still counts (hello sent, not closed nor dropped), oldest first;
        call with the lock held."""
        return [c for c in self._conns if not c.dropped and c.closed_at is None]

    def _pick_conn(self, conn: str | None) -> _SocketConn:
        """``conn`` by id (open or not), or the oldest open connection."""
        with self._lock:
            if conn is not None:
                if conn not in self._all_conns:
                    raise AssertionError(f"no Socket Mode connection {conn!r}; "
                                         f"known: {sorted(self._all_conns)}")
                return self._all_conns[conn]
            open_conns = self._open_conns()
            if not open_conns:
                raise AssertionError("no Socket Mode connection is open")
            return open_conns[0]

    def socket_connected(self, timeout: float = 5.0) -> bool:
        """Wait until a healthy connection exists: hello sent, not refreshing, half-open or
        dropped (after `socket_refresh`, that is the client's new connection)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(c.healthy for c in self._conns):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    @property
    def socket_connections(self) -> int:
        """How many connections are open as Slack sees them (refreshing, half-open too)."""
        with self._lock:
            return len(self._open_conns())

    def socket_connection_ids(self) -> list[str]:
        """Ids of the open connections, oldest first."""
        with self._lock:
            return [c.id for c in self._open_conns()]

    def _route(self, conn: str | None, connect_timeout: float) -> _SocketConn:
        """The newest healthy connection (waiting up to ``connect_timeout`` for one), else
        the newest refreshing one still up; ``conn`` forces one, healthy or not."""
        if conn is not None:
            return self._pick_conn(conn)
        deadline = time.monotonic() + connect_timeout
        with self._changed:
            while True:
                healthy = [c for c in self._conns if c.healthy]
                if healthy:
                    return healthy[-1]
                leaving = [c for c in self._open_conns()
                           if c.refreshing and not (c.half_open or c.closing)]
                if leaving:
                    return leaving[-1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no Socket Mode client is connected")
                self._changed.wait(left)

    # -- envelopes -----------------------------------------------------------------------

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
        conn: str | None = None,
    ) -> str:
        """Push one envelope (see `_route` for which connection); returns its envelope_id.
        One sent to a half-open connection is never delivered. When the routed connection
        closes under the send, Slack still holds the envelope and routes it again; one
        forced onto a closed connection (``conn``) is recorded with ``error``."""
        deadline = time.monotonic() + connect_timeout
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": retry_attempt,
            "retry_reason": retry_reason,
        }
        record: JSONDict = {"envelope": envelope, "sent_at": time.time(), "target": target,
                            "conn": None, "error": None}
        with self._lock:
            self._envelopes[envelope_id] = record
            self.socket_sent.append(record)
        while True:
            chosen = self._route(conn, max(0.0, deadline - time.monotonic()))
            with self._lock:
                record["conn"] = chosen.id
            try:
                with chosen.send_lock:
                    chosen.ws.send(json.dumps(envelope))
                return envelope_id
            except ConnectionClosed as exc:
                if conn is not None:
                    with self._lock:
                        record["error"] = f"connection closed: {exc}"
                    return envelope_id
                with self._changed:  # closed under us: not a place to route to any more
                    chosen.closing = True

    def socket_send_slash_command(
        self, text: str, user_id: str = "U1", channel_id: str = "C1", command: str = "/genai",
        *, conn: str | None = None,
    ) -> str:
        fields = self.slash_command_payload(text, user_id, channel_id, command)
        target = self._targets[fields["response_url"].rsplit("/", 1)[1]]
        return self.socket_send("slash_commands", dict(fields), accepts_response_payload=True,
                                target=target, conn=conn)

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
        conn: str | None = None,
    ) -> str:
        payload = self.block_action_payload(action_id, value, user_id, channel_id, message_ts,
                                            response_url, trigger_id, strict=strict)
        return self.socket_send("interactive", payload, accepts_response_payload=False,
                                conn=conn)

    def socket_send_view_submission(
        self,
        callback_id: str,
        values: JSONDict,
        user_id: str = "U1",
        private_metadata: str = "",
        *,
        view_id: str | None = None,
        conn: str | None = None,
    ) -> str:
        payload = self.view_submission_payload(callback_id, values, user_id, private_metadata,
                                               view_id)
        return self.socket_send("interactive", payload, accepts_response_payload=True,
                                conn=conn)

    def socket_send_event(
        self, event: JSONDict, event_id: str | None = None, retry_attempt: int = 0,
        *, retry_reason: str | None = None, conn: str | None = None,
    ) -> str:
        """An Events API envelope; Slack retries one it got no ack for (same ``event_id``,
        ``retry_attempt`` 1..3, ``retry_reason`` "timeout"), maybe on another connection."""
        envelope = self.event_envelope(event, event_id)
        if retry_reason is None:
            retry_reason = "timeout" if retry_attempt else ""
        return self.socket_send(
            "events_api", envelope, accepts_response_payload=False,
            retry_attempt=retry_attempt, retry_reason=retry_reason, conn=conn,
        )

    def wait_socket_ack(self, envelope_id: str, timeout: float = ACK_DEADLINE_S) -> JSONDict:
        """The client's ack for ``envelope_id``: ``envelope_id``, ``payload`` (or None),
        ``message`` (raw), ``at``, ``sent_at``, ``latency``, ``conn`` (the connection it
        came on), ``sent_conn`` and ``errors`` (blocks checks)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for ack in self.socket_acks:
                    if ack["envelope_id"] == envelope_id:
                        return ack
                left = deadline - time.monotonic()
                if left <= 0:
                    sent = self._envelopes.get(envelope_id, {})
                    raise AssertionError(
                        f"envelope {envelope_id} not acked within {timeout}s (sent on "
                        f"{sent.get('conn')} at {sent.get('sent_at')}, send error: "
                        f"{sent.get('error')}); events: {self.socket_events[-12:]}")
                self._changed.wait(left)

    def _send_quietly(self, conn: _SocketConn, message: JSONDict) -> bool:
        with conn.send_lock, contextlib.suppress(ConnectionClosed):
            conn.ws.send(json.dumps(message))
            return True
        return False
