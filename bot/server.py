"""One bot process: the runtime, its Slack side, the HTTP server (the webhook, probes,
metrics, and Slack's requests in HTTP mode) and the Game Day scheduler."""

from __future__ import annotations

import os
import socket
import threading
import time

import structlog
import uvicorn

from bot.config import Settings
from bot.gameday.scheduler import Scheduler
from bot.http import build_http_app
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
        http_app = build_http_app(self.ready, self.runtime.intake, self.slack.routes())
        self._server = uvicorn.Server(
            uvicorn.Config(http_app, host=settings.http.host, port=settings.http.port,
                           log_config=None, access_log=False, lifespan="off",
                           timeout_graceful_shutdown=2)
        )
        self._thread: threading.Thread | None = None

    def ready(self) -> bool:
        return self.slack.connected() and self.runtime.store.db.ping()

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
        log.info("bot_started", mode=self.settings.slack.mode, port=self.port)
        return self

    def serve_forever(self) -> None:
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        self.scheduler.stop()
        self.slack.stop()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.runtime.close()
