"""`/genai silences` and its Extend and Expire, through the real app (signed slash commands and
clicks), the real Alertmanager and the strict Slack stand-in: a silence the bot made (an
incident's Silence button) and ones made outside it (straight to Alertmanager's API, as amtool
and the UI do) are listed alike; Extend and Expire change Alertmanager and keep the incident
that holds the silence in step; a viewer's click is refused, audited and changes nothing; an
unreachable Alertmanager reads unknown with the cause, never "no silences"."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.buttons import Button
from bot.server import Bot
from bot.store import Action
from bot.store.states import ActionKind, IncidentStatus
from tests.harness.alerts import attachment_blocks, wait
from tests.harness.bots import BotFactory
from tests.harness.incident_bot import bot_with_an_incident
from tests.harness.kube import KubeStandin
from tests.harness.procs import AlertmanagerProcess, free_port
from tests.harness.slack import SlackStandin
from tests.slackparse import section_texts

RESPONDER, VIEWER = "U0RESP", "U0VIEW"
DURATIONS = ["30m", "2h"]
BOT_MATCHERS = "alertname=GPUMemoryHigh, severity=warning"  # the incident's group labels
OUTSIDE_MATCHERS = "namespace=inference, pod=~llama-.*, severity!=info, team!~ml|data"
OUTSIDE = [
    {"name": "namespace", "value": "inference", "isRegex": False, "isEqual": True},
    {"name": "pod", "value": "llama-.*", "isRegex": True, "isEqual": True},
    {"name": "severity", "value": "info", "isRegex": False, "isEqual": False},
    {"name": "team", "value": "ml|data", "isRegex": True, "isEqual": False},
]
HOSTILE_COMMENT = "node drain <!channel> & reboot"

Setup = tuple[Bot, AlertmanagerProcess, str, str]


@pytest.fixture
def setup(slack: SlackStandin, make_bot: BotFactory) -> Iterator[Setup]:
    """The bot with one open incident, Alertmanager, and the channel people ask in."""
    with bot_with_an_incident(make_bot, [RESPONDER], DURATIONS) as (bot, am, incident):
        yield bot, am, incident, slack.create_channel("#genai-ops")


# --------------------------------------------------------------------------- helpers


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def live(am: AlertmanagerProcess) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in am.silences() if s["status"]["state"] in ("active", "pending")}


def silence_from_the_card(slack: SlackStandin, bot: Bot, am: AlertmanagerProcess,
                          pid: str) -> str:
    """A responder presses Silence 30 m on the alert card: the bot's own silence."""
    channel = slack.channel_id("#genai-warnings")
    card = wait(lambda: next((m for m in slack.messages.get(channel, [])
                              if "incident_ack" in json.dumps(m.get("attachments"))), None),
                "the alert card")
    resp = slack.send_block_action(f"{bot.url}/slack/events", Button.SILENCE.value,
                                   value=f"{pid}|30m", user_id=RESPONDER, channel_id=channel,
                                   message_ts=card["ts"])
    assert resp.status_code == 200
    inc = wait(lambda: (i := bot.runtime.store.incidents.get(pid)) and i.silence_id and i,
               "the incident holding its silence")
    assert inc.silence_id in live(am)
    # The card's edit and thread note are on their way: let them land before a test counts.
    wait(lambda: any("Silenced" in json.dumps(c.params) for c in slack.calls_to("chat.update")
                     if c.params.get("ts") == card["ts"]), "the card edited to silenced")
    return str(inc.silence_id)


def silence_outside(am: AlertmanagerProcess, hours: float = 3, starts_in_h: float = 0,
                    matchers: list[dict[str, Any]] | None = None) -> str:
    """A silence made without the bot: straight to Alertmanager's API (amtool, the UI)."""
    now = datetime.now(UTC)
    body = {"matchers": matchers or OUTSIDE, "createdBy": "alice", "comment": HOSTILE_COMMENT,
            "startsAt": (now + timedelta(hours=starts_in_h)).isoformat(),
            "endsAt": (now + timedelta(hours=starts_in_h + hours)).isoformat()}
    resp = httpx.post(f"{am.url}/api/v2/silences", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["silenceID"])


