"""Socket Mode: the websocket reached through apps.connections.open, envelopes and acks."""

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


class SocketMode(SlackState):
    """The server side of Socket Mode: hello, envelopes, acks, disconnects."""

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
