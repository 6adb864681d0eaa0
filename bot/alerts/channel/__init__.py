"""Channel mode: Alertmanager posts in the alert channels through ``slack_configs``; the bot
reads each post back into an alert (:mod:`.post`, :mod:`.subject`) and records it as the
webhook notification Alertmanager would have sent (:mod:`.notification`)."""

from bot.alerts.channel.notification import (
    external_url,
    fingerprint,
    group_key,
    group_labels_of,
    to_notification,
    ts_to_rfc3339,
)
from bot.alerts.channel.post import (
    ChannelAlert,
    common_label,
    group_label,
    is_positional,
    parse_alertmanager_message,
    sender_ids,
)

__all__ = [
    "ChannelAlert",
    "common_label",
    "external_url",
    "fingerprint",
    "group_key",
    "group_label",
    "group_labels_of",
    "is_positional",
    "parse_alertmanager_message",
    "sender_ids",
    "to_notification",
    "ts_to_rfc3339",
]
