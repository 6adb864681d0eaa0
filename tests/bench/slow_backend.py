"""A backend that takes its time: answers Prometheus and Kubernetes list calls after `delay`."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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
    def __init__(self, delay: float) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.delay = delay
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SlowBackend:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
