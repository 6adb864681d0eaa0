"""The Bolt app: built once per process and wired to the listeners. Listeners only parse,
authorize, ack and hand the work to the job pool."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

from bot.config import Settings
from bot.runtime import Runtime
from bot.slack.listeners import register_all


def build_app(settings: Settings, runtime: Runtime, client: WebClient, *,
              token_verification: bool = True) -> App:
    secret = settings.slack.signing_secret
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret else None,
        # Signatures only exist on HTTP requests; Socket Mode is authenticated by the app token.
        request_verification_enabled=settings.slack.mode == "http",
        token_verification_enabled=token_verification,
        # Alertmanager 0.32 may post with the bot's own token: its posts and edits must reach
        # the channel listener, which tells the bot's own messages apart by their Block Kit.
        ignoring_self_events_enabled=False,
        # Listeners here only parse, ack and enqueue, so they run inline in the dispatching
        # thread: no hop to Bolt's listener pool (5 threads by default, where acks queue
        # behind slow work) and no 10 ms polling for the ack. The work goes to the job pool.
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(
            max_workers=settings.jobs.listener_threads, thread_name_prefix="listener"
        ),
    )
    if settings.slack.mode == "socket":
        gate = runtime.jobs.gate

        # In HTTP mode the server counts requests in from arrival; here, from dispatch.
        @app.middleware
        def hold_jobs_until_acked(next: Callable[[], BoltResponse]) -> BoltResponse:
            gate.enter()
            try:
                return next()
            finally:
                gate.leave()

    register_all(app, runtime, client)
    return app
