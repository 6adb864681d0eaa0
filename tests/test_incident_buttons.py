"""The alert buttons through the real app (signed clicks), the real Alertmanager for silences,
and the strict Slack stand-in: who may press what, what a refusal leaves behind (an audit row
and nothing else), and the Silence choices the configuration asks for."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.buttons import Button
from bot.server import Bot
from bot.store.states import ActionKind, IncidentStatus
from tests.harness.alerts import attachment_blocks, wait
from tests.harness.bots import BotFactory
from tests.harness.incident_bot import bot_with_an_incident
from tests.harness.procs import AlertmanagerProcess
from tests.harness.slack import SlackStandin

RESPONDER, VIEWER = "U0RESP", "U0VIEW"
DURATIONS = ["30m", "2h"]


@pytest.fixture
def setup(slack: SlackStandin, make_bot: BotFactory
          ) -> Iterator[tuple[Bot, AlertmanagerProcess, str]]:
    with bot_with_an_incident(make_bot, [RESPONDER], DURATIONS) as started:
        yield started


def card_of(slack: SlackStandin, channel: str) -> dict[str, Any]:
    return wait(lambda: next((m for m in slack.messages.get(channel, [])
                              if "incident_ack" in json.dumps(m.get("attachments"))), None),
                "the alert card")


def elements(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {el["action_id"]: el for block in attachment_blocks(card)
            if block.get("type") == "actions" for el in block["elements"]}


def click(slack: SlackStandin, bot: Bot, card: dict[str, Any], channel: str, action: Button,
          user: str, value: str | None = None) -> None:
    resp = slack.send_block_action(f"{bot.url}/slack/events", action.value, value=value,
                                   user_id=user, channel_id=channel, message_ts=card["ts"])
    assert resp.status_code == 200


def test_a_viewer_is_refused_every_button_and_nothing_changes(
        slack: SlackStandin, setup: tuple[Bot, AlertmanagerProcess, str]) -> None:
    bot, am, pid = setup
    channel = slack.channel_id("#genai-warnings")
    card = card_of(slack, channel)

    def shown() -> str:
        # What an edit would change (the thread's reply count moves as the runbook lands).
        msg = slack.find_message(channel, card["ts"]) or {}
        return json.dumps({k: msg.get(k) for k in ("text", "blocks", "attachments")},
                          sort_keys=True)

    before = shown()
    presses = [(Button.ACK, None), (Button.SILENCE, f"{pid}|30m"), (Button.UNSILENCE, None),
               (Button.DIAG, None), (Button.RESOLVE, None)]
    # Unsilence is on the card only once silenced: the viewer forges the click (not strict).
    for action, value in presses:
        resp = slack.send_block_action(f"{bot.url}/slack/events", action.value,
                                       value=value or pid, user_id=VIEWER, channel_id=channel,
                                       message_ts=card["ts"], strict=action is not
                                       Button.UNSILENCE)
        assert resp.status_code == 200
    refused = wait(lambda: (audit := [a for a in bot.runtime.store.incidents.actions(pid)
                                      if not a.allowed]) and len(audit) == 5 and audit,
                   "five refusals in the audit log")
    assert sorted(a.kind for a in refused) == sorted(
        [ActionKind.ACK, ActionKind.SILENCE, ActionKind.UNSILENCE, ActionKind.DIAG,
         ActionKind.RESOLVE])
    assert all(a.user_id == VIEWER and a.detail["role"] == "viewer" for a in refused)
    texts = wait(lambda: [r["payload"]["text"] for r in slack.responses
                          if "Only responders may" in str(r["payload"].get("text"))
                          and len(slack.responses) >= 5] or None, "the private refusals")
    assert len(texts) == 5 and all("you are a viewer" in t for t in texts)
    assert all(r["payload"].get("response_type") == "ephemeral" for r in slack.responses)
    # The incident and its message are as they were; Alertmanager has no silence.
    time.sleep(0.5)
    inc = bot.runtime.store.incidents.get(pid)
    assert inc is not None and inc.status is IncidentStatus.FIRING
    assert inc.acked_at is None and inc.silence_id is None and inc.resolved_at is None
    assert shown() == before
    assert slack.calls_to("chat.update") == []
    assert am.silences() == []


def test_the_card_offers_the_configured_silences_and_the_click_takes_them(
        slack: SlackStandin, setup: tuple[Bot, AlertmanagerProcess, str]) -> None:
    """GENAI_ALERTS__SILENCE_DURATIONS drives both the choices on the card and what a click
    accepts (defect a: the card offered the built-in 1h/4h/24h, each refused)."""
    bot, am, pid = setup
    channel = slack.channel_id("#genai-warnings")
    card = card_of(slack, channel)
    select = elements(card)[Button.SILENCE.value]
    assert [o["value"] for o in select["options"]] == [f"{pid}|30m", f"{pid}|2h"]
    assert [o["text"]["text"] for o in select["options"]] == ["Silence 30 m", "Silence 2 h"]
    clicked = datetime.now(UTC)
    click(slack, bot, card, channel, Button.SILENCE, RESPONDER, f"{pid}|30m")
    silence = wait(lambda: next((s for s in am.silences()
                                 if s["status"]["state"] == "active"), None),
                   "the silence in Alertmanager")
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=29) < ends - clicked < timedelta(minutes=31)
    assert silence["createdBy"] == RESPONDER
    edited = wait(lambda: (m := slack.find_message(channel, card["ts"])) and "edited" in m
                  and Button.UNSILENCE.value in json.dumps(m) and m, "the card with Unsilence")
    assert set(elements(edited)) == {Button.ACK.value, Button.UNSILENCE.value,
                                     Button.DIAG.value, Button.RESOLVE.value}
    # A duration that is not configured (a forged click) is refused with the choices named.
    resp = slack.send_block_action(f"{bot.url}/slack/events", Button.SILENCE.value,
                                   value=f"{pid}|4h", user_id=RESPONDER, channel_id=channel,
                                   message_ts=card["ts"], strict=False)
    assert resp.status_code == 200
    wait(lambda: any("choose one of 30m, 2h" in str(r["payload"].get("text"))
                     for r in slack.responses), "the refusal naming the configured choices")
    assert len(am.silences()) == 1


def test_unsilence_on_an_incident_that_is_gone_says_so(
        slack: SlackStandin, setup: tuple[Bot, AlertmanagerProcess, str]) -> None:
    """Defect: it answered "That incident is not silenced" for an incident that was pruned."""
    bot, _, pid = setup
    channel = slack.channel_id("#genai-warnings")
    card = card_of(slack, channel)
    gone = "INC-" + "0" * 8
    assert bot.runtime.store.incidents.get(gone) is None
    resp = slack.send_block_action(f"{bot.url}/slack/events", Button.UNSILENCE.value,
                                   value=gone, user_id=RESPONDER, channel_id=channel,
                                   message_ts=card["ts"], strict=False)
    assert resp.status_code == 200
    text = wait(lambda: next((str(r["payload"].get("text")) for r in slack.responses), None),
                "the private answer")
    assert f"There is no incident '{gone}'" in text and "not silenced" not in text
    assert "/genai alerts" in text
    inc = bot.runtime.store.incidents.get(pid)
    assert inc is not None and inc.status is IncidentStatus.FIRING
