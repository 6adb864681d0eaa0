"""One module per listener kind, each with ``register(app, …)`` (as in Slack's Bolt starter
template); :func:`register_all` hands each exactly the services it uses."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.runtime import Runtime
from bot.slack.listeners import actions, commands, events, views


def register_all(app: App, runtime: Runtime, client: WebClient) -> None:
    commands.register(app, runtime.roles, runtime.jobs, runtime.execute)
    actions.register(app, runtime.jobs,
                     actions.registry(runtime.incidents, runtime.gameday, client,
                                      runtime.settings.http.public_url))
    views.register(app, runtime.jobs, runtime.gameday, runtime.incidents)
    events.register(app, runtime.settings.alerts, runtime.channels, runtime.intake,
                    runtime.store.leases)
