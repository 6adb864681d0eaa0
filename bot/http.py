"""The HTTP side: the Alertmanager webhook, /healthz, /readyz and /metrics (and, in HTTP
mode, the Slack route the Slack layer adds)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.alerts.intake import Intake
from bot.metrics import REGISTRY


def build_http_app(ready: Callable[[], bool], intake: Intake | None = None,
                   extra: Sequence[BaseRoute] = ()) -> Starlette:
    async def alertmanager(request: Request) -> Response:
        if intake is None:
            return JSONResponse({"error": "alert intake is off"}, 404)
        limit = intake.max_bytes
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

    return Starlette(routes=[
        *extra,
        Route("/alertmanager", alertmanager, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ])