def ask(slack: SlackStandin, bot: Bot, channel: str, user: str = RESPONDER) -> dict[str, Any]:
    """`/genai silences` in ``channel``; the answer as the channel shows it."""
    before = len(slack.messages.get(channel, []))
    resp = slack.send_slash_command(f"{bot.url}/slack/events", "silences", user_id=user,
                                    channel_id=channel)
    assert resp.status_code == 200
    msg: dict[str, Any] = wait(
        lambda: len(msgs := slack.messages.get(channel, [])) > before and msgs[-1],
        "the silences list")
    assert msg["blocks"][0]["text"]["text"] == "Silences"
    return msg


def texts_of(msg: dict[str, Any]) -> list[str]:
    """The section and context texts, without the zero-width spaces the escaping puts
    between mrkdwn markers (``~``, ``*``) so a matcher like ``team!~ml`` is not struck
    through."""
    return [t.replace("\u200b", "") for t in section_texts(msg["blocks"])]


def menus(msg: dict[str, Any]) -> list[dict[str, dict[str, Any]]]:
    """Each actions block's elements by action_id, in order: one per silence."""
    return [{el["action_id"]: el for el in b["elements"]}
            for b in attachment_blocks(msg) if b.get("type") == "actions"]


def click(slack: SlackStandin, bot: Bot, msg: dict[str, Any], action: Button, value: str,
          user: str = RESPONDER) -> None:
    """Click the element of ``msg`` that carries ``value`` (a button's value or a menu
    option's). The stand-in's strict mode checks only the first element with an action_id,
    so the element is checked here and the click sent as Slack would send it."""
    elements = [els[action.value] for els in menus(msg) if action.value in els]
    offered = {el.get("value") for el in elements} | {
        o["value"] for el in elements for o in el.get("options", [])}
    assert value in offered, f"{value!r} is not on the list; it offers {sorted(offered)}"
    resp = slack.send_block_action(f"{bot.url}/slack/events", action.value, value=value,
                                   user_id=user, channel_id=msg["channel"],
                                   message_ts=msg["ts"], strict=False)
    assert resp.status_code == 200


def answer(slack: SlackStandin, after: int, what: str) -> str:
    """The next private answer to a click."""
    text: str = wait(lambda: len(slack.responses) > after
                     and str(slack.responses[-1]["payload"].get("text")), what)
    assert slack.responses[-1]["payload"].get("response_type") == "ephemeral"
    return text.replace("\u200b", "")


def audit(bot: Bot, kind: ActionKind) -> list[Action]:
    with bot.runtime.store.db.session(readonly=True) as s:
        return list(s.scalars(select(Action).where(Action.kind == kind).order_by(Action.id)))


# --------------------------------------------------------------------------- listing


