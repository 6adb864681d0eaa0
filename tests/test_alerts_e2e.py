"""The whole alert path with the real binaries: the synthetic exporter feeds real Prometheus,
which runs the rules from manifests/ (with a short `for`); real Alertmanager routes to the
bot's webhook and to the Slack stand-in; the bot posts the runbook; signed clicks acknowledge,
silence (a real Alertmanager silence) and unsilence; the values recover and the message is
edited to resolved.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.harness.alerts import attachment_blocks, bot_posts, text_of, wait
from tests.harness.bots import WEBHOOK_TOKEN, BotFactory
from tests.harness.exporter import SyntheticExporter
from tests.harness.kube import KubeStandin
from tests.harness.procs import (
    AlertmanagerProcess,
    PrometheusProcess,
    free_port,
    require_binary,
)
from tests.harness.slack import SlackStandin

ROOT = Path(__file__).resolve().parent.parent
RESPONDER = "U0RESPONDER"


def short_rules(tmp: Path) -> Path:
    """The shipped PrometheusRule's groups as a plain rule file, every `for` cut to 1 s."""
    spec = yaml.safe_load((ROOT / "manifests" / "prometheus-rules.yaml").read_text())["spec"]
    for group in spec["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "1s"
    path = tmp / "rules.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def am_config(bot_url: str, slack_webhook: str) -> str:
    return yaml.safe_dump({
        "global": {"resolve_timeout": "5s"},
        "route": {
            "receiver": "bot-and-slack", "group_by": ["alertname", "severity"],
            "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h",
        },
        "receivers": [{
            "name": "bot-and-slack",
            "webhook_configs": [{
                "url": f"{bot_url}/alertmanager", "send_resolved": True,
                "http_config": {"authorization": {"type": "Bearer",
                                                  "credentials": WEBHOOK_TOKEN}},
            }],
            "slack_configs": [{
                "api_url": slack_webhook, "channel": "#genai-warnings", "send_resolved": True,
                "title": "{{ .Status | toUpper }}: {{ .CommonLabels.alertname }}",
            }],
        }],
    })


@pytest.fixture
def stack(tmp_path: Path, slack: SlackStandin, make_bot: BotFactory) -> Iterator[dict[str, Any]]:
    require_binary("prometheus", "the alert rules run in real Prometheus")
    require_binary(["prometheus-alertmanager", "alertmanager"], "real Alertmanager routes")
    port = free_port()  # chosen first: Alertmanager's config names the bot's URL
    config = am_config(f"http://127.0.0.1:{port}", slack.new_incoming_webhook("#genai-warnings"))
    with SyntheticExporter() as exporter, KubeStandin() as kube, \
            AlertmanagerProcess(config) as am:
        for g in range(4):
            exporter.set_gpu("gpu-node-1", g, fb_used=40_000, fb_free=41_000)
        with PrometheusProcess([exporter.target], rule_files=[short_rules(tmp_path)],
                               alertmanager_url=am.url) as prom:
            bot = make_bot(prom.url, kube.url, http={"host": "127.0.0.1", "port": port},
                           roles={"responders": [RESPONDER]}, alertmanager={"url": am.url})
            yield {"bot": bot, "am": am, "prom": prom, "exporter": exporter}


def test_alert_to_slack_ack_silence_resolve(stack: dict[str, Any], slack: SlackStandin) -> None:
    bot, am, exporter = stack["bot"], stack["am"], stack["exporter"]
    events = bot.url + "/slack/events"
    exporter.set_gpu("gpu-node-1", 3, fb_used=77_000, fb_free=4_000)  # 95%: GPUMemoryHigh

    # 1-3. Prometheus fires, Alertmanager calls the webhook, the bot posts with the runbook.
    channel, post = wait(lambda: next(iter(bot_posts(slack)), None), "the bot's alert post")
    assert "GPUMemoryHigh" in text_of(post)
    thread = wait(lambda: [m for m in slack.messages[channel]
                           if m.get("thread_ts") == post["ts"] and m["ts"] != post["ts"]],
                  "the runbook in the thread")
    assert "MAX_BATCH_SIZE" in text_of(thread[0])
    incident = bot.runtime.store.incidents.open()[0]
    assert incident.alertname == "GPUMemoryHigh"
    # Alertmanager's own slack_configs post reached the stand-in too.
    wait(lambda: any("FIRING: GPUMemoryHigh" in str(m.get("attachments"))
                     for m in slack.messages.get(slack.channel_id("#genai-warnings"), [])),
         "Alertmanager's post")

    # 4. A signed click acknowledges; the message is edited in place.
    resp = slack.send_block_action(events, "incident_ack", user_id=RESPONDER,
                                   channel_id=channel, message_ts=post["ts"])
    assert resp.status_code == 200
    wait(lambda: "Acknowledged by" in text_of(slack.find_message(channel, post["ts"]) or {}),
         "the acknowledged edit")
    acked = bot.runtime.store.incidents.get(incident.public_id)
    assert acked.acked_by == RESPONDER and acked.acked_at is not None

    # A viewer's click is refused privately and audited.
    slack.send_block_action(events, "incident_resolve", user_id="U0VIEWER",
                            channel_id=channel, message_ts=post["ts"])
    wait(lambda: any(a.kind == "resolve" and not a.allowed
                     for a in bot.runtime.store.incidents.actions(incident.public_id)),
         "the refused click in the audit log")

    # 5. Silence creates a real silence, seen in GET /api/v2/silences.
    slack.send_block_action(events, "incident_silence", value=f"{incident.public_id}|1h",
                            user_id=RESPONDER, channel_id=channel, message_ts=post["ts"])
    silence = wait(lambda: next((s for s in am.silences() if s["status"]["state"] == "active"),
                                None), "an active silence")
    assert silence["createdBy"] == RESPONDER
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == {
        ("alertname", "GPUMemoryHigh"), ("severity", "warning")}
    wait(lambda: "Unsilence" in text_of(slack.find_message(channel, post["ts"]) or {}),
         "the silenced edit")
    # Unsilence expires it (a silenced group would also mute its resolved notification).
    slack.send_block_action(events, "incident_unsilence", user_id=RESPONDER,
                            channel_id=channel, message_ts=post["ts"])
    wait(lambda: all(s["status"]["state"] == "expired" for s in am.silences()),
         "the expired silence")

    # 6. Values recover: the message is edited to resolved and a note goes to the thread.
    exporter.set_gpu("gpu-node-1", 3, fb_used=40_000, fb_free=41_000)
    wait(lambda: "Resolved after" in text_of(slack.find_message(channel, post["ts"]) or {}),
         "the resolved edit", timeout=60)
    assert bot.runtime.store.incidents.get(incident.public_id).status == "resolved"
    final = slack.find_message(channel, post["ts"])
    assert all(b.get("type") != "actions" for b in attachment_blocks(final))
    kinds = [a.kind for a in bot.runtime.store.incidents.actions(incident.public_id)]
    assert {"ack", "silence", "unsilence"} <= set(kinds)
    # Exactly one post for the group, however often Alertmanager repeated itself.
    assert len(bot_posts(slack)) == 1
    assert httpx.get(bot.url + "/readyz").status_code == 200
