"""Channel mode through the real app: what real Alertmanager posts, read back once and keyed on
what its FIRING and RESOLVED posts share; Alertmanager 0.32's edits of its own post; only
trusted senders open incidents; Slack event ids are kept only for acted-on posts, briefly."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog.testing
import yaml
from slack_sdk import WebClient

from bot.store.models import SlackEvent
from bot.times import utcnow
from tests.fixtures.alertmanager import record
from tests.harness.alerts import attachment_blocks, text_of, wait
from tests.harness.bots import BotFactory
from tests.harness.kube import KubeStandin
from tests.harness.procs import AlertmanagerProcess, require_binary
from tests.harness.slack import SlackStandin

POSTS = {p["name"]: p for p in json.loads(
    Path(record.__file__).with_name("slack_posts.json").read_text())["posts"]}
LONG = "GPU 3 on gpu-node-1 is at 95% of its memory; " * 30  # ~1,400 characters


def am_config(slack_webhook: str, title: str) -> str:
    return yaml.safe_dump({
        "global": {"resolve_timeout": "5s"},
        "route": {"receiver": "warnings", "group_by": ["alertname", "severity"],
                  "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "warnings", "slack_configs": [{
            "api_url": slack_webhook, "channel": "#genai-warnings", "send_resolved": True,
            "title": title, "text": "{{ range .Alerts }}{{ .Annotations.description }}\n{{ end }}",
        }]}],
    })


def channel_bot(slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin,
                **alerts: Any) -> Any:
    bot = make_bot("http://127.0.0.1:1", kube.url, alerts={"source": "channel", **alerts})
    slack.forward_events_to(bot.url + "/slack/events")
    return bot


def replies(slack: SlackStandin, channel: str, root: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages.get(channel, [])
            if m.get("thread_ts") == root and m["ts"] != root and m.get("bot_id") == slack.bot_id]


def test_long_title_and_ampersands_round_trip(slack: SlackStandin, make_bot: BotFactory) -> None:
    """Alertmanager cuts a title at 1,024 characters, at different places in the FIRING and
    the RESOLVED post (their prefixes differ in length): the RESOLVED post must still
    resolve the incident (defect c). Slack delivers `&` as `&amp;`: the card shows it once
    escaped, never `&amp;amp;` (defect d)."""
    require_binary(["prometheus-alertmanager", "alertmanager"], "real Alertmanager posts")
    channel = slack.channel_id("#genai-warnings")
    title = ("{{ .Status | toUpper }}: {{ .CommonLabels.alertname }} "
             "{{ .CommonAnnotations.summary }}")
    labels = {"alertname": "GPUMemoryHigh", "severity": "warning", "team": "ml&infra",
              "Hostname": "gpu-node-1"}
    body = {"labels": labels, "annotations": {"summary": LONG, "description": "a & b <c>"}}
    with KubeStandin() as kube, \
            AlertmanagerProcess(am_config(slack.new_incoming_webhook("#genai-warnings"),
                                          title)) as am:
        bot = channel_bot(slack, make_bot, kube)
        am.post_alerts([body])
        root = wait(lambda: next((m for m in slack.messages.get(channel, [])
                                  if m.get("username") == "Alertmanager"), None),
                    "Alertmanager's FIRING post")
        assert len(root["attachments"][0]["title"]) == 1024  # cut by Alertmanager
        card = wait(lambda: next((m for m in replies(slack, channel, root["ts"])
                                  if m.get("attachments")), None), "the bot's card")
        shown = json.dumps(attachment_blocks(card), ensure_ascii=False)
        assert "ml&amp;infra" in shown and "a &amp; b &lt;c&gt;" in shown
        assert "&amp;amp;" not in shown and "&amp;lt;" not in shown
        (incident,) = bot.runtime.store.incidents.open()
        ended = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        am.post_alerts([{**body, "endsAt": ended}])
        wait(lambda: any("RESOLVED" in str(m.get("attachments"))
                         for m in slack.messages.get(channel, [])), "the RESOLVED post")
        wait(lambda: bot.runtime.store.incidents.get(incident.public_id).status == "resolved",
             "the RESOLVED post to resolve the same incident")
        assert bot.runtime.store.incidents.open() == []


def test_alertmanager_032_edits_its_own_post_with_the_bots_token(
        slack: SlackStandin, make_bot: BotFactory) -> None:
    """`update_message: true`: Alertmanager posts with a bot token (here the bot's own) and,
    on resolve, edits that post. The edit arrives as message_changed and resolves it."""
    channel = slack.channel_id("#genai-warnings")
    am_client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    firing = json.loads(POSTS["guide.GPUMemoryHigh.firing"]["body"])["attachments"]
    resolved = json.loads(POSTS["guide.GPUMemoryHigh.resolved"]["body"])["attachments"]
    with KubeStandin() as kube:
        bot = channel_bot(slack, make_bot, kube)
        posted = am_client.chat_postMessage(channel=channel, attachments=firing)
        wait(lambda: bot.runtime.store.incidents.open(), "the post to open an incident")
        (incident,) = bot.runtime.store.incidents.open()
        assert incident.thread_ts == posted["ts"]
        card = wait(lambda: next((m for m in replies(slack, channel, posted["ts"])
                                  if m.get("attachments")), None), "the bot's card")
        am_client.chat_update(channel=channel, ts=posted["ts"], attachments=resolved)
        wait(lambda: bot.runtime.store.incidents.get(incident.public_id).status == "resolved",
             "the edit to resolve the incident")
        wait(lambda: "Resolved after" in text_of(slack.find_message(channel, card["ts"]) or {}),
             "the card edited to resolved")
        # The bot's own edits of its card (message_changed too) opened nothing.
        time.sleep(1.0)
        assert bot.runtime.store.incidents.open() == []
        assert len({i.public_id for i in [incident]}) == 1


def test_only_trusted_senders_open_incidents(slack: SlackStandin, make_bot: BotFactory) -> None:
    """The first Alertmanager-looking sender is learned (and logged); anyone else holding an
    incoming-webhook URL for the channel is refused, with a log line (defect r)."""
    channel = slack.channel_id("#genai-warnings")
    first = json.loads(POSTS["defaults.GPUMemoryHigh.firing"]["body"])
    other = json.loads(POSTS["defaults.InferenceErrorRateHigh.firing"]["body"])
    with KubeStandin() as kube, structlog.testing.capture_logs() as logs:
        bot = channel_bot(slack, make_bot, kube)
        am_hook, intruder_hook = (slack.new_incoming_webhook("#genai-warnings")
                                  for _ in range(2))
        assert slack.post_to_webhook(am_hook, first) == 200
        wait(lambda: len(bot.runtime.store.incidents.open()) == 1, "the first sender's post")
        learned = bot.runtime.store.leases.learned_senders()
        assert len(learned) == 1 and next(iter(learned)).startswith("B")
        assert slack.post_to_webhook(intruder_hook, other) == 200
        wait(lambda: any(e["event"] == "channel_post_refused" for e in logs), "the refusal")
        time.sleep(0.5)
        assert [i.alertname for i in bot.runtime.store.incidents.open()] == ["GPUMemoryHigh"]
    (learn,) = [e for e in logs if e["event"] == "alertmanager_sender_learned"]
    assert learn["channel"] == channel and "GENAI_ALERTS__CHANNEL_SENDERS" in learn["hint"]
    (refused,) = [e for e in logs if e["event"] == "channel_post_refused"]
    assert refused["alertname"] == "InferenceErrorRateHigh"
    assert set(refused["senders"]).isdisjoint(learned)


def test_configured_senders_are_the_only_ones(slack: SlackStandin,
                                             make_bot: BotFactory) -> None:
    am_hook = slack.new_incoming_webhook("#genai-warnings")
    post = json.loads(POSTS["defaults.GPUMemoryHigh.firing"]["body"])
    with KubeStandin() as kube:
        bot = channel_bot(slack, make_bot, kube, channel_senders=["B0SOMEONEELSE"])
        assert slack.post_to_webhook(am_hook, post) == 200
        time.sleep(1.5)
        assert bot.runtime.store.incidents.open() == []
        assert bot.runtime.store.leases.learned_senders() == set()  # nothing learned


def test_event_ids_only_for_acted_on_posts_and_pruned(slack: SlackStandin,
                                                     make_bot: BotFactory) -> None:
    """Webhook mode records no Slack event ids at all; channel mode records the ids of the
    posts it acted on, and forgets those older than an hour (defect b)."""
    channel = slack.channel_id("#genai-warnings")
    with KubeStandin() as kube:
        webhook_bot = make_bot("http://127.0.0.1:1", kube.url)
        slack.forward_events_to(webhook_bot.url + "/slack/events")
        slack.add_message(channel, "hello")
        slack.post_to_webhook(slack.new_incoming_webhook("#genai-warnings"),
                              json.loads(POSTS["defaults.GPUMemoryHigh.firing"]["body"]))
        time.sleep(1.0)
        with webhook_bot.runtime.store.db.session(readonly=True) as s:
            assert s.query(SlackEvent).count() == 0

        bot = channel_bot(slack, make_bot, kube)
        leases = bot.runtime.store.leases
        assert not leases.seen_slack_event("EvOLD", now=utcnow() - timedelta(hours=2))
        slack.add_message(channel, "people talking")  # not an alert: nothing kept
        slack.post_to_webhook(slack.new_incoming_webhook("#genai-warnings"),
                              json.loads(POSTS["defaults.GPUMemoryHigh.firing"]["body"]))
        wait(lambda: bot.runtime.store.incidents.open(), "the alert post")
        with bot.runtime.store.db.session(readonly=True) as s:
            kept = [e.event_id for e in s.query(SlackEvent)]
        assert len(kept) == 1 and kept != ["EvOLD"]  # the old id was pruned
