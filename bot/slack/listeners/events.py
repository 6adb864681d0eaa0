"""Channel mode (``alerts.source=channel``): Alertmanager posts in the alert channels through
``slack_configs``; each of its posts becomes an incident, answered in the post's thread.

Only posts from a trusted sender count: the bot or app ids in ``alerts.channel_senders``,
the bot's own id (Alertmanager 0.32 may post with the bot's token), or, when none is
configured, the first Alertmanager-looking sender, learned once and logged. Anyone else
holding an incoming-webhook URL for the channel is refused, with a log line.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import structlog
from slack_bolt import App, BoltContext

from bot.alerts.channel import parse_alertmanager_message, sender_ids, to_notification
from bot.alerts.intake import Intake
from bot.channels import Channels
from bot.config import AlertSettings
from bot.store.leases import LeaseStore
from bot.times import utcnow

log = structlog.get_logger(__name__)

# Slack retries an event within minutes; remembering its id for an hour is plenty.
KEEP_EVENT_IDS = timedelta(hours=1)
PRUNE_EVERY_S = 600.0


class _Trust:
    def __init__(self, configured: list[str], leases: LeaseStore) -> None:
        self.configured = frozenset(configured)
        self.leases = leases

    def allows(self, senders: frozenset[str], own_bot: str | None, channel: str) -> bool:
        if senders & (self.configured | {own_bot}):
            return True
        if self.configured:
            return False
        learned = self.leases.learned_senders()
        if senders & learned:
            return True
        if not learned and senders and self.leases.learn_sender(set(senders), channel):
            log.warning("alertmanager_sender_learned", senders=sorted(senders), channel=channel,
                        hint="set GENAI_ALERTS__CHANNEL_SENDERS to pin it")
            return True
        return False


class _Pruner:
    """Forgets old Slack event ids now and then, so the table stays small."""

    def __init__(self, leases: LeaseStore) -> None:
        self.leases = leases
        self._next = 0.0
        self._lock = threading.Lock()

    def maybe(self) -> None:
        with self._lock:
            if time.monotonic() < self._next:
                return
            self._next = time.monotonic() + PRUNE_EVERY_S
        try:
            self.leases.prune_slack_events(utcnow() - KEEP_EVENT_IDS)
        except Exception:  # the next event tries again
            log.exception("slack_event_prune_failed")


def register(app: App, settings: AlertSettings, channels: Channels, intake: Intake,
             leases: LeaseStore) -> None:
    trust = _Trust(settings.channel_senders, leases)
    pruner = _Pruner(leases)

    @app.event("message")
    def on_message(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        if settings.source != "channel":
            return  # the webhook brings the alerts; nothing is recorded for these events
        channel = str(event.get("channel", ""))
        known = channels.ids()
        if known and channel not in known:
            return
        alert = parse_alertmanager_message(event, channel=channel)
        if alert is None:
            return
        senders = sender_ids(event)
        if not trust.allows(senders, context.bot_id, channel):
            log.warning("channel_post_refused", channel=channel, senders=sorted(senders),
                        alertname=alert.alertname,
                        hint="not a trusted Alertmanager sender (GENAI_ALERTS__CHANNEL_SENDERS)")
            return
        # Slack retries events it thinks we missed (X-Slack-Retry-Num): act on each once.
        event_id = body.get("event_id")
        if event_id and leases.seen_slack_event(str(event_id)):
            return
        pruner.maybe()
        answer = intake.record(to_notification(alert), channel, thread_ts=alert.ts)
        if answer.status != 200:
            log.error("channel_alert_not_stored", channel=channel, answer=answer.body)
