"""An AWS endpoint that refuses everything: ECR (JSON protocol) answers AccessDenied and EC2
(query protocol) answers throttling, so a test sees how each failure is reported."""

from __future__ import annotations

import json

from .loopback import LoopbackHandler, LoopbackServer


class FailingAws(LoopbackServer):
    """POST anything: `AccessDeniedException` (400) to ECR, `RequestLimitExceeded` (503)
    to every other service."""

    methods = ("POST",)
    protocol_version = "HTTP/1.0"
    thread_name = "failing-aws"

    def on_request(self, request: LoopbackHandler) -> None:
        request.read_body()
        if request.headers.get("X-Amz-Target", "").startswith("AmazonEC2ContainerRegistry"):
            body = json.dumps({"__type": "AccessDeniedException",
                               "message": "not authorized to perform ecr:Describe"}).encode()
            request.reply(400, body, "application/x-amz-json-1.1")
        else:
            body = (b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
                    b"<Message>Request limit exceeded.</Message></Error></Errors>"
                    b"<RequestID>1</RequestID></Response>")
            request.reply(503, body, "text/xml")
