"""The stand-in's Socket Mode side breaks connections the ways Slack and networks do.

Driven with a plain ``websockets.sync.client`` client (not the bot), so each fault is seen
exactly as a client would see it: a refresh (``disconnect``, then a close frame), a close
with no warning, a dropped connection (no close frame at all), a half-open one (silence),
refused ``apps.connections.open`` calls, and Slack's limit of 10 connections per app.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from tests.harness.slack import SlackStandin


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    with SlackStandin() as standin:
        yield standin


class _Clients(list[ClientConnection]):
    """The test's websocket clients, closed at the end (connect() as a context manager)."""

    def __init__(self, stack: ExitStack) -> None:
        super().__init__()
        self.stack = stack


@pytest.fixture
def clients() -> Iterator[_Clients]:
    with ExitStack() as stack:
        yield _Clients(stack)


def _connections_open(slack: SlackStandin, token: str | None = None) -> Any:
    """apps.connections.open through slack_sdk, as the SDKs' Socket Mode clients call it."""
    token = token or slack.app_token
    return WebClient(base_url=slack.api_url, token=token).apps_connections_open(app_token=token)


def _open(slack: SlackStandin, clients: _Clients) -> tuple[ClientConnection, str]:
    """A client connected the way Slack's SDKs do it; returns it and its connection id."""
    before = set(slack.socket_connection_ids())
    url = _connections_open(slack)["url"]
    # No client keepalive: each test pings by hand when it wants to.
    ws = clients.stack.enter_context(
        connect(url, ping_interval=None, close_timeout=0.3, open_timeout=2))
    clients.append(ws)
    hello = json.loads(ws.recv(timeout=2))
    assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == slack.app_id
    deadline = time.monotonic() + 2
    while not (new := set(slack.socket_connection_ids()) - before):
        assert time.monotonic() < deadline, "the stand-in never registered the connection"
        time.sleep(0.01)
    (conn_id,) = new
    return ws, conn_id


def _recv(ws: ClientConnection, timeout: float = 2.0) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=timeout))
    assert isinstance(message, dict)
    return message


def _ack(ws: ClientConnection, envelope: dict[str, Any], **payload: Any) -> None:
    ack: dict[str, Any] = {"envelope_id": envelope["envelope_id"]}
    if payload:
        ack["payload"] = payload
    ws.send(json.dumps(ack))


def _events(slack: SlackStandin, conn_id: str) -> list[str]:
    with slack._lock:
        return [e["event"] for e in slack.socket_events if e["conn"] == conn_id]


def test_slack_pace_of_pings_and_the_relay_in_front() -> None:
    assert SlackStandin().socket_ping_interval == 10.0  # Slack pings rarely: clients must
    with SlackStandin(socket_ping_interval=3.0) as slack:
        assert slack.socket_ping_interval == 3.0
        url = _connections_open(slack)
        assert url["url"].startswith(f"ws://127.0.0.1:{slack.ws_port}/")
        assert slack._ws is not None and slack._ws.socket.getsockname()[1] != slack.ws_port


def test_round_trip_records_the_connection_and_latency(
    slack: SlackStandin, clients: _Clients
) -> None:
    ws, conn_id = _open(slack, clients)
    assert slack.socket_connected(timeout=1) and slack.socket_connections == 1
    envelope_id = slack.socket_send_slash_command("status", user_id="U5")
    envelope = _recv(ws)
    assert envelope["envelope_id"] == envelope_id and envelope["type"] == "slash_commands"
    _ack(ws, envelope, text="working")
    ack = slack.wait_socket_ack(envelope_id, timeout=2)
    assert ack["conn"] == ack["sent_conn"] == conn_id
    assert 0 <= ack["latency"] < 1 and slack.ephemerals[-1]["text"] == "working"
    assert slack.socket_messages[-1]["conn"] == conn_id
    ws.close()
    closed = slack.wait_socket_event("closed", conn_id)
    assert (closed["by"], closed["code"]) == ("client", 1000)
    slack.wait_socket_event("tcp_closed", conn_id)
    events = _events(slack, conn_id)  # the relay and the server log their ends independently
    assert events[:2] == ["opened", "hello"] and sorted(events[2:]) == ["closed", "tcp_closed"]
    assert slack.socket_connection_ids() == [] and not slack.socket_connected(timeout=0.05)


def test_drop_resets_without_a_close_frame(
    slack: SlackStandin, clients: _Clients
) -> None:
    ws, conn_id = _open(slack, clients)
    assert slack.socket_drop() == conn_id  # the oldest open connection
    with pytest.raises(ConnectionClosedError) as closed:
        ws.recv(timeout=2)
    assert closed.value.rcvd is None and closed.value.sent is None
    assert isinstance(closed.value.__cause__, ConnectionResetError)  # a reset, not a FIN
    server_side = slack.wait_socket_event("closed", conn_id)
    assert (server_side["by"], server_side["code"]) == (None, 1006)  # no frame either way
    assert slack.socket_connection_ids() == []
    assert "dropped" in _events(slack, conn_id)


