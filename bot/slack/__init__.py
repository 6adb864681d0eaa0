"""The one package that knows Slack: the Bolt app and its listeners, the Web API client,
Socket Mode, the outbox worker and every Block Kit renderer. Nothing outside it imports
``slack_sdk`` or ``slack_bolt`` or builds a Block Kit dict (``tests/test_layers.py``)."""

from slack_sdk import WebClient as SlackClient

from bot.slack.client import build_client, usergroup_members
from bot.slack.side import SlackSide

__all__ = ["SlackClient", "SlackSide", "build_client", "usergroup_members"]
