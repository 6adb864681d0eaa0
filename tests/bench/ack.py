"""Ack latency under load: 50 concurrent `/genai status` whose backends each take 5 s.

Side by side, in one run: this bot (ack first, job pool, dispatch off the event loop) and a
Bolt `App` with default settings served by Bolt's own starlette adapter, whose listener does
the same work after acking — the way the Bolt starter template does it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import uvicorn
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.starlette import SlackRequestHandler
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.config import load_settings
from bot.dispatch import Invocation, parse
from bot.roles import Caller, Role
from bot.runtime import Runtime
from bot.slack.render.report import fallback_text, render_blocks
from tests.bench.slow_backend import SlowBackend
from tests.bench.table import percentile
from tests.harness.bots import http_bot_env
from tests.harness.procs import free_port
from tests.harness.slack import SlackStandin

CONCURRENCY = 50
BACKEND_DELAY_S = 5.0
SLACK_DEADLINE_S = 3.0


def _fire(slack: SlackStandin, url: str) -> list[tuple[float, bool]]:
    """Send CONCURRENCY signed slash commands at once; return each one's time to ack and
    whether it was acked at all (Bolt answers 404 "unhandled request" when its listener did
    not ack within 3 s: the user sees an error)."""
    barrier = threading.Barrier(CONCURRENCY)

    def one(_: int) -> tuple[float, bool]:
        barrier.wait()
        started = time.perf_counter()
        resp = slack.send_slash_command(url, "status")
        return time.perf_counter() - started, resp.status_code == 200

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(one, range(CONCURRENCY)))


def _wait_reports(slack: SlackStandin, timeout: float = 180) -> float:
    started = time.perf_counter()
    while len(slack.calls_to("response_url", ok=True)) < CONCURRENCY:
        if time.perf_counter() - started > timeout:
            break
        time.sleep(0.05)
    return time.perf_counter() - started


def _bolt_default(slack_api_url: str, bot_token: str, signing_secret: str,
                  runtime: Runtime) -> Starlette:
    """Bolt's defaults: 5 listener threads, the starlette adapter, work after ack()."""
    app = App(signing_secret=signing_secret,
              client=WebClient(token=bot_token, base_url=slack_api_url))

    @app.command("/genai")
    def handle(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack(text="Working…")
        caller = Caller(body["user_id"], Role.VIEWER)
        parsed = parse(body.get("text", ""), caller)
        assert isinstance(parsed, Invocation)
        report = runtime.execute(parsed, caller)
        respond(blocks=render_blocks(report), text=fallback_text(report))

    handler = SlackRequestHandler(app)

    async def events(req: Request) -> Response:
        return await handler.handle(req)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


def _serve(kind: str, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    """Each server in its own process, so the load generator does not share its GIL."""
    cmd = ([sys.executable, "-m", "bot.cli", "run"] if kind == "ours"
           else [sys.executable, "-m", "tests.bench.ack", f"serve-{kind}"])
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/slack/events", content=b"", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


def _env(slack: SlackStandin, backend_url: str, port: int) -> dict[str, str]:
    return {
        **http_bot_env(slack, port),
        "GENAI_PROMETHEUS__URL": backend_url, "GENAI_PROMETHEUS__TIMEOUT_S": "30",
        "GENAI_KUBERNETES__MODE": "url", "GENAI_KUBERNETES__URL": backend_url,
        "GENAI_KUBERNETES__TIMEOUT_S": "30", "GENAI_LOG_LEVEL": "error",
        "GENAI_DATABASE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='genai-bench-')}/bot.db",
    }


def serve_floor() -> None:
    """An endpoint that answers at once: what the load generator itself costs."""
    async def ok(req: Request) -> Response:
        await req.body()
        return Response(b"")

    port = load_settings().http.port
    uvicorn.run(Starlette(routes=[Route("/slack/events", ok, methods=["POST"])]),
                host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off")


def serve_bolt_default() -> None:
    settings = load_settings()
    assert settings.slack.bot_token and settings.slack.signing_secret
    runtime = Runtime.from_settings(settings)
    app = _bolt_default(settings.slack.api_base_url, settings.slack.bot_token.get_secret_value(),
                        settings.slack.signing_secret.get_secret_value(), runtime)
    uvicorn.run(app, host="127.0.0.1", port=settings.http.port, log_config=None,
                access_log=False, lifespan="off")


def _row(name: str, results: list[tuple[float, bool]], delivered_s: float) -> list[object]:
    acks = [t for t, _ in results]
    missed = sum(1 for t, ok in results if not ok or t > SLACK_DEADLINE_S)
    return [name, len(acks), f"{percentile(acks, 50) * 1000:.0f}",
            f"{percentile(acks, 99) * 1000:.0f}", f"{max(acks) * 1000:.0f}", missed,
            f"{delivered_s:.1f}"]


HEADER = ["setup", "requests", "ack p50 ms", "ack p99 ms", "ack max ms",
          "missed 3 s (late or never acked)", "all 50 reports in s"]


SETUPS = {"ours": "genai-ops-bot", "bolt-default": "Bolt App, default settings",
          "floor": "floor: empty endpoint, same load"}


def run(log: Callable[[str], None] = print) -> tuple[list[str], list[list[object]]]:
    rows: list[list[object]] = []
    with SlowBackend(BACKEND_DELAY_S) as backend:
        for kind, name in SETUPS.items():
            with SlackStandin() as slack:
                slack.delivery_timeout = 120
                port = free_port()
                log(f"ack: {name}: {CONCURRENCY} concurrent, backends {BACKEND_DELAY_S:g} s")
                proc = _serve(kind, _env(slack, backend.url, port), port)
                try:
                    # A bot that has been up a while: imports, clients and pools are warm.
                    warm = slack.send_slash_command(f"http://127.0.0.1:{port}/slack/events",
                                                    "help")
                    assert warm.status_code == 200, warm.text
                    if kind != "floor":
                        slack.wait_for(lambda c: c.method == "response_url", timeout=30)
                    slack.calls.clear()
                    started = time.perf_counter()
                    results = _fire(slack, f"http://127.0.0.1:{port}/slack/events")
                    if kind != "floor":
                        _wait_reports(slack)
                    rows.append(_row(name, results, time.perf_counter() - started))
                finally:
                    proc.terminate()
                    proc.wait(10)
    ours, bolt = (float(str(r[3])) for r in rows[:2])
    rows.append([f"ack p99: Bolt default / ours = {bolt / ours:.0f}x", "", "", "", "", "", ""])
    return HEADER, rows


if __name__ == "__main__" and sys.argv[1:] == ["serve-bolt-default"]:
    serve_bolt_default()
elif __name__ == "__main__" and sys.argv[1:] == ["serve-floor"]:
    serve_floor()
