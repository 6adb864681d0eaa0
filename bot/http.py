"""The HTTP side: /slack/events (HTTP mode), /healthz, /readyz and /metrics.

Bolt's own starlette adapter calls the sync `App.dispatch()` on the event loop, which stalls
every other request while one waits for its ack. Here dispatch runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App, BoltRequest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.alerts.intake import Intake
from bot.jobs import AckGate
from bot.metrics import REGISTRY

MAX_SLACK_BODY = 1 << 20


def build_http_app(
    bolt: App | None,
    ready: Callable[[], bool],
    gate: AckGate | None = None,
    intake: Intake | None = None,
) -> Starlette:
    gate = gate or AckGate()

    async def slack_events(request: Request) -> Response:
        if bolt is None:
            return PlainTextResponse("Slack HTTP mode is off (slack.mode=socket)", 404)
        gate.enter()  # from arrival, not from dispatch: queued requests count too
        try:
            body = await request.body()
            if len(body) > MAX_SLACK_BODY:
                return PlainTextResponse("body too large", 413)
            bolt_req = BoltRequest(
                body=body.decode("utf-8", errors="replace"),
                query=request.url.query,
                headers={k: [v] for k, v in request.headers.items()},
            )
            resp = await run_in_threadpool(bolt.dispatch, bolt_req)
        finally:
            gate.leave()
        return Response(
            status_code=resp.status,
            content=resp.body,
            headers=resp.first_headers_without_set_cookie(),
        )

    async def alertmanager(request: Request) -> Response:
        if intake is None:
            return JSONResponse({"error": "alert intake is off"}, 404)
        limit = intake.settings.alerts.webhook_max_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:  # refuse before reading it
            return JSONResponse({"error": f"body is {declared} bytes; the limit is {limit}"}, 413)
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                return JSONResponse({"error": f"body exceeds the limit of {limit} bytes"}, 413)
        # The store commits in a worker thread; 200 goes out only after the commit.
        answer = await run_in_threadpool(
            intake.receive, bytes(body), request.headers.get("authorization")
        )
        return JSONResponse(answer.body, answer.status)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        ok = await run_in_threadpool(ready)
        return PlainTextResponse("ready" if ok else "not ready", 200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/alertmanager", alertmanager, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
