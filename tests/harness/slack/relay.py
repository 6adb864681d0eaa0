"""The network between Slack and the bot: a TCP relay in front of the Socket Mode server.

``apps.connections.open`` hands out URLs on the relay's port. Every client connection the
relay accepts gets a connection id (``conn-1``, ``conn-2``...) and a fresh TCP connection
to the real websocket server, and bytes are copied both ways unchanged, EOF (FIN) included.
Because it sits below the websocket library, the relay can break a connection the way
networks and load balancers do, which a websocket server cannot do to itself:

* `drop`: the connection dies with no close frame: the client gets a TCP reset
  (``SO_LINGER`` 0, then close) and the server side is closed quietly (FIN, no frame).
* `half_open`: the connection goes silent: nothing is forwarded in either direction any
  more (bytes read are thrown away, in flight ones are lost) but both sockets stay open, so
  the client's pings get no pong and nothing tells it the connection is dead. An EOF seen
  on one side then closes only that side.

The stand-in maps a server-side connection to its id by the relay's upstream port, which
the websocket server sees as the peer's port (`conn_id`).

One thread runs a selector over non-blocking sockets with per-direction buffers, so a
client that stops reading never blocks the others. Commands from other threads (`drop`,
`half_open`, `release_half_open`) run on that thread; the caller waits for them.
"""

from __future__ import annotations

import contextlib
import itertools
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..loopback import HOST

EventSink = Callable[..., None]  # sink(event, conn_id, **fields)


@dataclass(eq=False)
class _End:
    """One socket of a relayed connection and the bytes waiting to be written to it."""

    sock: socket.socket
    side: str  # "client" or "server"
    out: bytearray = field(default_factory=bytearray)
    reading: bool = True  # no EOF read from it yet
    writing: bool = True  # not shut down for writing yet
    closed: bool = False
    events: int = 0  # what the selector watches


@dataclass(eq=False)
class _Pair:
    id: str
    client: _End
    server: _End
    half_open: bool = False
    first_eof: str | None = None

    def other(self, end: _End) -> _End:
        return self.server if end is self.client else self.client


