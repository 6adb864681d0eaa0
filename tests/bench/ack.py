"""Ack latency under load: 50 concurrent `/genai status` whose backends each take 5 s.

Side by side, in one run: this bot (ack first, job pool, dispatch off the event loop) and a
Bolt `App` with default settings served by Bolt's own starlette adapter, whose listener does
the same work after acking — the way the Bolt starter template does it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.starlette import SlackRequestHandler
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.dispatch import Invocation, parse
from bot.render.blocks import fallback_text, render_blocks
from bot.roles import Role
from bot.runtime import Runtime
from bot.server import Bot
from tests.bench.slow_backend import SlowBackend
from tests.bench.table import percentile
from tests.conftest import bot_settings
from tests.harness.procs import free_port
from tests.harness.slack import SlackStandin

CONCURRENCY = 50
BACKEND_DELAY_S = 5.0
SLACK_DEADLINE_S = 3.0


def _fire(slack: SlackStandin, url: str) -> list[float]:
    """Send CONCURRENCY signed slash commands at once; return each one's time to ack."""
    barrier = threading.Barrier(CONCURRENCY)

    def one(_: int) -> float:
        barrier.wait()
        started = time.perf_counter()
        resp = slack.send_slash_command(url, "status")
        assert resp.status_code == 200, resp.text
        return time.perf_counter() - started

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(one, range(CONCURRENCY)))


def _wait_reports(slack: SlackStandin, timeout: float = 180) -> float:
    started = time.perf_counter()
    while len(slack.calls_to("response_url", ok=True)) < CONCURRENCY:
        if time.perf_counter() - started > timeout:
            break
        time.sleep(0.05)
    return time.perf_counter() - started


class _Uvicorn:
    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                   log_config=None, access_log=False,
                                                   lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Uvicorn:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _bolt_default(slack: SlackStandin, runtime: Runtime) -> Starlette:
    """Bolt's defaults: 5 listener threads, the starlette adapter, work after ack()."""
    app = App(signing_secret=slack.signing_secret,
              client=WebClient(token=slack.bot_token, base_url=slack.api_url))

    @app.command("/genai")
    def handle(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack(text="Working…")
        parsed = parse(body.get("text", ""), Role.VIEWER)
        assert isinstance(parsed, Invocation)
        report = runtime.execute(parsed, body["user_id"], Role.VIEWER)
        respond(blocks=render_blocks(report), text=fallback_text(report))

    handler = SlackRequestHandler(app)

    async def events(req: Request) -> Response:
        return await handler.handle(req)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


def _row(name: str, acks: list[float], delivered_s: float) -> list[object]:
    missed = sum(1 for a in acks if a > SLACK_DEADLINE_S)
    return [name, len(acks), f"{percentile(acks, 50) * 1000:.0f}",
            f"{percentile(acks, 99) * 1000:.0f}", f"{max(acks) * 1000:.0f}", missed,
            f"{delivered_s:.1f}"]


HEADER = ["setup", "requests", "ack p50 ms", "ack p99 ms", "ack max ms", "missed 3 s",
          "all reports s"]


def run(log: Callable[[str], None] = print) -> tuple[list[str], list[list[object]]]:
    rows: list[list[object]] = []
    with SlowBackend(BACKEND_DELAY_S) as backend:
        with SlackStandin() as slack:
            slack.delivery_timeout = 120
            settings = bot_settings(slack, backend.url, backend.url, "http",
                                    prometheus={"timeout_s": 30},
                                    kubernetes={"timeout_s": 30})
            log(f"ack: genai-ops-bot, {CONCURRENCY} concurrent, backends {BACKEND_DELAY_S:g} s")
            bot = Bot(settings).start()
            try:
                started = time.perf_counter()
                acks = _fire(slack, bot.url + "/slack/events")
                delivered = _wait_reports(slack) + (time.perf_counter() - started
                                                    - max(acks))
                rows.append(_row("genai-ops-bot", acks, delivered))
            finally:
                bot.stop()
        with SlackStandin() as slack:
            slack.delivery_timeout = 120
            settings = bot_settings(slack, backend.url, backend.url, "http",
                                    prometheus={"timeout_s": 30},
                                    kubernetes={"timeout_s": 30})
            log("ack: Bolt App with default settings (the same command)")
            runtime = Runtime.from_settings(settings)
            try:
                with _Uvicorn(_bolt_default(slack, runtime)) as server:
                    started = time.perf_counter()
                    acks = _fire(slack, f"http://127.0.0.1:{server.port}/slack/events")
                    delivered = _wait_reports(slack) + (time.perf_counter() - started
                                                        - max(acks))
                    rows.append(_row("Bolt App, default settings", acks, delivered))
            finally:
                runtime.close()
    return HEADER, rows
