"""One bot process: the Bolt app on Socket Mode or HTTP, plus the HTTP server for probes,
metrics (and, in HTTP mode, Slack's requests)."""

from __future__ import annotations

import os
import socket
import threading
import time

import structlog
import uvicorn
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts.delivery import Renderer
from bot.alerts.outbox import OutboxWorker
from bot.app import build_app, build_client, resolve_channel_ids, usergroup_members
from bot.config import Settings
from bot.gameday.render import outbox_message
from bot.gameday.scheduler import Scheduler
from bot.http import build_http_app
from bot.runtime import Runtime

log = structlog.get_logger(__name__)


class Bot:
    def __init__(
        self, settings: Settings, client: WebClient | None = None, runtime: Runtime | None = None
    ) -> None:
        self.settings = settings
        self.client = client or build_client(settings)
        self.runtime = runtime or Runtime.from_settings(settings, usergroup_members(self.client))
        self.bolt = build_app(settings, self.runtime, self.client)
        self.socket: SocketModeHandler | None = None
        if settings.slack.mode == "socket":
            assert settings.slack.app_token is not None, "socket mode needs slack.app_token"
            self.socket = SocketModeHandler(
                self.bolt, settings.slack.app_token.get_secret_value(), web_client=self.client
            )
        http_app = build_http_app(
            self.bolt if self.socket is None else None,
            self.ready,
            self.runtime.jobs.gate,
            self.runtime.intake,
        )
        renderer = Renderer(self.runtime.store, self.runtime.runbooks)
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.outbox = OutboxWorker(
            self.runtime.store,
            self.client,
            # Game Day rows carry their message; alert rows are rendered from the incident.
            lambda row: outbox_message(row) or renderer(row),
            worker_id=worker_id,
            per_channel_interval_s=settings.alerts.channel_interval_s,
        )
        self.runtime.notify_outbox = self.outbox.notify
        self.scheduler = Scheduler(self.runtime.gameday, holder=worker_id)
        self._server = uvicorn.Server(
            uvicorn.Config(
                http_app,
                host=settings.http.host,
                port=settings.http.port,
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=2,
            )
        )
        self._thread: threading.Thread | None = None

    def ready(self) -> bool:
        if self.socket is not None and not self.socket.client.is_connected():
            return False
        return self.runtime.store.db.ping() and self.runtime.ready()

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
        self._resolve_channels()
        if self.socket is not None:
            self.socket.connect()  # type: ignore[no-untyped-call]
        self.outbox.start()
        self.scheduler.start()
        log.info("bot_started", mode=self.settings.slack.mode, port=self.port)
        return self

    def _resolve_channels(self) -> None:
        names = [c for c in self.settings.channels.model_dump().values() if c]
        try:
            ids = resolve_channel_ids(self.client, names)
        except SlackApiError as exc:
            log.warning("channels_unresolved", error=exc.response.get("error"),
                        hint="add channels:read and groups:read, or configure channel ids")
            return
        self.runtime.intake.channel_ids.update(ids)
        missing = sorted(set(names) - set(ids))
        if missing:
            log.warning("channels_not_found", channels=missing,
                        hint="create them or configure channel ids (C…)")

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
        self.outbox.stop()
        if self.socket is not None:
            self.socket.close()  # type: ignore[no-untyped-call]
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)
        self.runtime.close()