def test_lists_silences_from_the_bot_and_from_outside_it(
        slack: SlackStandin, setup: Setup) -> None:
    bot, am, pid, channel = setup
    ours = silence_from_the_card(slack, bot, am, pid)
    outside = silence_outside(am)
    pending = silence_outside(am, hours=1, starts_in_h=1,
                              matchers=[{"name": "cluster", "value": "prod-eks",
                                         "isRegex": False, "isEqual": True}])
    gone = silence_outside(am, matchers=[{"name": "alertname", "value": "Gone",
                                          "isRegex": False, "isEqual": True}])
    assert httpx.delete(f"{am.url}/api/v2/silence/{gone}", timeout=10).status_code == 200

    msg = ask(slack, bot, channel)
    texts = texts_of(msg)
    assert texts[0].startswith("2 active, 1 pending in Alertmanager")
    # One section per silence, in order: active ending soonest first, then pending.
    titles = [t for t in texts if t.startswith("*🔕")]
    assert titles == [f"*🔕 {BOT_MATCHERS}*", f"*🔕 {OUTSIDE_MATCHERS}*",
                      "*🔕 cluster=prod-eks*"]
    body = "\n".join(texts)
    assert "alertname=Gone" not in body and gone not in body  # expired: not listed
    silences = live(am)
    for sid, creator in ((ours, RESPONDER), (outside, "alice")):
        ends = when(silences[sid]["endsAt"])
        (line,) = [t for t in texts if f"id {sid}" in t]
        assert re.search(rf"^active, ends in (\d+ h )?\d+ m \({ends:%H:%M} UTC\) · by "
                         rf"{creator} · id {sid}", line), line
    assert "ends in 29 m" in body or "ends in 30 m" in body  # the card's 30 m silence
    assert re.search(r"ends in 2 h 5\d m", body)  # the outside one's 3 h
    assert re.search(rf"pending, starts in 5\d m \(\d\d:\d\d UTC\), ends in 1 h 5\d m .* "
                     rf"· by alice · id {pending}", body)
    # Who made it and why; the incident that holds the bot's; the comment escaped.
    assert "genai-ops-bot: GPUMemoryHigh silenced for 30m from Slack" in body
    assert f"Incident {pid} (GPUMemoryHigh, firing)" in body
    assert "“node drain &lt;!channel&gt; &amp; reboot”" in body
    assert "<!channel>" not in json.dumps(msg)
    # A responder gets Extend (configured durations, past its end or from now) and Expire.
    per_silence = menus(msg)
    assert len(per_silence) == 3
    extend = per_silence[0][Button.SILENCE_EXTEND.value]
    assert extend["type"] == "static_select"
    assert [(o["text"]["text"], o["value"]) for o in extend["options"]] == [
        ("+30 m past its end", f"{ours}|30m|end"), ("+2 h past its end", f"{ours}|2h|end"),
        ("+30 m from now", f"{ours}|30m|now"), ("+2 h from now", f"{ours}|2h|now")]
    expire = per_silence[1][Button.SILENCE_EXPIRE.value]
    assert (expire["type"], expire["value"], expire["style"]) == ("button", outside, "danger")

    # A viewer sees the same list without the buttons.
    seen = ask(slack, bot, channel, user=VIEWER)
    assert menus(seen) == []
    assert [t for t in texts_of(seen) if t.startswith("*🔕")] == titles
    assert "Responders get Extend and Expire here." in texts_of(seen)[-1]


def test_alertmanager_down_reads_unknown_with_the_cause(
        slack: SlackStandin, make_bot: BotFactory) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with KubeStandin() as kube:
        bot = make_bot("http://127.0.0.1:1", kube.url, alertmanager={"url": dead},
                       roles={"responders": [RESPONDER]})
        msg = ask(slack, bot, slack.create_channel("#genai-ops"))
    body = "\n".join(texts_of(msg))
    assert body.startswith(f"unknown: alertmanager: cannot connect to {dead}")
    assert ":grey_question: *Alertmanager silences*  unknown" in body
    assert "No active" not in body and "no silences" not in body.lower()
    assert menus(msg) == []


# --------------------------------------------------------------------------- Extend


