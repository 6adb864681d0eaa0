"""The HTTP side: the Alertmanager webhook, the runbook pages, /healthz, /readyz and /metrics
(and, in HTTP mode, the Slack route the Slack layer adds)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.alerts.intake import Intake
from bot.metrics import REGISTRY, WEBHOOK_REQUESTS
from bot.runbooks import RunbookIndex, pages


def _counted(status: int, body: dict[str, Any]) -> Response:
    outcome = str(body.get("status")) if status == 200 else str(status)
    WEBHOOK_REQUESTS.labels(outcome=outcome).inc()
    return JSONResponse(body, status)


def build_http_app(ready: Callable[[], bool], intake: Intake | None = None,
                   extra: Sequence[BaseRoute] = (),
                   runbooks: RunbookIndex | None = None,
                   dead: Callable[[], str | None] = lambda: None) -> Starlette:
    """``ready`` answers /readyz (take traffic?); ``dead`` answers /healthz with why the
    process should be restarted, or None."""

    async def alertmanager(request: Request) -> Response:
        if intake is None:
            return JSONResponse({"error": "alert intake is off"}, 404)
        limit = intake.max_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:  # refuse before reading it
            return _counted(413, {"error": f"body is {declared} bytes; the limit is {limit}"})
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                return _counted(413, {"error": f"body exceeds the limit of {limit} bytes"})
        # The store commits in a worker thread; 200 goes out only after the commit.
        answer = await run_in_threadpool(
            intake.receive, bytes(body), request.headers.get("authorization")
        )
        return _counted(answer.status, answer.body)

    async def runbook_index(_: Request) -> Response:
        if runbooks is None:
            return PlainTextResponse("no runbooks here", 404)
        return HTMLResponse(pages.index_page(runbooks))

    async def runbook_page(request: Request) -> Response:
        found = pages.find(runbooks, request.path_params["name"]) if runbooks else None
        if found is None:
            return HTMLResponse(
                "<!doctype html><title>No such runbook</title><p>No runbook by that name. "
                "<a href=\"./\">All runbooks</a></p>", 404)
        return HTMLResponse(pages.page(found))

    async def healthz(_: Request) -> Response:
        why = dead()
        return PlainTextResponse("ok") if why is None else PlainTextResponse(why, 503)

    async def readyz(_: Request) -> Response:
        ok = await run_in_threadpool(ready)
        return PlainTextResponse("ready" if ok else "not ready", 200 if ok else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[
        *extra,
        Route("/alertmanager", alertmanager, methods=["POST"]),
        Route("/runbooks/", runbook_index, methods=["GET"]),
        Route("/runbooks/{name:str}", runbook_page, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ])
