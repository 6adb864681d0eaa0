"""A backend that takes its time: answers Prometheus and Kubernetes list calls after `delay`."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.harness.procs import free_port


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        time.sleep(self.server.delay)
        if self.path.startswith("/api/v1/query"):
            body: dict[str, Any] = {"status": "success",
                                    "data": {"resultType": "vector", "result": []}}
        else:
            kind = "NodeList" if "/nodes" in self.path else "PodList"
            body = {"kind": kind, "apiVersion": "v1", "metadata": {}, "items": []}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    delay = 5.0


class SlowBackend:
    """Runs in its own process: its hundreds of sleeping connections must not steal the load
    generator's CPU while it measures acks."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SlowBackend:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.slow_backend", str(self.port), str(self.delay)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.2):
                return self
            time.sleep(0.05)
        raise RuntimeError("slow backend did not start")

    def __exit__(self, *_: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)


def serve(port: int, delay: float) -> None:
    server = _Server(("127.0.0.1", port), _Handler)
    server.delay = delay
    server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]))
