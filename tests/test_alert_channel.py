"""Alertmanager's posts in the alert channels → `ChannelAlert` → a webhook-v4 notification.

Proven against what Alertmanager 0.25 really sends: the fixtures were recorded from the real
binary by `tests/fixtures/alertmanager/record.py`, and `test_live_*` runs that recording again
against the installed binary (skipped without it, failing under GENAI_REQUIRE_INTEGRATION=1).
The recorded request bodies are replayed byte for byte into the Slack stand-in's incoming
webhook, and the stored message becomes the `message` event the bot would receive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient

from bot.alerts.channel import (
    ChannelAlert,
    is_positional,
    parse_alertmanager_message,
    sender_ids,
    to_notification,
)
from bot.alerts.webhook import WebhookPayload
from bot.slack.render.mrkdwn import escape
from tests.fixtures.alertmanager import record
from tests.harness.procs import require_binary
from tests.harness.slack import SlackStandin

FIXTURE = Path(record.__file__).with_name("slack_posts.json")
DOC: dict[str, Any] = json.loads(FIXTURE.read_text())
POSTS: dict[str, dict[str, Any]] = {p["name"]: p for p in DOC["posts"]}
AM_ATTACHMENT_KEYS = {"title", "title_link", "text", "fallback", "callback_id", "footer",
                      "color", "mrkdwn_in"}
ZERO = "0001-01-01T00:00:00Z"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_HTTP = httpx.Client(timeout=10)  # one pool: a fresh httpx.post() builds an SSL context


# -- helpers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def standin() -> Iterator[SlackStandin]:
    with SlackStandin() as slack:
        for channel in ("C0ALERTS", "C0A", "C0B", "C0N", "C0OWN", "C0V", "C0FUZZ"):
            slack.create_channel(channel.lower(), channel)
        yield slack


def replay(slack: SlackStandin, body: str, channel: str = "C0ALERTS") -> dict[str, Any]:
    """POST an Alertmanager body, byte for byte, to an incoming webhook; the message event."""
    url = slack.new_incoming_webhook(channel)
    before = len(slack.messages[channel])
    resp = _HTTP.post(url, content=body.encode(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    assert len(slack.messages[channel]) == before + 1
    return slack.message_event(slack.messages[channel][-1])


def parse_post(slack: SlackStandin, name: str, channel: str = "C0ALERTS") -> ChannelAlert:
    alert = parse_alertmanager_message(replay(slack, POSTS[name]["body"], channel),
                                       channel=channel)
    assert alert is not None, f"{name} was not recognised"
    return alert


def attachment(name: str) -> dict[str, Any]:
    return dict(json.loads(POSTS[name]["body"])["attachments"][0])


def webhook_v4_problems(payload: Any) -> list[str]:
    """Structural check of an Alertmanager webhook (version 4) payload."""
    problems: list[str] = []

    def need(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
        if key not in obj:
            problems.append(f"{where}.{key} missing")
            return None
        if not isinstance(obj[key], kind):
            problems.append(f"{where}.{key} is {type(obj[key]).__name__}")
        return obj[key]

    def str_map(value: Any, where: str) -> None:
        if isinstance(value, dict) and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            problems.append(f"{where} is not a string map")

    if not isinstance(payload, dict):
        return ["payload is not an object"]
    top = {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
           "commonLabels", "commonAnnotations", "externalURL", "alerts"}
    if set(payload) != top:
        problems.append(f"top-level keys {sorted(set(payload) ^ top)} differ")
    if payload.get("version") != "4":
        problems.append("version is not '4'")
    if not need(payload, "groupKey", str, "$"):
        problems.append("groupKey empty")
    if need(payload, "truncatedAlerts", int, "$") != 0:
        problems.append("truncatedAlerts is not 0")
    status = need(payload, "status", str, "$")
    if status not in ("firing", "resolved"):
        problems.append(f"status {status!r}")
    if not str(need(payload, "receiver", str, "$")).startswith("slack:"):
        problems.append("receiver is not slack:<channel>")
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        str_map(need(payload, key, dict, "$"), key)
    need(payload, "externalURL", str, "$")
    if set(payload.get("commonAnnotations") or {}) != {"summary", "description"}:
        problems.append("commonAnnotations is not {summary, description}")
    group, common = payload.get("groupLabels") or {}, payload.get("commonLabels") or {}
    if "alertname" not in group or any(common.get(k) != v for k, v in group.items()):
        problems.append("groupLabels must hold alertname and be part of commonLabels")
    alerts = need(payload, "alerts", list, "$") or []
    if len(alerts) != 1:
        problems.append("not exactly one synthesized alert")
    for i, alert in enumerate(alerts):
        where = f"alerts[{i}]"
        if not isinstance(alert, dict):
            problems.append(f"{where} is not an object")
            continue
        keys = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
                "fingerprint"}
        if set(alert) != keys:
            problems.append(f"{where} keys {sorted(set(alert) ^ keys)} differ")
        if alert.get("status") != status:
            problems.append(f"{where}.status differs from the group's")
        str_map(need(alert, "labels", dict, where), f"{where}.labels")
        str_map(need(alert, "annotations", dict, where), f"{where}.annotations")
        if alert.get("labels") != common:
            problems.append(f"{where}.labels differ from commonLabels (one alert)")
        starts, ends = alert.get("startsAt"), alert.get("endsAt")
        if not (isinstance(starts, str) and RFC3339.fullmatch(starts)):
            problems.append(f"{where}.startsAt {starts!r}")
        if status == "firing" and ends != ZERO:
            problems.append(f"{where}.endsAt of a firing alert is {ends!r}")
        if status == "resolved" and not (isinstance(ends, str) and RFC3339.fullmatch(ends)
                                         and ends != ZERO):
            problems.append(f"{where}.endsAt of a resolved alert is {ends!r}")
        if alert.get("generatorURL") != "":
            problems.append(f"{where}.generatorURL is not empty")
        if not re.fullmatch(r"[0-9a-f]{16}", str(alert.get("fingerprint"))):
            problems.append(f"{where}.fingerprint is not 16 hex digits")
    try:
        json.dumps(payload)
    except (TypeError, ValueError) as exc:
        problems.append(f"not JSON-serialisable: {exc}")
    return problems


# -- what 0.25 really sends (the recording) ----------------------------------------------


def test_recording_comes_from_alertmanager_0_25() -> None:
    assert DOC["alertmanager"].startswith("alertmanager, version 0.25.")
    assert {(p["receiver"], *p["name"].split(".")[1:]) for p in DOC["posts"]} == (
        record.expected_posts()
    )
    for post in DOC["posts"]:
        body = json.loads(post["body"])
        assert set(body) == {"channel", "username", "attachments"}, post["name"]
        assert body["username"] == "Alertmanager"
        assert len(body["attachments"]) == 1
        assert set(body["attachments"][0]) == AM_ATTACHMENT_KEYS
        assert body["attachments"][0]["mrkdwn_in"] == ["fallback", "pretext", "text"]
        assert post["message"]["subtype"] == "bot_message"


def test_default_title_and_fallback_formats() -> None:
    url = DOC["external_url"]
    att = attachment("defaults.GPUMemoryHigh.firing")
    # group label values (alertname first), then the other common values by label name
    # (Hostname sorts before gpu and team: uppercase first).
    assert att["title"] == "[FIRING:1] GPUMemoryHigh warning (node-1 3 genai-platform)"
    assert att["title_link"] == f"{url}/#/alerts?receiver=defaults"
    assert att["fallback"] == att["title"] + " | " + att["title_link"]
    assert (att["color"], att["text"], att["footer"], att["callback_id"]) == ("danger", "", "", "")
    att = attachment("defaults.GPUMemoryHigh.resolved")
    assert att["title"] == "[RESOLVED] GPUMemoryHigh warning (node-1 3 genai-platform)"
    assert att["color"] == "good"
    assert attachment("defaults.GPUTemperatureHigh.firing")["title"] == (
        "[FIRING:2] GPUTemperatureHigh warning (node-2 genai-platform)"
    )
    # No extra common labels: no parentheses, and the template's trailing space stays.
    att = attachment("defaults.DailyCostExceeded.firing")
    assert att["title"] == "[FIRING:1] DailyCostExceeded warning "
    assert att["fallback"] == (
        f"[FIRING:1] DailyCostExceeded warning  | {url}/#/alerts?receiver=defaults"
    )
    # alertname comes first even when group_by lists Hostname first (and H < a).
    assert attachment("byhost.GPUTemperatureHigh.firing")["title"] == (
        "[FIRING:2] GPUTemperatureHigh node-2 (warning genai-platform)"
    )
    # The guide's title; the fallback is still the default subject.
    att = attachment("guide.GPUTemperatureHigh.firing")
    assert att["title"] == "FIRING: GPUTemperatureHigh"
    assert att["fallback"] == (
        f"[FIRING:2] GPUTemperatureHigh warning (node-2 genai-platform) | "
        f"{url}/#/alerts?receiver=guide"
    )
    assert att["text"] == "GPU 0 on node node-2 is at 84°C.\nGPU 1 on node node-2 is at 87°C.\n"
    assert attachment("guide.GPUTemperatureHigh.resolved")["title"] == (
        "RESOLVED: GPUTemperatureHigh"
    )


def test_title_is_cut_at_1024_but_fallback_is_not() -> None:
    att = attachment("defaults.ModelPodRestarting.firing")
    assert len(att["title"]) == 1024 and att["title"].endswith("v…")
    assert att["fallback"].endswith("v) | " + att["title_link"])
    assert len(att["fallback"]) > 1300


def test_go_escapes_markup_in_the_body_and_nothing_in_the_text() -> None:
    raw = POSTS["defaults.ModelPodRestarting.firing"]["body"]
    assert "\\u003c!channel\\u003e \\u0026 \\u003c@U0ADMIN\\u003e" in raw
    assert "<!channel>" not in raw
    # Decoded, the label text is exactly the label value: Alertmanager escapes nothing.
    assert record.HOSTILE_POD in attachment("defaults.ModelPodRestarting.firing")["fallback"]
    assert len(attachment("guide.ModelPodRestarting.firing")["text"]) > 10_000


# -- parsing -----------------------------------------------------------------------------

CASES = [
    # name, alertname, severity, count
    ("GPUMemoryHigh", "warning", 1),
    ("InferenceErrorRateHigh", "critical", 1),
    ("GPUTemperatureHigh", "warning", 2),
    ("ModelPodRestarting", "warning", 1),
    ("DailyCostExceeded", "warning", 1),
]


@pytest.mark.parametrize("receiver", ["guide", "defaults"])
@pytest.mark.parametrize(("alertname", "severity", "count"), CASES)
@pytest.mark.parametrize("status", ["firing", "resolved"])
def test_parses_both_title_styles(
    standin: SlackStandin, receiver: str, alertname: str, severity: str, count: int, status: str
) -> None:
    name = f"{receiver}.{alertname}.{status}"
    event = replay(standin, POSTS[name]["body"], "C0ALERTS")
    alert = parse_alertmanager_message(event, channel="C0ALERTS")
    assert alert is not None
    att = attachment(name)
    assert alert.status == status
    assert alert.alertname == alertname
    assert alert.labels["alertname"] == alertname
    assert alert.labels["severity"] == severity
    assert alert.count == (count if status == "firing" else None)
    assert alert.title == att["title"]
    assert alert.text == att["text"]
    assert alert.title_link == f"{DOC['external_url']}/#/alerts?receiver={receiver}"
    assert alert.color == ("danger" if status == "firing" else "good")
    assert (alert.channel, alert.ts, alert.bot_id) == ("C0ALERTS", event["ts"], event["bot_id"])
    assert set(alert.group_keys) == {"alertname", "severity"}  # group_by alertname, severity
    # Every other common label value is kept, raw, under a positional name, in Alertmanager's
    # order (by label name).
    source = [a["labels"] for a in record.GROUPS[alertname]]
    common = {k: v for k, v in source[0].items() if all(s.get(k) == v for s in source)}
    expected = [v for k, v in sorted(common.items()) if k not in ("alertname", "severity")]
    positional = [v for k, v in alert.labels.items() if is_positional(k)]
    assert " ".join(positional) == " ".join(expected)
    assert all(k.startswith("common[") for k in alert.labels if is_positional(k))


def test_recovered_labels_of_one_group() -> None:
    slack = SlackStandin()
    event = slack.message_event(POSTS["guide.GPUMemoryHigh.firing"]["message"])
    alert = parse_alertmanager_message(event, channel="C1")
    assert alert is not None
    assert alert.labels == {"alertname": "GPUMemoryHigh", "severity": "warning",
                            "common[0]": "node-1", "common[1]": "3",
                            "common[2]": "genai-platform"}
    event = slack.message_event(POSTS["byhost.GPUTemperatureHigh.resolved"]["message"])
    alert = parse_alertmanager_message(event, channel="C1")
    assert alert is not None
    assert alert.labels == {"alertname": "GPUTemperatureHigh", "severity": "warning",
                            "group[1]": "node-2", "common[1]": "genai-platform"}
    assert alert.group_keys == ("alertname", "group[1]")
    assert to_notification(alert)["groupLabels"] == {"alertname": "GPUTemperatureHigh",
                                                     "group[1]": "node-2"}


@pytest.mark.parametrize("receiver", ["guide", "defaults", "byhost"])
def test_firing_and_resolved_of_a_group_share_the_group_key(
    standin: SlackStandin, receiver: str
) -> None:
    keys: dict[str, str] = {}
    for name in record.GROUPS:
        if f"{receiver}.{name}.firing" not in POSTS:
            continue
        firing = to_notification(parse_post(standin, f"{receiver}.{name}.firing", "C0A"))
        resolved = to_notification(parse_post(standin, f"{receiver}.{name}.resolved", "C0A"))
        assert firing["groupKey"] == resolved["groupKey"], name
        assert firing["alerts"][0]["fingerprint"] == resolved["alerts"][0]["fingerprint"]
        assert (firing["status"], resolved["status"]) == ("firing", "resolved")
        keys[name] = firing["groupKey"]
    assert len(set(keys.values())) == len(keys)  # different groups, different keys
    # Another channel (or another workspace) is another group.
    first = next(iter(keys))
    other = to_notification(parse_post(standin, f"{receiver}.{first}.firing", "C0B"))
    assert other["groupKey"] != keys[first]
    alert = parse_post(standin, f"{receiver}.{first}.firing", "C0A")
    assert to_notification(alert, team="T1")["groupKey"] != to_notification(alert)["groupKey"]


def test_hostile_values_stay_raw_and_never_break(standin: SlackStandin) -> None:
    for receiver in ("guide", "defaults"):
        alert = parse_post(standin, f"{receiver}.ModelPodRestarting.firing")
        values = list(alert.labels.values())
        assert "<!channel>" in values and "<@U0ADMIN>" in values and "&" in values
        assert "<https://evil.example|here>" in values
        assert not any(v.startswith("&lt;") for v in values)  # raw, not escaped
        note = to_notification(alert)
        assert webhook_v4_problems(note) == []
        assert "<!channel>" in note["commonLabels"].values()
        # Escaping happens at render time, and makes the values inert.
        assert all("<" not in escape(v) and ">" not in escape(v) for v in values)
    guide = parse_post(standin, "guide.ModelPodRestarting.firing")
    assert len(guide.text) > 10_000 and "<!here>" in guide.text
    assert to_notification(guide)["commonAnnotations"]["description"] == guide.text


def test_a_title_cut_at_1024_still_gives_the_group(standin: SlackStandin) -> None:
    keys = {}
    for status in ("firing", "resolved"):
        body = json.loads(POSTS[f"defaults.ModelPodRestarting.{status}"]["body"])
        body["attachments"][0].pop("fallback")
        alert = parse_alertmanager_message(replay(standin, json.dumps(body)), channel="C0A")
        assert alert is not None and alert.truncated
        assert alert.labels["alertname"] == "ModelPodRestarting"
        assert alert.labels["severity"] == "warning"
        assert not any(v.endswith("…") for v in alert.labels.values())
        keys[status] = to_notification(alert)["groupKey"]
    full = to_notification(parse_post(standin, "defaults.ModelPodRestarting.firing", "C0A"))
    assert keys["firing"] == keys["resolved"] == full["groupKey"]


@pytest.mark.parametrize("status", ["firing", "resolved"])
def test_fallback_as_the_only_informative_field(standin: SlackStandin, status: str) -> None:
    fallback = attachment(f"guide.GPUTemperatureHigh.{status}")["fallback"]
    event = standin.add_message("C0A", bot_id="B0HOOK", username="incoming-webhook",
                                attachments=[{"fallback": fallback}])
    alert = parse_alertmanager_message(event, channel="C0A")
    assert alert is not None
    assert (alert.status, alert.alertname) == (status, "GPUTemperatureHigh")
    assert alert.count == (2 if status == "firing" else None)
    assert alert.labels["severity"] == "warning"
    assert alert.title == fallback.rsplit(" | ", 1)[0]
    assert alert.title_link is None and alert.text == ""
    note = to_notification(alert)
    assert webhook_v4_problems(note) == []
    assert note["externalURL"] == ""
    guide = to_notification(parse_post(standin, f"guide.GPUTemperatureHigh.{status}", "C0A"))
    assert note["groupKey"] == guide["groupKey"]


def test_guide_title_without_fallback(standin: SlackStandin) -> None:
    att = attachment("guide.InferenceErrorRateHigh.firing")
    att.pop("fallback")
    event = standin.add_message("C0A", bot_id="B0AM", username="Alertmanager",
                                attachments=[att])
    alert = parse_alertmanager_message(event, channel="C0A")
    assert alert is not None
    assert alert.labels == {"alertname": "InferenceErrorRateHigh"}
    assert alert.count is None
    assert webhook_v4_problems(to_notification(alert)) == []


@pytest.mark.parametrize(("color", "status"), [("danger", "firing"), ("good", "resolved"),
                                               ("warning", None), (None, None)])
def test_colour_is_a_secondary_signal(standin: SlackStandin, color: str | None,
                                      status: str | None) -> None:
    # title: '{{ .CommonLabels.alertname }}' and a custom fallback: only the colour tells.
    att = {"title": "GPUMemoryHigh", "fallback": "GPU memory", "text": "GPU 3 is full",
           "title_link": "http://am:9093/#/alerts?receiver=x"}
    if color:
        att["color"] = color
    event = standin.add_message("C0A", bot_id="B0AM", username="Alertmanager",
                                attachments=[att])
    alert = parse_alertmanager_message(event, channel="C0A")
    assert (alert.status if alert else None) == status
    # Text wins over colour.
    att = {**attachment("defaults.GPUMemoryHigh.firing"), "color": "good"}
    event = standin.add_message("C0A", bot_id="B0AM", username="Alertmanager",
                                attachments=[att])
    assert (parse_alertmanager_message(event, channel="C0A") or pytest.fail()).status == "firing"


# -- not Alertmanager --------------------------------------------------------------------


def test_other_messages_are_not_alerts(standin: SlackStandin) -> None:
    am = json.loads(POSTS["defaults.GPUMemoryHigh.firing"]["body"])["attachments"]
    parent = replay(standin, POSTS["defaults.GPUMemoryHigh.firing"]["body"], "C0N")
    assert parse_alertmanager_message(parent, channel="C0N") is not None
    none_of = {
        "human": standin.add_message("C0N", "[FIRING:1] GPUMemoryHigh warning | http://x/#/a"),
        "human with the guide title": standin.add_message("C0N", "FIRING: GPUMemoryHigh"),
        "thread reply with the same attachment": standin.add_message(
            "C0N", bot_id="B0AM", username="Alertmanager", attachments=am,
            thread_ts=parent["ts"]),
        "bot message without attachments": standin.add_message(
            "C0N", "[FIRING:1] GPUMemoryHigh warning", bot_id="B0AM", username="Alertmanager"),
        "someone else's message edited": {
            "type": "message", "subtype": "message_changed", "hidden": True, "channel": "C0N",
            "ts": standin.new_ts(), "event_ts": standin.new_ts(),
            "message": {"type": "message", "user": "U1", "text": "FIRING: GPUMemoryHigh",
                        "ts": parent["ts"]},
            "previous_message": {"type": "message", "user": "U1", "text": "x"}},
        "message_deleted": {
            "type": "message", "subtype": "message_deleted", "hidden": True, "channel": "C0N",
            "ts": standin.new_ts(), "deleted_ts": parent["ts"], "previous_message": parent},
        "another alerting bot": standin.add_message(
            "C0N", bot_id="B0GRAFANA", username="grafana", attachments=[{
                "title": "[FIRING:1] GPUMemoryHigh (node-1)", "color": "#D63232",
                "title_link": "https://grafana/alerting/list", "fallback": "[FIRING:1] x",
                "footer": "Grafana v10.4"}]),
        "bot post with an unrelated attachment": standin.add_message(
            "C0N", bot_id="B0CI", username="ci", attachments=[{
                "title": "Build #12 failed", "color": "danger", "fallback": "Build failed"}]),
        "not a message": {"type": "reaction_added", "ts": parent["ts"]},
    }
    for what, event in none_of.items():
        assert parse_alertmanager_message(event, channel="C0N") is None, what


def test_our_own_messages_are_not_alerts(standin: SlackStandin) -> None:
    client = WebClient(token=standin.bot_token, base_url=standin.api_url)
    am = json.loads(POSTS["defaults.GPUMemoryHigh.firing"]["body"])["attachments"]
    # The bot's own messages always carry Block Kit: top-level blocks, or blocks inside the
    # card's attachment.
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*FIRING: GPUMemoryHigh*"}}]
    sent = client.chat_postMessage(channel="C0OWN", text="FIRING: GPUMemoryHigh", blocks=blocks,
                                   attachments=am)
    event = standin.message_event(standin.find_message("C0OWN", sent["ts"]) or {})
    assert parse_alertmanager_message(event, channel="C0OWN") is None
    card = [{**am[0], "blocks": blocks}]
    sent = client.chat_postMessage(channel="C0OWN", text="FIRING: GPUMemoryHigh",
                                   attachments=card)
    event = standin.message_event(standin.find_message("C0OWN", sent["ts"]) or {})
    assert parse_alertmanager_message(event, channel="C0OWN") is None
    # Alertmanager 0.32 may post with the bot's own token: that is Alertmanager's post.
    sent = client.chat_postMessage(channel="C0OWN", attachments=am)
    event = standin.message_event(standin.find_message("C0OWN", sent["ts"]) or {})
    alert = parse_alertmanager_message(event, channel="C0OWN")
    assert alert is not None and alert.alertname == "GPUMemoryHigh"
    assert standin.bot_id in sender_ids(event)


# -- the notification --------------------------------------------------------------------


def test_every_recorded_post_becomes_a_valid_webhook_v4(standin: SlackStandin) -> None:
    for name, post in POSTS.items():
        event = SlackStandin.message_event(standin, post["message"])
        alert = parse_alertmanager_message(event, channel="C0V")
        assert alert is not None, name
        note = to_notification(alert)
        assert webhook_v4_problems(note) == [], name
        assert note["receiver"] == "slack:C0V"
        assert note["externalURL"] == DOC["external_url"]
        assert note["commonAnnotations"] == {"summary": alert.title, "description": alert.text}
        assert note["alerts"][0]["annotations"] == note["commonAnnotations"]


def test_notification_times_come_from_the_message_ts() -> None:
    base = dict(status="firing", alertname="GPUMemoryHigh", count=1,
                labels={"alertname": "GPUMemoryHigh"}, title="FIRING: GPUMemoryHigh", text="",
                title_link="https://am.example/prefix/#/alerts?receiver=a%20b", color="danger",
                channel="C1", ts="1700000000.000100", bot_id="B1")
    note = to_notification(ChannelAlert(**base))  # type: ignore[arg-type]
    assert note["alerts"][0]["startsAt"] == "2023-11-14T22:13:20.0001Z"
    assert note["alerts"][0]["endsAt"] == ZERO
    assert note["externalURL"] == "https://am.example/prefix"
    note = to_notification(ChannelAlert(**{**base, "status": "resolved", "count": None}))  # type: ignore[arg-type]
    assert note["alerts"][0]["endsAt"] == "2023-11-14T22:13:20.0001Z"
    note = to_notification(ChannelAlert(**{**base, "title_link": "https://am.example:9443/x"}))  # type: ignore[arg-type]
    assert note["externalURL"] == "https://am.example:9443"
    assert webhook_v4_problems(note) == []


def test_notification_is_accepted_by_the_intake_model(standin: SlackStandin) -> None:
    for name in ("guide.GPUTemperatureHigh.firing", "defaults.ModelPodRestarting.resolved"):
        payload = WebhookPayload.model_validate(to_notification(parse_post(standin, name)))
        assert payload.groupKey and payload.alerts


# -- fuzz --------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
_tricky_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from([
        "", " ", "[FIRING:1]", "[FIRING:1] ", "[FIRING:99999999999999999999] x", "[RESOLVED]",
        "[RESOLVED] (", "[FIRING:2] a b (c d) | http://am/#/alerts?receiver=r", "FIRING:",
        "RESOLVED: ", "FIRING: <!channel>", "[FIRING:1] ( ) ) (", "[FIRING:1] " + "x" * 1100,
        "[FIRING:1] a (" + "y" * 1020 + "…", "[RESOLVED] \ud800 (\udfff)", "GPUMemoryHigh",
        "http://am/#/alerts?receiver=", "http://[::1/#/alerts?receiver=x", "https://[bad",
    ]),
    st.builds(lambda a, b: f"[FIRING:{a}] {b}", st.integers(-5, 10**6), st.text(max_size=40)),
    st.builds(lambda s, b, link: f"{s} {b} | {link}", st.sampled_from(["[FIRING:1]", "[RESOLVED]"]),
              st.text(max_size=40), st.sampled_from(["http://am/#/alerts?receiver=x", "x", ""])),
)
_name = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
_subject = st.builds(
    lambda status, name, rest, link: f"{status} {name} {rest}{link}",
    st.sampled_from(["[FIRING:1]", "[FIRING:2]", "[RESOLVED]", "FIRING:", "RESOLVED:"]),
    _name,
    st.text(max_size=40) | st.sampled_from(["warning ", "critical (a (b) c)", "(x", "", "…"]),
    st.sampled_from(["", " | http://am:9093/#/alerts?receiver=x", " | x | y"]),
)
_tricky_text = _tricky_text | _subject | _name
_scalar = st.none() | st.booleans() | st.integers() | st.floats() | _tricky_text
_attachment = st.fixed_dictionaries(
    {},
    optional={
        "title": _tricky_text, "fallback": _tricky_text, "text": _tricky_text,
        "title_link": st.sampled_from(["http://am:9093/#/alerts?receiver=x", "http://[::1",
                                       "javascript:x", ""]) | _tricky_text,
        "color": st.sampled_from(["danger", "good", "DANGER", "#D63232"]) | _scalar,
        "footer": _scalar, "callback_id": _scalar, "mrkdwn_in": _json,
    },
)
# Shaped like an Alertmanager post, so that the parsing paths really run...
_am_attachment = st.fixed_dictionaries(
    {"title": _subject | _tricky_text, "fallback": _subject | _tricky_text},
    optional={"text": _tricky_text, "color": st.sampled_from(["danger", "good", "#D63232"]),
              "title_link": st.sampled_from(["http://am:9093/#/alerts?receiver=x", "http://[::1",
                                             "javascript:x", ""])},
)
_am_shaped = st.fixed_dictionaries(
    {
        "type": st.just("message"),
        "subtype": st.just("bot_message"),
        "bot_id": st.just("B1"),
        "ts": st.sampled_from(["1700000000.000100", "1", "1700000000.5", "9" * 20 + ".1"]),
        "username": st.sampled_from(["Alertmanager", "Alertmanager", "incoming-webhook"]),
        "attachments": st.lists(_am_attachment | _attachment, min_size=1, max_size=2),
    },
    optional={"text": _tricky_text, "blocks": st.just([{"type": "rich_text"}]) | _json},
)
# ...and the same with any field swapped for junk.
_am_like = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["message", "reaction_added"]) | _scalar,
        "ts": st.sampled_from(["1700000000.000100", "x", ""]) | _scalar,
        "attachments": st.lists(_attachment | _json, max_size=3) | _scalar,
    },
    optional={
        "subtype": st.sampled_from(["bot_message", "message_changed", "thread_broadcast"])
        | _scalar,
        "bot_id": st.sampled_from(["B1", "B0OWN", ""]) | _scalar,
        "user": _scalar,
        "username": st.sampled_from(["Alertmanager", "grafana"]) | _scalar,
        "thread_ts": _scalar,
        "hidden": _scalar,
        "blocks": _json,
        "channel": _scalar,
    },
)


def _never_raises(event: Any) -> None:
    alert = parse_alertmanager_message(event, channel="C0FUZZ")
    if alert is not None:
        assert alert.status in ("firing", "resolved") and alert.alertname
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in alert.labels.items())
        note = to_notification(alert, team="T1")
        assert webhook_v4_problems(note) == [], note


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=10), _json, max_size=8))
def test_fuzz_arbitrary_event_dicts_never_raise(event: dict[str, Any]) -> None:
    _never_raises(event)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_am_shaped | _am_like)
def test_fuzz_alertmanager_like_events_never_raise(event: dict[str, Any]) -> None:
    _never_raises(event)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(sorted(POSTS)),
    st.sampled_from(["title", "fallback", "text", "title_link", "color"]),
    st.integers(0, 1400),
    st.integers(0, 40),
    _tricky_text,
)
def test_fuzz_recorded_posts_with_a_damaged_field(
    standin: SlackStandin, name: str, field: str, at: int, cut: int, insert: str
) -> None:
    event = json.loads(json.dumps(standin.message_event(POSTS[name]["message"])))
    att = event["attachments"][0]
    value = str(att.get(field) or "")
    att[field] = value[:at] + insert + value[at + cut :]
    _never_raises(event)
    if field == "text":  # the text never decides what the post is
        alert = parse_alertmanager_message(event, channel="C0FUZZ")
        assert alert is not None and alert.alertname == name.split(".")[1]


# -- live: the installed binary ----------------------------------------------------------


@pytest.mark.integration
def test_live_alertmanager_posts_parse_and_match_the_recording(standin: SlackStandin) -> None:
    binary = require_binary(["prometheus-alertmanager", "alertmanager"],
                            "the channel parser is proven against real Alertmanager posts")
    live = record.record(timeout=20.0, binary=binary)
    got = {p["name"]: p for p in live["posts"]}
    assert set(got) == set(POSTS), "the installed Alertmanager posts differently; re-record"
    for name, post in got.items():
        # Byte for byte what was recorded (titles, fallbacks, Go's escaping, key order).
        assert post["body"] == POSTS[name]["body"], f"{name} differs from the recording"
        event = standin.message_event(post["message"])
        alert = parse_alertmanager_message(event, channel=post["webhook_channel"])
        assert alert is not None, name
        receiver, alertname, status = name.split(".")
        assert (alert.alertname, alert.status) == (alertname, status)
        assert webhook_v4_problems(to_notification(alert)) == []
    for receiver in record.WEBHOOK_CHANNELS:
        for alertname in record.GROUPS:
            pair = [got.get(f"{receiver}.{alertname}.{s}") for s in ("firing", "resolved")]
            if None in pair:
                continue
            keys = {
                to_notification(parse_alertmanager_message(
                    standin.message_event(p["message"]), channel=p["webhook_channel"])
                    or pytest.fail(p["name"]))["groupKey"]
                for p in pair if p is not None
            }
            assert len(keys) == 1, (receiver, alertname)
