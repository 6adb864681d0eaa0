"""A stand-in for the CloudWatch Logs JSON API, for Logs Insights `stats` queries.

moto 5.2 does not compute `stats`, so the `latency` and `tokens` queries run against this:
POST / with ``X-Amz-Target: Logs_20140328.<Operation>``; StartQuery answers a query id,
GetQueryResults whatever `results()` returns (responses in AWS's exact shape, e.g.
tests/fixtures/logs_insights/*.json), StopQuery success. boto3 does the real wire protocol.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .loopback import LoopbackHandler, LoopbackServer

QUERY_ID = "12ab3456-12ab-123a-789e-1234567890ab"


class LogsStandin(LoopbackServer):
    """Answers StartQuery / GetQueryResults / StopQuery; records every call it gets."""

    methods = ("POST",)
    protocol_version = "HTTP/1.0"
    thread_name = "logs-insights-standin"

    def __init__(self, results: Callable[[], dict[str, Any]]) -> None:
        super().__init__()
        self.results = results
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def ops(self) -> list[str]:
        """The operations called so far, oldest first."""
        return [op for op, _ in self.calls]

    def on_request(self, request: LoopbackHandler) -> None:
        target = request.headers.get("X-Amz-Target", "")
        body = json.loads(request.rfile.read(int(request.headers["Content-Length"])) or b"{}")
        op = target.removeprefix("Logs_20140328.")
        self.calls.append((op, body))
        if op == "StartQuery":
            answer: dict[str, Any] = {"queryId": QUERY_ID}
        elif op == "GetQueryResults":
            answer = self.results()
        elif op == "StopQuery":
            answer = {"success": True}
        else:
            request.send_response(400)
            request.end_headers()
            return
        request.reply(200, json.dumps(answer).encode(), "application/x-amz-json-1.1")
