"""A stand-in bot endpoint for the Slack stand-in's signed deliveries: it keeps each raw
request (headers and body, exactly as sent) and answers 200 at once."""

from __future__ import annotations

from .loopback import LoopbackHandler, LoopbackServer


class RecordingEndpoint(LoopbackServer):
    """POSTs to any path are recorded in `.seen` as `(headers, body)` and answered `answer`."""

    methods = ("POST",)
    protocol_version = "HTTP/1.0"
    thread_name = "recording-endpoint"

    def __init__(self, answer: bytes = b'{"text": "working on it"}',
                 content_type: str = "application/json") -> None:
        super().__init__()
        self.answer = answer
        self.content_type = content_type
        self.seen: list[tuple[dict[str, str], str]] = []

    def on_request(self, request: LoopbackHandler) -> None:
        body = request.rfile.read(int(request.headers["Content-Length"])).decode()
        self.seen.append((dict(request.headers.items()), body))
        request.reply(200, self.answer, self.content_type)
