"""Everything of Slack in one bot process: the client, the Bolt app, Socket Mode or the HTTP
route, and the outbox worker. The server starts and stops it; nothing else touches it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from starlette.routing import BaseRoute

from bot.config import Settings
from bot.errors import StartupError
from bot.runtime import Runtime
from bot.slack.app import build_app
from bot.slack.client import resolve_channel_ids
from bot.slack.http import slack_events_route
from bot.slack.outbox.worker import OutboxWorker
from bot.slack.render.table import MessageRenderer
from bot.slack.socket import SocketModeRunner

log = structlog.get_logger(__name__)

# Slack's answers to a bad token, and what to do about each.
_TOKEN_FIXES = {
    "invalid_auth": "the token is not valid: copy it again from the app's settings",
    "not_authed": "no token was sent",
    "token_revoked": "the token was revoked: reinstall the app and use its new token",
    "token_expired": "the token expired: reinstall the app or rotate the token",
    "account_inactive": "the app's user is deactivated: reinstall the app",
}


class SlackSide:
    def __init__(self, settings: Settings, runtime: Runtime, client: WebClient,
                 worker_id: str) -> None:
        self.settings = settings
        self.runtime = runtime
        self.client = client
        self.check()  # before Bolt's own token check, which would end in a traceback
        self.app = build_app(settings, runtime, client)
        self.socket: SocketModeRunner | None = None
        self._closed = False
        if settings.slack.mode == "socket":
            if settings.slack.app_token is None:
                raise StartupError("Socket Mode needs GENAI_SLACK__APP_TOKEN (xapp-…)")
            self.socket = SocketModeRunner(
                self.app, settings.slack.app_token.get_secret_value(),
                settings.slack.api_base_url,
                ThreadPoolExecutor(settings.jobs.listener_threads,
                                   thread_name_prefix="socket-envelope"),
                ping_interval=settings.slack.socket_ping_interval_s,
                ping_timeout=settings.slack.socket_ping_timeout_s,
                hello_timeout=settings.slack.socket_hello_timeout_s)
        self.outbox = OutboxWorker(
            runtime.store.outbox, client,
            MessageRenderer(runtime.store.incidents, runtime.runbooks,
                            settings.alerts.silence_durations, settings.http.public_url),
            worker_id=worker_id, wakeup=runtime.wakeup,
            per_channel_interval_s=settings.alerts.channel_interval_s,
            lease_s=settings.alerts.outbox_lease_s,
        )

    def routes(self) -> list[BaseRoute]:
        """``/slack/events`` in HTTP mode; nothing in Socket Mode."""
        return [] if self.socket is not None else [
            slack_events_route(self.app, self.runtime.jobs.gate)]

    def check(self) -> None:
        """``auth.test`` with the bot token: Slack unreachable or the token refused is a
        :class:`StartupError` with one line that says which."""
        base = self.settings.slack.api_base_url
        try:
            self.client.auth_test()
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "unknown_error")
            fix = _TOKEN_FIXES.get(code, "see https://api.slack.com/methods/auth.test")
            raise StartupError(f"Slack refused the bot token GENAI_SLACK__BOT_TOKEN "
                               f"({code}): {fix}") from None
        except OSError as exc:  # URLError, timeouts, refused connections
            reason = getattr(exc, "reason", exc)
            raise StartupError(f"cannot reach Slack at {base} ({reason}): check the network "
                               "or GENAI_SLACK__API_BASE_URL") from None

    def start(self) -> None:
        self._learn_channels()
        if self.socket is not None:
            self.socket.start()  # a refused app token is a StartupError with one line
        self.outbox.start()

    def connected(self) -> bool:
        """Slack can reach us: always in HTTP mode; in Socket Mode, while a connection is
        open and greeted."""
        return self.socket is None or self.socket.connected()

    def deaf_for(self) -> float:
        """Seconds Slack has had no way to reach us (Socket Mode without a connection)."""
        return 0.0 if self.socket is None else self.socket.disconnected_for()

    def _learn_channels(self) -> None:
        channels = self.runtime.channels
        names = channels.configured()
        try:
            ids = resolve_channel_ids(self.client, names)
        except SlackApiError as exc:
            log.warning("channels_unresolved", error=exc.response.get("error"),
                        hint="add channels:read and groups:read, or configure channel ids")
            return
        channels.learn(ids)
        missing = sorted(set(names) - set(ids))
        if missing:
            log.warning("channels_not_found", channels=missing,
                        hint="create them or configure channel ids (C…)")

    def close_connection(self) -> None:
        """Stop taking Slack's requests (Socket Mode); the HTTP route closes with the
        server. Idempotent."""
        if self.socket is not None and not self._closed:
            self._closed = True
            self.socket.close()
            log.info("shutdown.socket_closed")

    def stop(self) -> None:
        self.outbox.stop()
        self.close_connection()
