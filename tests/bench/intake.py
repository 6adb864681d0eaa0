"""Webhook intake throughput: 10,000 Alertmanager notifications, each a new alert group,
on SQLite and on PostgreSQL. Beside it, on the same server and database, a bare endpoint
that only inserts the raw body into one table: the floor of what durable intake costs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, create_engine, func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.alerts.intake import Intake
from bot.channels import Channels
from bot.config import load_settings
from bot.http import build_http_app
from bot.store import Incident, open_store
from tests.bench.table import percentile
from tests.harness.alerts import node_notification as notification
from tests.harness.pg import pg_schema
from tests.harness.procs import free_port

POSTS = int(os.environ.get("GENAI_BENCH_POSTS", "10000"))
CONCURRENCY = 16
TOKEN = "bench-token"

raw_bodies = Table("bench_raw_bodies", MetaData(), Column("id", Integer, primary_key=True),
                   Column("body", LargeBinary))


def serve(db_url: str, port: int) -> None:
    """Our intake (the real /alertmanager route) plus /bare, in one uvicorn process."""
    settings = load_settings(webhook_token=TOKEN, database_url=db_url)
    store = open_store(db_url)
    raw_bodies.create(store.db.engine, checkfirst=True)
    intake = Intake(store.intake, Channels(settings.channels), settings.webhook_token,
                    settings.alerts.webhook_max_bytes)
    app = build_http_app(lambda: True, intake)

    def insert(body: bytes) -> None:
        with store.db.engine.begin() as conn:
            conn.execute(raw_bodies.insert().values(body=body))

    async def bare(request: Request) -> Response:
        await run_in_threadpool(insert, await request.body())
        return JSONResponse({"status": "stored"})

    app.router.routes.append(Route("/bare", bare, methods=["POST"]))
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
                lifespan="off")


def post_all(url: str, bodies: list[bytes]) -> tuple[float, list[float], int]:
    """POST every body with CONCURRENCY workers, as Alertmanager does with the bench token;
    (seconds to the last answer, latencies, non-200 count)."""
    latencies: list[float] = []
    failed = 0
    lock = threading.Lock()
    it = iter(bodies)

    def worker() -> None:
        nonlocal failed
        with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {TOKEN}",
                                               "Content-Type": "application/json"}) as client:
            while True:
                with lock:
                    body = next(it, None)
                if body is None:
                    return
                started = time.perf_counter()
                ok = client.post(url, content=body).status_code == 200
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    failed += 0 if ok else 1

    threads = [threading.Thread(target=worker) for _ in range(CONCURRENCY)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, latencies, failed


HEADER = ["database", "endpoint", "posts", "posts/s", "p50 ms", "p99 ms", "lost",
          "ours / bare"]


def run(log: Callable[[str], None] = print) -> tuple[list[str], list[list[object]]]:
    rows: list[list[object]] = []
    bodies = [notification(i) for i in range(POSTS)]
    for name in ("SQLite (WAL)", "PostgreSQL"):
        schema = contextlib.ExitStack()  # the PostgreSQL schema, dropped at the end
        if name == "PostgreSQL":
            db_url = schema.enter_context(pg_schema("bench"))
        else:
            db_url = f"sqlite:///{tempfile.mkdtemp(prefix='genai-bench-')}/bot.db"
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "tests.bench.intake", "serve", db_url,
                                 str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("bench server did not start") from None
                    time.sleep(0.1)
            results: dict[str, float] = {}
            for endpoint in ("/alertmanager", "/bare"):
                log(f"intake: {name} {endpoint}, {POSTS} posts")
                seconds, lat, failed = post_all(f"http://127.0.0.1:{port}{endpoint}", bodies)
                results[endpoint] = POSTS / seconds
                engine = create_engine(db_url)
                with engine.connect() as conn:
                    table: Any = Incident.__table__ if endpoint == "/alertmanager" else raw_bodies
                    stored = conn.execute(select(func.count()).select_from(table)).scalar() or 0
                engine.dispose()
                lost = (POSTS - failed) - stored  # answered 200 but not in the database
                rows.append([name, endpoint, POSTS, f"{POSTS / seconds:.0f}",
                             f"{percentile(lat, 50) * 1000:.1f}",
                             f"{percentile(lat, 99) * 1000:.1f}", f"{lost} (+{failed} non-200)",
                             ""])
            rows[-2][-1] = f"{results['/alertmanager'] / results['/bare']:.2f}"
        finally:
            proc.terminate()
            proc.wait(10)
            schema.close()
    return HEADER, rows


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(sys.argv[2], int(sys.argv[3]))