class Relay:
    """Forwards ``127.0.0.1:port`` to ``127.0.0.1:target_port``, connection by connection."""

    def __init__(self, target_port: int, sink: EventSink | None = None) -> None:
        self.target_port = target_port
        self._sink = sink or (lambda *a, **k: None)
        self._sel = selectors.DefaultSelector()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._lock = threading.Lock()
        self._commands: list[tuple[Callable[[], Any], list[Any], threading.Event]] = []
        self._pairs: dict[str, _Pair] = {}
        self._by_port: dict[int, str] = {}
        self._ids = itertools.count(1)
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> Relay:
        self._sel.register(self._listener, selectors.EVENT_READ, "accept")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._run, name="slack-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every relayed connection (plain close) and the listening socket."""
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        for pair in list(self._pairs.values()):
            self._close_pair(pair, by="relay")
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._sel.close()

    # -- what the stand-in asks ------------------------------------------------------------

    def conn_id(self, upstream_port: int) -> str | None:
        """The id of the relayed connection whose server side has this local port."""
        with self._lock:
            return self._by_port.get(upstream_port)

    def drop(self, conn_id: str) -> bool:
        """Reset the client side, close the server side quietly; False if not relayed."""
        return bool(self._call(lambda: self._drop(conn_id)))

    def half_open(self, conn_id: str) -> bool:
        """Stop forwarding both ways, keep both sockets open; False if not relayed."""
        return bool(self._call(lambda: self._half_open(conn_id)))

    def release_half_open(self) -> None:
        """Close the server side of half-open connections (a server shutting down need not
        wait for close frames that cannot arrive)."""
        def release() -> None:
            for pair in list(self._pairs.values()):
                if pair.half_open and not pair.server.closed:
                    self._close_end(pair.server)
        self._call(release)

    # -- the relay thread ------------------------------------------------------------------

    def _call(self, fn: Callable[[], Any]) -> Any:
        if self._stopping:
            return None
        if threading.current_thread() is self._thread:
            return fn()
        done = threading.Event()
        box: list[Any] = []
        with self._lock:
            self._commands.append((fn, box, done))
        self._wake()
        done.wait(timeout=5.0)
        return box[0] if box else None

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _run(self) -> None:
        while not self._stopping:
            for key, mask in self._sel.select(timeout=1.0):
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    self._run_commands()
                else:
                    pair, end = key.data
                    if mask & selectors.EVENT_READ and not end.closed:
                        self._read(pair, end)
                    if mask & selectors.EVENT_WRITE and not end.closed:
                        self._write(pair, end)
        self._run_commands()

    def _run_commands(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        with self._lock:
            commands, self._commands = self._commands, []
        for fn, box, done in commands:
            try:
                box.append(fn())
            finally:
                done.set()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            upstream.bind((HOST, 0))  # known before connecting: the server sees this port
            conn_id = f"conn-{next(self._ids)}"
            with self._lock:
                self._by_port[int(upstream.getsockname()[1])] = conn_id
            upstream.connect((HOST, self.target_port))
        except OSError:
            upstream.close()
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pair = _Pair(conn_id, _End(client, "client"), _End(upstream, "server"))
        self._pairs[conn_id] = pair
        self._sink("opened", conn_id, peer=client.getpeername()[1])
        self._update(pair, pair.client)
        self._update(pair, pair.server)

    def _read(self, pair: _Pair, end: _End) -> None:
        other = pair.other(end)
        try:
            data = end.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:  # reset by the peer
            self._close_pair(pair, by=end.side)
            return
        if data:
            if not pair.half_open and not other.closed:
                other.out += data
                self._update(pair, other)
            return
        end.reading = False
        pair.first_eof = pair.first_eof or end.side
        if pair.half_open:  # nothing reaches the other side: close just this one
            self._close_end(end)
        elif not other.out:
            self._shutdown_write(other)
        self._update(pair, end)
        self._maybe_finish(pair)

    def _write(self, pair: _Pair, end: _End) -> None:
        try:
            sent = end.sock.send(end.out)
        except BlockingIOError:
            return
        except OSError:
            self._close_pair(pair, by=end.side)
            return
        del end.out[:sent]
        if not end.out and not pair.other(end).reading:
            self._shutdown_write(end)
        self._update(pair, end)
        self._maybe_finish(pair)

    def _update(self, pair: _Pair, end: _End) -> None:
        if end.closed:
            return
        want = (selectors.EVENT_READ if end.reading else 0) | (
            selectors.EVENT_WRITE if end.out else 0)
        if want == end.events:
            return
        if end.events == 0:
            self._sel.register(end.sock, want, (pair, end))
        elif want == 0:
            self._sel.unregister(end.sock)
        else:
            self._sel.modify(end.sock, want, (pair, end))
        end.events = want

    def _shutdown_write(self, end: _End) -> None:
        if end.writing and not end.closed:
            end.writing = False
            with contextlib.suppress(OSError):
                end.sock.shutdown(socket.SHUT_WR)

    def _maybe_finish(self, pair: _Pair) -> None:
        ends = (pair.client, pair.server)
        if all(e.closed or (not e.reading and not e.out) for e in ends):
            self._close_pair(pair, by=pair.first_eof or "relay")

    def _close_end(self, end: _End, *, reset: bool = False) -> None:
        if end.closed:
            return
        if end.events and not self._stopping:
            self._sel.unregister(end.sock)
        end.events = 0
        end.closed, end.reading, end.writing = True, False, False
        end.out.clear()
        if reset:
            end.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        end.sock.close()

    def _close_pair(self, pair: _Pair, *, by: str, reset_client: bool = False) -> None:
        if self._pairs.pop(pair.id, None) is None:
            return
        self._close_end(pair.client, reset=reset_client)
        self._close_end(pair.server)
        with self._lock:
            self._by_port = {p: i for p, i in self._by_port.items() if i != pair.id}
        self._sink("tcp_closed", pair.id, by=by)

    def _drop(self, conn_id: str) -> bool:
        pair = self._pairs.get(conn_id)
        if pair is None:
            return False
        self._close_pair(pair, by="relay", reset_client=True)
        return True

    def _half_open(self, conn_id: str) -> bool:
        pair = self._pairs.get(conn_id)
        if pair is None:
            return False
        pair.half_open = True
        for end in (pair.client, pair.server):
            end.out.clear()  # in flight: lost
            self._update(pair, end)
        return True
