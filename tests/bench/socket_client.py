"""One Socket Mode client in its own process, for `tests/bench/socket_mode.py`:

    python -m tests.bench.socket_client KIND API_URL APP_TOKEN BOT_TOKEN

Every kind serves the same Bolt listener (`/genai` acks at once), in an app configured as the
bot configures its own (``process_before_response``); only the client differs: ours
(`bot/slack/socket`, with or without TCP_NODELAY) or one of slack_sdk's, each with its
defaults. It runs until killed."""

from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

KINDS = ("ours", "ours-nagle", "sdk-builtin", "sdk-websocket-client", "sdk-aiohttp",
         "sdk-websockets")


def _sync_app(api_url: str, bot_token: str) -> Any:
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    # As the bot configures it: the listener runs inline, so no 10 ms polling for its ack.
    app = App(client=WebClient(token=bot_token, base_url=api_url),
              token_verification_enabled=False, request_verification_enabled=False,
              process_before_response=True)

    @app.command("/genai")
    def genai(ack: Ack) -> None:
        ack(text="Working on it")

    return app


def _async_app(api_url: str, bot_token: str) -> Any:
    from slack_bolt.app.async_app import AsyncApp
    from slack_bolt.context.ack.async_ack import AsyncAck
    from slack_sdk.web.async_client import AsyncWebClient

    # AsyncApp checks its token lazily, at the first request (the stand-in answers it).
    app = AsyncApp(client=AsyncWebClient(token=bot_token, base_url=api_url),
                   request_verification_enabled=False, process_before_response=True)

    @app.command("/genai")
    async def genai(ack: AsyncAck) -> None:
        await ack(text="Working on it")

    return app


def serve(kind: str, api_url: str, app_token: str, bot_token: str) -> None:
    if kind.startswith("ours"):
        from bot.config.sections import SlackSettings
        from bot.slack.socket import SocketModeRunner
        from bot.slack.socket.connection import Connection

        defaults = SlackSettings()  # the bot's keepalive defaults
        Connection.NODELAY = kind == "ours"
        SocketModeRunner(_sync_app(api_url, bot_token), app_token, api_url,
                         ThreadPoolExecutor(32, thread_name_prefix="socket-envelope"),
                         ping_interval=defaults.socket_ping_interval_s,
                         ping_timeout=defaults.socket_ping_timeout_s).start()
        threading.Event().wait()
    from slack_sdk import WebClient

    if kind == "sdk-builtin":
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(_sync_app(api_url, bot_token), app_token,
                          web_client=WebClient(base_url=api_url)).connect()  # type: ignore[no-untyped-call]
        threading.Event().wait()
    if kind == "sdk-websocket-client":
        from slack_bolt.adapter.socket_mode.websocket_client import (
            SocketModeHandler as WebsocketClientHandler,
        )

        WebsocketClientHandler(_sync_app(api_url, bot_token), app_token,
                               web_client=WebClient(base_url=api_url)).connect()  # type: ignore[no-untyped-call]
        threading.Event().wait()
    asyncio.run(_serve_async(kind, api_url, app_token, bot_token))


async def _serve_async(kind: str, api_url: str, app_token: str, bot_token: str) -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(base_url=api_url)
    handler: Any
    if kind == "sdk-aiohttp":
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(_async_app(api_url, bot_token), app_token,
                                         web_client=client)
    else:
        from slack_bolt.adapter.socket_mode.websockets import (
            AsyncSocketModeHandler as WebsocketsHandler,
        )

        handler = WebsocketsHandler(_async_app(api_url, bot_token), app_token, web_client=client)
    await handler.connect_async()
    await asyncio.Event().wait()


if __name__ == "__main__":
    kind, url, app_token, bot_token = sys.argv[1:5]
    if kind not in KINDS:
        raise SystemExit(f"kind must be one of {', '.join(KINDS)}")
    serve(kind, url, app_token, bot_token)