def test_extend_moves_the_end_in_alertmanager_and_on_the_incident(
        slack: SlackStandin, setup: Setup) -> None:
    bot, am, pid, channel = setup
    ours = silence_from_the_card(slack, bot, am, pid)
    outside = silence_outside(am)
    msg = ask(slack, bot, channel)
    updates = len(slack.calls_to("chat.update"))

    # The bot's silence (the incident's): 2 h from now.
    asked = datetime.now(UTC)
    n = len(slack.responses)
    click(slack, bot, msg, Button.SILENCE_EXTEND, f"{ours}|2h|now")
    text = answer(slack, n, "the answer to Extend")
    assert text.startswith(f":white_check_mark: Extended the silence on {BOT_MATCHERS} by "
                           "2 h from now: it ends "), text
    assert f"Incident {pid} (GPUMemoryHigh) shows the new end." in text
    assert "/genai silences lists them again." in text
    # In Alertmanager: the end moved (0.25 updates in place when only the end moves; a
    # version that replaces it gives a new id, which the incident then holds).
    inc = bot.runtime.store.incidents.get(pid)
    assert inc is not None and inc.silence_id is not None and inc.silenced_until is not None
    now_live = live(am)
    assert inc.silence_id in now_live and len(now_live) == 2
    ends = when(now_live[inc.silence_id]["endsAt"])
    assert timedelta(minutes=119) < ends - asked < timedelta(minutes=121)
    assert abs(inc.silenced_until.replace(tzinfo=UTC) - ends) < timedelta(seconds=1)
    if inc.silence_id != ours:
        assert ours not in now_live
    assert now_live[inc.silence_id]["createdBy"] == RESPONDER  # the creator stays
    (ext,) = audit(bot, ActionKind.SILENCE_EXTEND)
    assert (ext.user_id, ext.allowed, ext.incident_id) == (RESPONDER, True, inc.id)
    assert (ext.detail["from"], ext.detail["silence_id"]) == (ours, inc.silence_id)
    assert (ext.detail["duration"], ext.detail["mode"]) == ("2h", "now")
    # The card shows the new end; the thread says who extended it.
    wait(lambda: len(slack.calls_to("chat.update")) > updates, "the card's edit")
    card = wait(lambda: next((m for m in slack.messages[slack.channel_id("#genai-warnings")]
                              if "incident_ack" in json.dumps(m.get("attachments"))
                              and f"{ends:%H:%M} UTC" in json.dumps(m)), None),
                "the card with the new end")
    assert inc.silence_id in json.dumps(card)
    wait(lambda: any("extended 2 h from now" in str(m.get("text")) + json.dumps(m.get("blocks"))
                     for m in slack.messages[slack.channel_id("#genai-warnings")]
                     if m.get("thread_ts") and m["ts"] != m["thread_ts"]),
         "the thread note")

    # The outside silence (3 h): 30 m from now would shorten it: refused, nothing changed.
    before = live(am)[outside]
    n = len(slack.responses)
    click(slack, bot, msg, Button.SILENCE_EXTEND, f"{outside}|30m|now")
    text = answer(slack, n, "the refusal to shorten")
    assert "before its current end" in text and "choose 30 m past its end" in text, text
    assert live(am)[outside] == before
    # Past its end: 3 h + 30 m; audited without an incident.
    n = len(slack.responses)
    click(slack, bot, msg, Button.SILENCE_EXTEND, f"{outside}|30m|end")
    text = answer(slack, n, "the answer to the outside Extend")
    assert text.startswith(f":white_check_mark: Extended the silence on {OUTSIDE_MATCHERS}"), text
    assert "Incident" not in text
    after = live(am)
    moved = next(s for s in after.values() if s["comment"] == HOSTILE_COMMENT)
    assert when(moved["endsAt"]) - when(before["endsAt"]) == timedelta(minutes=30)
    assert moved["createdBy"] == "alice" and moved["matchers"] == before["matchers"]
    ext = audit(bot, ActionKind.SILENCE_EXTEND)[-1]
    assert (ext.user_id, ext.allowed, ext.incident_id) == (RESPONDER, True, None)
    assert ext.detail["from"] == outside

    # The list, asked again, shows the new ends.
    again = "\n".join(texts_of(ask(slack, bot, channel)))
    assert re.search(r"ends in 3 h (2\d|3\d) m", again) and re.search(r"ends in 1 h 5\d m", again)
    # A duration that is not configured (a forged option) is refused with the choices.
    n = len(slack.responses)
    slack.send_block_action(f"{bot.url}/slack/events", Button.SILENCE_EXTEND.value,
                            value=f"{outside}|7d|end", user_id=RESPONDER, channel_id=channel,
                            message_ts=msg["ts"], strict=False)
    assert "choose one of 30m, 2h" in answer(slack, n, "the refusal of 7d")
    assert len(audit(bot, ActionKind.SILENCE_EXTEND)) == 2


# --------------------------------------------------------------------------- Expire


