"""The stand-in Slack speaks the real protocol: checked with the real slack_sdk clients.

If these pass, a bot test that talks to the stand-in exercises the same code paths (HTTP
bodies, auth, errors, 429 handling, websocket framing) that it will use against Slack.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from tests.harness.blockkit import blocks_to_text, validate_blocks
from tests.harness.recorder import RecordingEndpoint
from tests.harness.slack import SlackStandin


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    with SlackStandin() as standin:
        for name, cid in (("c1", "C1"), ("c2", "C2"), ("alerts", "CALERT")):
            standin.create_channel(name, cid)
        yield standin


@pytest.fixture
def client(slack: SlackStandin) -> WebClient:
    return WebClient(base_url=slack.api_url, token=slack.bot_token)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(label: str, action_id: str = "ack", value: str = "inc-1") -> dict[str, Any]:
    return {"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": label},
         "action_id": action_id, "value": value}]}


@pytest.fixture
def bot_endpoint() -> Iterator[tuple[str, list[tuple[dict[str, str], str]]]]:
    with RecordingEndpoint() as endpoint:
        yield f"{endpoint.url}/slack/events", endpoint.seen


def test_binds_only_loopback(slack: SlackStandin) -> None:
    assert slack.api_url.startswith("http://127.0.0.1:")
    assert slack.httpd is not None and slack.httpd.server_address[0] == "127.0.0.1"
    assert slack._ws is not None and slack._ws.socket.getsockname()[0] == "127.0.0.1"


def test_valid_post_is_answered_and_recorded(slack: SlackStandin, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="hello", blocks=[_section("*hi*")])
    second = client.chat_postMessage(channel="C1", text="again", thread_ts=first["ts"])
    assert first["ok"] and first["channel"] == "C1"
    assert float(second["ts"]) > float(first["ts"])
    stored = slack.messages["C1"]
    assert [m["text"] for m in stored] == ["hello", "again"]
    assert stored[0]["blocks"] == [_section("*hi*")] and stored[0]["user"] == "UBOT"
    assert stored[1]["thread_ts"] == first["ts"]
    call = slack.wait_for(lambda c: c.method == "chat.postMessage", timeout=1)
    assert call.params["channel"] == "C1" and call.ok and call.token == slack.bot_token
    replies = client.conversations_replies(channel="C1", ts=first["ts"])
    assert [m["text"] for m in replies["messages"]] == ["hello", "again"]


def test_update_keeps_ts_and_requires_existing_message(
    slack: SlackStandin, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel="C1", text="FIRING", blocks=[_section("firing")])
    client.chat_update(channel="C1", ts=posted["ts"], text="RESOLVED")
    msg = slack.find_message("C1", posted["ts"])
    assert msg is not None and msg["text"] == "RESOLVED"
    assert msg["blocks"] == [_section("firing")]  # omitted blocks are kept, as in Slack
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_wrong_token_is_invalid_auth(slack: SlackStandin) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack.api_url, token="xoxb-wrong").chat_postMessage(
            channel="C1", text="x")
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack.api_url).auth_test()
    assert err.value.response["error"] == "not_authed"
    assert slack.messages["C1"] == []


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "divider"}] * 51, "/blocks]"),
        ([_section("x" * 3001)], "/blocks/0/text/text]"),
        ([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
         "/blocks/0/text/text]"),
        ([_button("b" * 76)], "/blocks/0/elements/0/text/text]"),
    ],
    ids=["51-blocks", "section-3001", "header-151", "button-76"],
)
def test_block_kit_limits_are_enforced(
    slack: SlackStandin, client: WebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x", blocks=blocks)
    response = err.value.response
    assert response["error"] == "invalid_blocks"
    assert any(e.endswith(f"[json-pointer:{pointer}") for e in response["errors"]), response
    assert slack.messages["C1"] == []


def test_blocks_at_the_limits_are_accepted(client: WebClient) -> None:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
              _section("x" * 3000), _button("b" * 75, value="v" * 2000)]
    blocks += [{"type": "divider"}] * (50 - len(blocks))
    assert client.chat_postMessage(channel="C1", text="x", blocks=blocks)["ok"]


def test_validator_details() -> None:
    header_mrkdwn = [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]
    assert validate_blocks(header_mrkdwn) == [
        "must be a valid enum value [json-pointer:/blocks/0/text/type]"]
    dup = [_button("a", block_id) for block_id in ("x", "y")]
    dup[0]["block_id"] = dup[1]["block_id"] = "same"
    assert validate_blocks(dup) == ["duplicate block_id: same [json-pointer:/blocks/1/block_id]"]
    two = _button("a", "go")
    two["elements"].append(dict(two["elements"][0]))
    assert validate_blocks([two]) == [
        "duplicate action_id: go [json-pointer:/blocks/0/elements/1/action_id]"]
    select = {"type": "static_select", "action_id": "s", "options": [
        {"text": {"type": "plain_text", "text": "o" * 76}, "value": "v" * 151}]}
    errors = validate_blocks([{"type": "actions", "elements": [select]}])
    assert len(errors) == 2 and "less than 76" in errors[0] and "less than 151" in errors[1]
    assert validate_blocks([{"type": "table"}])[0].startswith("unsupported type")
    assert validate_blocks("[]") == ["must provide an array [json-pointer:/blocks]"]
    assert validate_blocks([_section("")]) == [
        "must be more than 0 characters [json-pointer:/blocks/0/text/text]"]


def test_form_encoded_blocks_and_bad_formats(slack: SlackStandin) -> None:
    url = slack.api_url + "chat.postMessage"
    auth = {"Authorization": f"Bearer {slack.bot_token}"}
    ok = httpx.post(url, data={"channel": "C2", "blocks": json.dumps([_section("a")])},
                    headers=auth).json()
    assert ok["ok"] and slack.messages["C2"][0]["blocks"] == [_section("a")]
    bad = httpx.post(url, data={"channel": "C2", "blocks": '{"type": "divider"}'},
                     headers=auth).json()
    assert bad == {"ok": False, "error": "invalid_blocks_format"}
    no_text = httpx.post(url, data={"channel": "C2", "token": slack.bot_token}).json()
    assert no_text["error"] == "no_text"
    unknown = httpx.post(slack.api_url + "chat.nope", headers=auth).json()
    assert unknown["error"] == "unknown_method"


def test_rate_limit_is_seen_by_the_client(slack: SlackStandin, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", 1, status=429, retry_after=7)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"
    assert slack.messages["C1"] == []


def test_retry_handler_posts_exactly_once(slack: SlackStandin) -> None:
    client = WebClient(base_url=slack.api_url, token=slack.bot_token,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    slack.fail_next("chat.postMessage", 1, status=429, retry_after=0)
    assert client.chat_postMessage(channel="C1", text="once")["ok"]
    assert [m["text"] for m in slack.messages["C1"]] == ["once"]
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]


def test_server_error_and_ratio_injection(slack: SlackStandin, client: WebClient) -> None:
    slack.fail_next("auth.test", 1, status=500)
    with pytest.raises(SlackApiError) as err:
        client.auth_test()
    assert err.value.response.status_code == 500
    slack.set_429_ratio(0.5, retry_after=1, seed=1)
    statuses = []
    for _ in range(20):
        try:
            client.auth_test()
            statuses.append(200)
        except SlackApiError as e:
            statuses.append(e.response.status_code)
    assert 3 <= statuses.count(429) <= 17 and statuses.count(200) >= 3


def test_apps_connections_open_needs_the_app_token(slack: SlackStandin, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.apps_connections_open(app_token=slack.bot_token)
    assert err.value.response["error"] == "not_allowed_token_type"
    url = client.apps_connections_open(app_token=slack.app_token)["url"]
    assert url.startswith(f"ws://127.0.0.1:{slack.ws_port}/link/?ticket=")
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack.api_url, token=slack.app_token).chat_postMessage(
            channel="C1", text="x")
    assert err.value.response["error"] == "not_allowed_token_type"


def test_usergroups_views_and_ephemeral(slack: SlackStandin, client: WebClient) -> None:
    slack.usergroups = {"S123": ["U1", "U2"]}
    assert client.usergroups_users_list(usergroup="S123")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as err:
        client.usergroups_users_list(usergroup="S999")
    assert err.value.response["error"] == "no_such_subteam"
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Silence"},
             "blocks": [_section("for how long?")]}
    trigger = slack.new_trigger_id()
    view = client.views_open(trigger_id=trigger, view=modal)["view"]
    assert view["id"] in slack.views
    with pytest.raises(SlackApiError) as err:
        client.views_open(trigger_id=trigger, view=modal)
    assert err.value.response["error"] == "exchanged_trigger_id"
    long_title = dict(modal, title={"type": "plain_text", "text": "t" * 25})
    with pytest.raises(SlackApiError) as err:
        client.views_open(trigger_id=slack.new_trigger_id(), view=long_title)
    assert err.value.response["error"] == "invalid_arguments"
    assert client.chat_postEphemeral(channel="C1", user="U1", text="only you")["message_ts"]
    assert slack.ephemerals[0]["user"] == "U1" and slack.messages["C1"] == []


def test_slash_command_is_signed_like_slack(
    slack: SlackStandin, bot_endpoint: tuple[str, list[tuple[dict[str, str], str]]]
) -> None:
    url, seen = bot_endpoint
    response = slack.send_slash_command(url, "status", user_id="U7", channel_id="C9")
    assert response.status_code == 200
    headers, body = seen[0]
    verifier = SignatureVerifier(slack.signing_secret)
    assert verifier.is_valid_request(body, headers)
    fields = {k: v[0] for k, v in parse_qs(body).items()}
    assert fields["command"] == "/genai" and fields["text"] == "status"
    assert fields["user_id"] == "U7" and fields["response_url"].startswith(slack.base_url)
    delivery = slack.deliveries[0]
    assert delivery.acked_in_time and delivery.latency is not None and delivery.latency < 3
    assert slack.ephemerals[-1]["text"] == "working on it"  # the ack body is shown to U7

    slack.send_slash_command(url, "status", sign_with="forged")
    slack.send_slash_command(url, "status", timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(seen[1][1], seen[1][0])
    assert not verifier.is_valid_request(seen[2][1], seen[2][0])


def test_block_action_and_event_deliveries(
    slack: SlackStandin,
    client: WebClient,
    bot_endpoint: tuple[str, list[tuple[dict[str, str], str]]],
) -> None:
    url, seen = bot_endpoint
    posted = client.chat_postMessage(channel="C1", text="alert", blocks=[_button("Ack")])
    slack.send_block_action(url, "ack", user_id="U2", channel_id="C1")
    payload = json.loads(parse_qs(seen[0][1])["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["container"]["message_ts"] == posted["ts"]
    assert payload["actions"][0]["value"] == "inc-1"
    with pytest.raises(AssertionError):
        slack.send_block_action(url, "ack", value="inc-2", channel_id="C1")  # not on the button
    replaced = httpx.post(payload["response_url"],
                          json={"replace_original": True, "text": "acked by U2"})
    assert replaced.text == "ok" and slack.messages["C1"][0]["text"] == "acked by U2"
    bad = httpx.post(payload["response_url"], json={"blocks": [_section("x" * 3001)]})
    assert (bad.status_code, bad.text) == (400, "invalid_blocks")

    slack.send_event(url, {"type": "app_mention", "text": "hi", "user": "U1"},
                     event_id="Ev1", retry_num=1)
    headers, body = seen[-1]
    assert headers["X-Slack-Retry-Num"] == "1"
    assert json.loads(body)["event_id"] == "Ev1"
    assert SignatureVerifier(slack.signing_secret).is_valid_request(body, headers)


def test_builtin_socket_mode_client_round_trip() -> None:
    # slack_sdk's builtin client blocks in recv() with a 3 s socket timeout, so its close()
    # takes up to 3 s unless something arrives: fast pings (not Slack's pace) keep this quick.
    with SlackStandin(socket_ping_interval=0.5) as slack:
        _builtin_round_trip(slack)


def _builtin_round_trip(slack: SlackStandin) -> None:
    web = WebClient(base_url=slack.api_url, token=slack.bot_token)
    client = SocketModeClient(app_token=slack.app_token, web_client=web)
    received: list[SocketModeRequest] = []

    def listener(c: Any, req: SocketModeRequest) -> None:
        received.append(req)
        c.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "pong"}))

    client.socket_mode_request_listeners.append(listener)
    try:
        client.connect()
        assert slack.socket_connected(timeout=3)
        envelope_id = slack.socket_send_slash_command("status", user_id="U5")
        ack = slack.wait_socket_ack(envelope_id, timeout=3)
    finally:
        client.close()
    assert received[0].type == "slash_commands" and received[0].payload["text"] == "status"
    assert ack["envelope_id"] == envelope_id and ack["payload"] == {"text": "pong"}
    assert ack["latency"] is not None and 0 <= ack["latency"] < 3
    assert slack.ephemerals[-1]["text"] == "pong" and slack.ephemerals[-1]["user"] == "U5"
    hello = [m for m in slack.socket_messages if m["message"].get("type") == "hello"]
    assert hello == []  # hello goes server -> client only
    assert slack.calls_to("apps.connections.open", ok=True)


def test_incoming_webhook_takes_alertmanager_posts(
    slack: SlackStandin, client: WebClient
) -> None:
    hook = slack.new_incoming_webhook("CALERT")
    body = {"channel": "#alerts", "username": "Alertmanager", "attachments": [
        {"title": "FIRING: GPUMemoryHigh", "color": "danger", "mrkdwn_in": ["text"],
         "fallback": "[FIRING:1] GPUMemoryHigh"}]}
    answer = httpx.post(hook, json=body)
    assert (answer.status_code, answer.text) == (200, "ok")
    msg = slack.messages["CALERT"][0]
    assert msg["subtype"] == "bot_message" and msg["username"] == "Alertmanager"
    event = slack.message_event(msg)
    assert event["type"] == "message" and event["attachments"][0]["color"] == "danger"
    with pytest.raises(SlackApiError) as err:  # the bot cannot edit Alertmanager's post
        client.chat_update(channel="CALERT", ts=msg["ts"], text="x")
    assert err.value.response["error"] == "cant_update_message"
    assert httpx.post(hook, json={"username": "Alertmanager"}).text == "no_text"


def test_channels_the_workspace_lacks_are_not_found(slack: SlackStandin,
                                                   client: WebClient) -> None:
    """As in Slack: a post to a channel nobody created, by id or by name, is refused, so a
    typo in the bot's routing fails a test instead of creating a channel."""
    for channel in ("C0NOWHERE", "#genai-critcal", "genai-warning"):
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel=channel, text="x")
        assert refused.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as refused:
        client.conversations_history(channel="C0NOWHERE")
    assert refused.value.response["error"] == "channel_not_found"
    with pytest.raises(AssertionError, match="no channel"):
        slack.channel_id("#genai-critcal")
    assert client.chat_postMessage(channel="#genai-critical", text="x")["ok"]
    assert slack.messages[slack.channel_id("#genai-critical")]


def test_channel_pacing(slack: SlackStandin, client: WebClient) -> None:
    slack.set_channel_rate_limit(per_second=1.0, burst=2, retry_after=1)
    client.chat_postMessage(channel="C1", text="1")
    client.chat_postMessage(channel="C1", text="2")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="3")
    assert err.value.response.status_code == 429
    assert client.chat_postMessage(channel="C2", text="other channel")["ok"]
    assert [m["text"] for m in slack.messages["C1"]] == ["1", "2"]


def test_blocks_to_text() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "GPU"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "a &amp; <https://x|link>"},
         "fields": [{"type": "mrkdwn", "text": "*f1*"}, {"type": "plain_text", "text": "f2"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "<!channel> ctx"}]},
        _button("Acknowledge"),
    ]
    assert blocks_to_text(blocks).splitlines() == [
        "GPU", "===", "a & link (https://x)", "*f1* | f2", "-" * 40, "@channel ctx",
        "[Acknowledge]",
    ]


def test_stop_is_quick() -> None:
    standin = SlackStandin().start()
    WebClient(base_url=standin.api_url, token=standin.bot_token).auth_test()
    started = time.monotonic()
    standin.stop()
    assert time.monotonic() - started < 2.5