def test_half_open_goes_silent_and_keeps_tcp_open(
    slack: SlackStandin, clients: _Clients
) -> None:
    ws, conn_id = _open(slack, clients)
    assert ws.ping().wait(1.0)  # healthy: the pong comes back
    assert slack.socket_half_open(conn_id) == conn_id
    assert not ws.ping().wait(0.5)  # no pong within the client's timeout...
    assert ws.protocol.state is State.OPEN and ws.socket.fileno() != -1  # ...nothing closed
    envelope_id = slack.socket_send_event({"type": "app_mention", "text": "hi"}, conn=conn_id)
    with pytest.raises(TimeoutError):  # an envelope sent to it is never delivered
        ws.recv(timeout=0.3)
    assert slack.socket_sent[-1]["conn"] == conn_id and slack.socket_sent[-1]["error"] is None
    with pytest.raises(AssertionError, match="no Socket Mode client"):  # not routed there
        slack.socket_send("events_api", {"event": {}}, accepts_response_payload=False,
                          connect_timeout=0.1)
    ws.send(json.dumps({"envelope_id": envelope_id}))  # an ack that never arrives
    time.sleep(0.1)
    assert slack.socket_acks == []
    assert ws.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    assert _events(slack, conn_id) == ["opened", "hello", "half_open"]
    assert not slack.socket_connected(timeout=0.05) and slack.socket_connection_ids() == [conn_id]


def test_refresh_warns_moves_new_envelopes_then_closes(
    slack: SlackStandin, clients: _Clients
) -> None:
    old, old_id = _open(slack, clients)
    in_flight = slack.socket_send_slash_command("status")
    envelope = _recv(old)
    slack.socket_refresh(close_after_s=0.5)
    warned_at = time.time()
    disconnect = _recv(old)
    assert disconnect["type"] == "disconnect" and disconnect["reason"] == "refresh_requested"
    _ack(old, envelope, text="still here")  # what was in flight is still acked on it
    assert slack.wait_socket_ack(in_flight, timeout=2)["conn"] == old_id
    assert not slack.socket_connected(timeout=0.05)  # a refreshing connection is not healthy

    new, new_id = _open(slack, clients)
    assert slack.socket_connected(timeout=1)
    assert slack.socket_connection_ids() == [old_id, new_id]
    moved = slack.socket_send_slash_command("status")
    got = _recv(new)
    assert got["envelope_id"] == moved
    _ack(new, got)
    assert slack.wait_socket_ack(moved, timeout=2)["conn"] == new_id

    with pytest.raises(ConnectionClosedOK) as closed:  # no envelope before the close frame
        old.recv(timeout=3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    event = slack.wait_socket_event("closed", old_id)
    assert event["by"] == "server" and event["code"] == 1000
    assert event["at"] - warned_at >= 0.45
    events = [e for e in _events(slack, old_id) if e != "tcp_closed"]
    assert events == ["opened", "hello", "disconnect", "closing", "closed"]
    assert slack.socket_connection_ids() == [new_id]


def test_nothing_new_is_routed_to_a_connection_being_closed(
    slack: SlackStandin, clients: _Clients
) -> None:
    """Slack holds an envelope while its only connection is closing and delivers it on the
    next one it greets; a send the close wins is routed again, not lost."""
    old, old_id = _open(slack, clients)
    slack.socket_refresh(close_after_s=0.0)
    assert _recv(old)["type"] == "disconnect"
    slack.wait_socket_event("closing", old_id)
    sent: list[str] = []
    sender = threading.Thread(
        target=lambda: sent.append(slack.socket_send_slash_command("status")))
    sender.start()
    time.sleep(0.2)
    assert sent == []  # nowhere to deliver it yet
    new, new_id = _open(slack, clients)
    sender.join(timeout=3)
    got = _recv(new)
    assert [got["envelope_id"]] == sent
    with slack._lock:
        record = next(r for r in slack.socket_sent if r["envelope"]["envelope_id"] == sent[0])
    assert (record["conn"], record["error"]) == (new_id, None)
    with pytest.raises(ConnectionClosedOK):
        old.recv(timeout=2)


def test_a_hello_can_be_delayed_or_withheld(slack: SlackStandin, clients: _Clients) -> None:
    def connect_raw() -> ClientConnection:
        ws = clients.stack.enter_context(connect(_connections_open(slack)["url"],
                                                 ping_interval=None, close_timeout=0.3,
                                                 open_timeout=2))
        clients.append(ws)
        return ws

    slack.delay_hello(0.3)
    started = time.monotonic()
    late = connect_raw()
    assert _recv(late)["type"] == "hello" and time.monotonic() - started >= 0.3
    slack.delay_hello(None)
    silent = connect_raw()
    silent_id = slack.wait_socket_event("hello_withheld")["conn"]
    with pytest.raises(TimeoutError):
        silent.recv(timeout=0.5)
    assert silent.ping().wait(1)  # still answers pings: only the missing hello tells
    assert silent_id not in slack.socket_connection_ids()  # never greeted: never routed to
    envelope = slack.socket_send_slash_command("status")
    assert _recv(late)["envelope_id"] == envelope
    silent.close()
    assert slack.wait_socket_event("closed", silent_id)["by"] == "client"


def test_close_sends_a_close_frame_without_warning(
    slack: SlackStandin, clients: _Clients
) -> None:
    ws, conn_id = _open(slack, clients)
    assert slack.socket_close(code=1001, reason="going away") == conn_id
    with pytest.raises(ConnectionClosedOK) as closed:  # recv saw no disconnect message
        ws.recv(timeout=2)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "going away")
    event = slack.wait_socket_event("closed", conn_id)
    assert (event["by"], event["code"]) == ("server", 1001)
    assert "disconnect" not in _events(slack, conn_id)


