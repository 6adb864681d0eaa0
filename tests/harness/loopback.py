"""One loopback HTTP server base for every stand-in (Slack, Kubernetes, exporter, AWS...).

A stand-in subclasses `LoopbackServer`, says which HTTP methods it answers and how it speaks
(`protocol_version`, `disable_nagle_algorithm`), and implements the route hook `on_request`,
which gets the `BaseHTTPRequestHandler` of each request. The base binds 127.0.0.1 on a free
port (port 0: the kernel picks, so no race), serves in a daemon thread, stops cleanly, and
keeps the per-request access log off stderr so pytest output stays readable::

    class Echo(LoopbackServer):
        methods = ("POST",)

        def on_request(self, request: LoopbackHandler) -> None:
            request.reply(200, request.read_body(), "text/plain")

    with Echo() as echo:
        httpx.post(echo.url, content=b"hi")
"""

from __future__ import annotations

import os
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

HOST = "127.0.0.1"


# Ports handed out for a server to bind later. Port 0 would give one from the kernel's
# ephemeral range, where every outgoing connection (a scrape, an HTTP client) also takes its
# local port, so one could take it before the server binds. So: below that range, in this
# pytest-xdist worker's own stripe, and never the same one twice in a process.
_PORTS_FROM = 10000
_given: set[int] = set()
_given_lock = threading.Lock()


def _ephemeral_floor() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server to bind later: outside the ephemeral
    range and this xdist worker's alone (see above), so only an outside process can race."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    stripe = int(worker) if worker.isdigit() else 0
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    ports = range(_PORTS_FROM + stripe, _ephemeral_floor(), workers)
    with _given_lock:
        for _ in range(min(len(ports), 1000)):
            port = random.choice(ports)
            if port not in _given and _bindable(port):
                _given.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # all taken: the kernel's
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class LoopbackHandler(BaseHTTPRequestHandler):
    """Hands every request to its server's owner (`LoopbackServer.on_request`).

    Methods the owner does not list in `methods` get the 501 `BaseHTTPRequestHandler` gives
    for a method it has no `do_*` for, so each stand-in stays as strict as it was alone.
    """

    server: LoopbackHTTPServer

    def setup(self) -> None:
        owner = self.server.owner
        # Per stand-in, read by StreamRequestHandler.setup() and by every response.
        self.protocol_version = owner.protocol_version
        self.disable_nagle_algorithm = owner.disable_nagle_algorithm
        super().setup()

    def _dispatch(self) -> None:
        owner = self.server.owner
        if self.command not in owner.methods:
            self.send_error(501, f"Unsupported method ({self.command!r})")
            return
        owner.on_request(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log; the stand-ins record what they need."""

    def read_body(self) -> bytes:
        """The request body (`Content-Length` bytes; none without the header)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """One complete answer: status, Content-Type, Content-Length, extra headers, body."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A thread per connection, daemon threads (a stuck client never blocks the exit)."""

    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs under a burst of clients, and a dropped
    # SYN costs the client a 1 s retransmit: a delay that real services do not add.
    request_queue_size = 1024

    def __init__(self, owner: LoopbackServer) -> None:
        self.owner = owner
        super().__init__((HOST, 0), LoopbackHandler)


class LoopbackServer:
    """Start/stop/context-manager lifecycle around a `LoopbackHTTPServer`.

    Subclasses set the class attributes below and implement `on_request`.
    """

    methods: tuple[str, ...] = ("GET",)
    """HTTP methods routed to `on_request`; any other gets a 501."""
    protocol_version = "HTTP/1.1"
    """"HTTP/1.1" keeps connections alive (send a Content-Length); "HTTP/1.0" closes them."""
    disable_nagle_algorithm = False
    """True when header and body go out in two writes and the client must not wait 40 ms."""
    thread_name = "loopback"
    poll_interval = 0.05
    """How often `serve_forever` looks for a shutdown request: the bound on `stop()`'s wait."""
    join_timeout = 5.0

    def __init__(self) -> None:
        self.httpd: LoopbackHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None

    def on_request(self, request: LoopbackHandler) -> None:
        """The route hook: answer one request (runs in that connection's thread)."""
        raise NotImplementedError

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind a free loopback port and serve in a daemon thread (again: no-op)."""
        if self.httpd is not None:
            return self
        self.httpd = LoopbackHTTPServer(self)
        self._serve_thread = threading.Thread(
            target=self.httpd.serve_forever,
            args=(self.poll_interval,),
            name=self.thread_name,
            daemon=True,
        )
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the serving thread."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(timeout=self.join_timeout)
        self.httpd = None
        self._serve_thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self.httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://{HOST}:{self.port}"
