"""Channel mode: real Alertmanager posts through slack_configs; the bot reads the message
event (as Slack's event subscription delivers it, signed) and answers in the thread with the
runbook and the buttons; Slack's retry of the same event is dropped; RESOLVED resolves."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from tests.harness.alerts import attachment_blocks, text_of, wait
from tests.harness.bots import BotFactory
from tests.harness.kube import KubeStandin
from tests.harness.procs import AlertmanagerProcess, require_binary
from tests.harness.slack import SlackStandin

LABELS = {"alertname": "GPUMemoryHigh", "severity": "warning", "Hostname": "gpu-node-1",
          "gpu": "3"}


def am_config(slack_webhook: str) -> str:
    return yaml.safe_dump({
        "global": {"resolve_timeout": "5s"},
        "route": {"receiver": "warnings", "group_by": ["alertname", "severity"],
                  "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "warnings", "slack_configs": [{
            "api_url": slack_webhook, "channel": "#genai-warnings", "send_resolved": True,
            "title": "{{ .Status | toUpper }}: {{ .CommonLabels.alertname }}",
            "text": "{{ range .Alerts }}{{ .Annotations.description }}\n{{ end }}",
        }]}],
    })


def alert(ends: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"labels": LABELS, "annotations": {
        "summary": "GPU memory above 90%", "description": "gpu-node-1 GPU 3 is at 95%"}}
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return body


def test_bot_answers_alertmanagers_post_in_its_thread(slack: SlackStandin,
                                                      make_bot: BotFactory) -> None:
    require_binary(["prometheus-alertmanager", "alertmanager"], "real Alertmanager posts")
    channel = slack.channel_id("#genai-warnings")
    with KubeStandin() as kube, \
            AlertmanagerProcess(am_config(slack.new_incoming_webhook("#genai-warnings"))) as am:
        bot = make_bot("http://127.0.0.1:1", kube.url, alerts={"source": "channel"},
                       alertmanager={"url": am.url})
        slack.forward_events_to(bot.url + "/slack/events")
        am.post_alerts([alert()])

        def am_post() -> dict[str, Any] | None:
            return next((m for m in slack.messages.get(channel, [])
                         if m.get("username") == "Alertmanager"), None)

        root = wait(am_post, "Alertmanager's own post")
        assert "FIRING: GPUMemoryHigh" in str(root.get("attachments"))

        def replies() -> list[dict[str, Any]]:
            return [m for m in slack.messages.get(channel, [])
                    if m.get("thread_ts") == root["ts"] and m["ts"] != root["ts"]
                    and m.get("bot_id") == slack.bot_id]

        wait(lambda: len(replies()) >= 2, "the bot's answer and runbook in the thread")
        answer = next(m for m in replies() if m.get("attachments"))
        assert any(b.get("type") == "actions" for b in attachment_blocks(answer))
        assert any("MAX_BATCH_SIZE" in text_of(m) for m in replies())
        incidents = bot.runtime.store.incidents.open()
        assert [i.alertname for i in incidents] == ["GPUMemoryHigh"]
        assert incidents[0].thread_ts == root["ts"]

        # Slack redelivers the same event (X-Slack-Retry-Num): acted on once.
        delivered = [d for d in slack.deliveries if d.kind == "events_api"
                     and d.payload.get("event", {}).get("ts") == root["ts"]]
        assert delivered, "the message event reached the bot"
        event = delivered[0].payload
        retry = slack.send_event(bot.url + "/slack/events", event["event"],
                                 event_id=event["event_id"], retry_num=1)
        assert retry.status_code == 200
        time.sleep(1.5)
        assert len(bot.runtime.store.incidents.open()) == 1
        assert len([m for m in replies() if m.get("attachments")]) == 1

        # Alertmanager resolves: the incident resolves and the bot's message says so.
        am.post_alerts([alert(ends=datetime.now(UTC) - timedelta(seconds=1))])
        wait(lambda: bot.runtime.store.incidents.get(incidents[0].public_id).status == "resolved",
             "the RESOLVED post to resolve the incident", timeout=60)
        wait(lambda: "Resolved after" in text_of(slack.find_message(channel, answer["ts"]) or {}),
             "the answer edited to resolved")


@pytest.mark.parametrize("source", ["webhook"])
def test_channel_posts_are_ignored_in_webhook_mode(slack: SlackStandin, make_bot: BotFactory,
                                                   source: str) -> None:
    with KubeStandin() as kube:
        bot = make_bot("http://127.0.0.1:1", kube.url, alerts={"source": source})
        slack.forward_events_to(bot.url + "/slack/events")
        slack.add_message(slack.channel_id("#genai-warnings"), username="Alertmanager",
                          bot_id="B0AM", attachments=[{
                              "title": "FIRING: GPUMemoryHigh", "color": "danger",
                              "fallback": "[FIRING:1] GPUMemoryHigh warning | "
                                          "http://am:9093/#/alerts?receiver=x",
                              "text": "x"}])
        time.sleep(1.5)
        assert bot.runtime.store.incidents.open() == []