def test_routing_to_the_newest_and_retries_on_another_connection(
    slack: SlackStandin, clients: _Clients
) -> None:
    first, first_id = _open(slack, clients)
    second, second_id = _open(slack, clients)
    assert slack.socket_connections == 2
    hi = {"type": "app_mention", "text": "hi", "user": "U1", "channel": "C1"}
    original = slack.socket_send_event(hi, event_id="Ev1", conn=first_id)
    envelope = _recv(first)  # never acked: Slack retries it elsewhere
    assert envelope["envelope_id"] == original and envelope["retry_attempt"] == 0
    retry = slack.socket_send_event(hi, event_id="Ev1", retry_attempt=1, conn=second_id)
    got = _recv(second)
    assert got["envelope_id"] == retry and got["payload"]["event_id"] == "Ev1"
    assert (got["retry_attempt"], got["retry_reason"]) == (1, "timeout")
    _ack(second, got)
    assert slack.wait_socket_ack(retry, timeout=2)["conn"] == second_id
    routed = slack.socket_send_event(hi)  # conn=None: the newest healthy connection
    assert _recv(second)["envelope_id"] == routed
    with pytest.raises(TimeoutError):
        first.recv(timeout=0.2)


def test_refused_connections_open(slack: SlackStandin) -> None:
    slack.refuse_connections_open("invalid_auth")
    slack.refuse_connections_open("internal_error", n=2)
    slack.refuse_connections_open("ratelimited", retry_after=7)
    for expected in ("invalid_auth", "internal_error", "internal_error"):
        with pytest.raises(SlackApiError) as err:
            _connections_open(slack)
        assert err.value.response.status_code == 200
        assert err.value.response["error"] == expected
    with pytest.raises(SlackApiError) as err:
        _connections_open(slack)
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"
    assert _connections_open(slack)["ok"]  # the queue is spent
    slack.refuse_connections_open("token_revoked")
    with pytest.raises(SlackApiError) as err:
        _connections_open(slack)
    assert err.value.response["error"] == "token_revoked"
    with pytest.raises(SlackApiError) as err:  # the bot token is the wrong kind
        _connections_open(slack, slack.bot_token)
    assert err.value.response["error"] == "not_allowed_token_type"


def test_eleventh_connection_is_refused(
    slack: SlackStandin, clients: _Clients
) -> None:
    ids = [_open(slack, clients)[1] for _ in range(10)]
    assert slack.socket_connection_ids() == ids and slack.socket_connections == 10
    with pytest.raises(SlackApiError) as err:
        _connections_open(slack)
    assert err.value.response["error"] == "too_many_websockets"
    clients[0].close()
    slack.wait_socket_event("closed", ids[0])
    assert _connections_open(slack)["ok"]


def test_unknown_ticket_is_refused(slack: SlackStandin) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{slack.ws_port}/link/?ticket=forged", open_timeout=2)
    assert refused.value.response.status_code == 401
    event = slack.wait_socket_event("refused")
    assert event["status"] == 401 and event["conn"].startswith("conn-")
    assert slack.socket_connection_ids() == []


def test_stop_is_quick_with_a_half_open_connection(clients: _Clients) -> None:
    slack = SlackStandin().start()
    _, conn_id = _open(slack, clients)
    slack.socket_half_open(conn_id)
    started = time.monotonic()
    slack.stop()
    assert time.monotonic() - started < 1.5
