"""``/slack/events`` for HTTP mode.

Bolt's own starlette adapter calls the sync ``App.dispatch()`` on the event loop, which
stalls every other request while one waits for its ack. Here dispatch runs in a worker
thread.
"""

from __future__ import annotations

from slack_bolt import App, BoltRequest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.jobs import AckGate

MAX_SLACK_BODY = 1 << 20


def slack_events_route(bolt: App, gate: AckGate) -> Route:
    async def slack_events(request: Request) -> Response:
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
        return Response(status_code=resp.status, content=resp.body,
                        headers=resp.first_headers_without_set_cookie())

    return Route("/slack/events", slack_events, methods=["POST"])