def test_expire_expires_it_and_clears_the_incident(slack: SlackStandin, setup: Setup) -> None:
    bot, am, pid, channel = setup
    ours = silence_from_the_card(slack, bot, am, pid)
    outside = silence_outside(am)
    msg = ask(slack, bot, channel)

    n = len(slack.responses)
    click(slack, bot, msg, Button.SILENCE_EXPIRE, ours)
    text = answer(slack, n, "the answer to Expire")
    assert text == (f":white_check_mark: Expired the silence on {BOT_MATCHERS}: its alerts "
                    f"notify again. Incident {pid} (GPUMemoryHigh) is no longer silenced. "
                    "/genai silences lists them again.")
    assert ours not in live(am)
    assert {s["id"]: s["status"]["state"] for s in am.silences()}[ours] == "expired"
    inc = bot.runtime.store.incidents.get(pid)
    assert inc is not None and inc.silence_id is None and inc.silenced_until is None
    assert inc.status is IncidentStatus.FIRING
    (done,) = audit(bot, ActionKind.SILENCE_EXPIRE)
    assert (done.user_id, done.allowed, done.incident_id, done.detail["silence_id"]) == (
        RESPONDER, True, inc.id, ours)
    # The card offers Silence again, as after Unsilence; the thread says so.
    warnings = slack.channel_id("#genai-warnings")
    wait(lambda: any(Button.SILENCE.value in json.dumps(m) and Button.UNSILENCE.value
                     not in json.dumps(m) and "edited" in m
                     for m in slack.messages[warnings]), "the card without Unsilence")
    wait(lambda: any("Unsilenced by" in json.dumps(m) for m in slack.messages[warnings]),
         "the thread note")

    # The outside one: expired in Alertmanager, audited without an incident.
    n = len(slack.responses)
    click(slack, bot, msg, Button.SILENCE_EXPIRE, outside)
    assert answer(slack, n, "the outside Expire").startswith(
        f":white_check_mark: Expired the silence on {OUTSIDE_MATCHERS}")
    assert live(am) == {}
    assert audit(bot, ActionKind.SILENCE_EXPIRE)[-1].incident_id is None
    # A stale list: the second click says it is already expired and changes nothing.
    n = len(slack.responses)
    click(slack, bot, msg, Button.SILENCE_EXPIRE, outside)
    assert "has already expired" in answer(slack, n, "the stale Expire")
    assert len(audit(bot, ActionKind.SILENCE_EXPIRE)) == 2
    # And the list, asked again, is empty, said in words.
    again = texts_of(ask(slack, bot, channel))
    assert again[0].startswith("No active or pending silences in Alertmanager")


# --------------------------------------------------------------------------- viewers


def test_a_viewer_is_refused_audited_and_nothing_changes(
        slack: SlackStandin, setup: Setup) -> None:
    bot, am, pid, channel = setup
    ours = silence_from_the_card(slack, bot, am, pid)
    outside = silence_outside(am)
    msg = ask(slack, bot, channel)  # a responder's list, in the channel
    before = live(am)
    held = bot.runtime.store.incidents.get(pid)
    assert held is not None
    updates = len(slack.calls_to("chat.update"))
    for action, value in ((Button.SILENCE_EXTEND, f"{ours}|2h|end"),
                          (Button.SILENCE_EXPIRE, ours),
                          (Button.SILENCE_EXTEND, f"{outside}|30m|end"),
                          (Button.SILENCE_EXPIRE, outside)):
        n = len(slack.responses)
        click(slack, bot, msg, action, value, user=VIEWER)
        text = answer(slack, n, "the refusal")
        verb = "extend" if action is Button.SILENCE_EXTEND else "expire"
        assert text.startswith(f":no_entry: Only responders may {verb} silences; you are a "
                               "viewer."), text
    refused = [a for kind in (ActionKind.SILENCE_EXTEND, ActionKind.SILENCE_EXPIRE)
               for a in audit(bot, kind)]
    assert len(refused) == 4
    assert all(not a.allowed and a.user_id == VIEWER and a.detail["role"] == "viewer"
               for a in refused)
    # The refusals about the incident's silence are on the incident; the others on none.
    assert sorted((a.detail["silence_id"], a.incident_id) for a in refused) == sorted(
        [(ours, held.id), (ours, held.id), (outside, None), (outside, None)])
    time.sleep(0.5)
    assert live(am) == before
    inc = bot.runtime.store.incidents.get(pid)
    assert inc is not None
    assert (inc.silence_id, inc.silenced_until) == (held.silence_id, held.silenced_until)
    assert len(slack.calls_to("chat.update")) == updates
