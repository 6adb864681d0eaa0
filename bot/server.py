"""One bot process: the runtime, its Slack side, the HTTP server (the webhook, probes,
metrics, and Slack's requests in HTTP mode) and the Game Day scheduler."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import structlog
import uvicorn

from bot.config import Settings
from bot.gameday.scheduler import Scheduler
from bot.http import build_http_app
from bot.metrics import OUTBOX
from bot.runtime import Runtime
from bot.slack import SlackClient, SlackSide, build_client, usergroup_members

log = structlog.get_logger(__name__)


class Bot:
    def __init__(self, settings: Settings, client: SlackClient | None = None,
                 runtime: Runtime | None = None) -> None:
        self.settings = settings
        client = client or build_client(settings.slack)
        self.runtime = runtime or Runtime.from_settings(settings, usergroup_members(client))
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.slack = SlackSide(settings, self.runtime, client, worker_id)
        self.scheduler = Scheduler(self.runtime.gameday, self.runtime.store.leases,
                                   holder=worker_id)
        http_app = build_http_app(self.ready, self.runtime.intake, self.slack.routes(),
                                  self.runtime.runbooks, self.dead)
        self._server = uvicorn.Server(
            uvicorn.Config(http_app, host=settings.http.host, port=settings.http.port,
                           log_config=None, access_log=settings.http.access_log, lifespan="off",
                           timeout_graceful_shutdown=10)
        )
        self._thread: threading.Thread | None = None
        self._draining = threading.Event()
        self._stop_requested = threading.Event()

    def ready(self) -> bool:
        if self._draining.is_set():
            return False  # shutting down: Kubernetes should send no new traffic here
        return self.slack.connected() and self.runtime.store.db.ping()

    def dead(self) -> str | None:
        """Why a restart would help, for the liveness probe: Socket Mode has been unable to
        reconnect for ``slack.socket_liveness_s``."""
        deaf, limit = self.slack.deaf_for(), self.settings.slack.socket_liveness_s
        if deaf <= limit:
            return None
        return f"Socket Mode has had no connection for {deaf:.0f} s (limit {limit:g} s)"

    @property
    def port(self) -> int:
        servers = self._server.servers
        return int(servers[0].sockets[0].getsockname()[1]) if servers else self.settings.http.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Bot:
        """Start in the background (tests, demo). Returns once HTTP listens and Socket Mode
        has connected."""
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the HTTP server did not start")
            time.sleep(0.01)
        self.slack.start()
        self.scheduler.start()
        self.runtime.ticker.start()
        OUTBOX.watch(self.runtime.store.outbox.snapshot)
        log.info("bot_started", mode=self.settings.slack.mode, port=self.port)
        return self

    def serve_forever(self) -> None:
        """Serve until SIGTERM (or Ctrl-C), then drain (see :meth:`drain`)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._stop_requested.set())
        self.start()
        while not self._stop_requested.wait(0.5):
            if self._thread is None or not self._thread.is_alive():
                log.error("shutdown.http_server_died")
                break
        self.drain()

    def drain(self) -> None:
        """Stop without losing anything, a log line per step: /readyz turns 503 at once and
        the bot keeps serving for ``http.drain_delay_s`` (Kubernetes removes the pod from its
        Service meanwhile); then the listener closes after its in-flight requests, accepted
        commands and clicks finish (``jobs.drain_timeout_s``), the outbox worker releases its
        claims and the process ends, well inside terminationGracePeriodSeconds (30 s)."""
        started = time.monotonic()
        self._draining.set()
        log.info("shutdown.not_ready", drain_delay_s=self.settings.http.drain_delay_s)
        time.sleep(self.settings.http.drain_delay_s)
        self.slack.close_connection()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
        log.info("shutdown.http_closed")
        unfinished = self.runtime.jobs.drain(self.settings.jobs.drain_timeout_s)
        log.info("shutdown.jobs_done", unfinished=unfinished)
        self.stop()
        log.info("shutdown.done", took_s=round(time.monotonic() - started, 2))

    def stop(self) -> None:
        OUTBOX.watch(None)
        self.runtime.ticker.stop()
        self.scheduler.stop()
        self.slack.stop()
        log.info("shutdown.outbox_released")
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.runtime.close()
