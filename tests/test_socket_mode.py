"""Socket Mode never goes deaf: the real app on our client (bot/slack/socket) against the
Slack stand-in, which pings at Slack's pace and refreshes, drops, half-opens and closes
connections and refuses apps.connections.open the ways Slack does."""

from __future__ import annotations

import itertools
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from bot.errors import StartupError
from bot.server import Bot
from tests.fixtures.alertmanager import record
from tests.harness.bots import BotFactory, bot_settings
from tests.harness.kube import KubeStandin
from tests.harness.procs import wait_for
from tests.harness.slack import SlackStandin

POSTS = {p["name"]: p for p in json.loads(
    Path(record.__file__).with_name("slack_posts.json").read_text())["posts"]}

FAST = {"socket_ping_interval_s": 0.5, "socket_ping_timeout_s": 0.5}


@pytest.fixture
def kube() -> Any:
    with KubeStandin() as k:
        yield k


def socket_bot(make_bot: BotFactory, kube: KubeStandin, **slack: Any) -> Bot:
    return make_bot("http://127.0.0.1:1", kube.url, mode="socket", slack=slack,
                    http={"drain_delay_s": 0})


def probe(bot: Bot, path: str) -> int:
    return httpx.get(f"{bot.url}{path}", timeout=2).status_code


def hellos(slack: SlackStandin) -> list[dict[str, Any]]:
    return [e for e in slack.socket_events if e["event"] == "hello"]


def fire(slack: SlackStandin, n: int) -> list[str]:
    """``n`` slash commands pushed at once from ``n`` threads; their envelope ids."""
    ids: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        envelope = slack.socket_send_slash_command("help", user_id="U0LOAD")
        with lock:
            ids.append(envelope)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


def test_refreshes_under_load_lose_nothing_and_keep_acks_fast(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin) -> None:
    """Ten refreshes, each in the middle of 50 concurrent commands: every envelope is acked,
    the slowest within 300 ms (Slack's deadline is 3 s), and the bot stays ready."""
    bot = socket_bot(make_bot, kube)
    assert slack.socket_connected(timeout=5)
    fire(slack, 5)  # warm up
    sent: list[str] = []
    not_ready = 0
    for _ in range(10):
        half = threading.Thread(target=lambda: sent.extend(fire(slack, 25)))
        half.start()
        slack.socket_refresh(slack.socket_connection_ids()[-1], close_after_s=0.5)
        sent.extend(fire(slack, 25))
        half.join()
        not_ready += probe(bot, "/readyz") != 200
        assert slack.socket_connected(timeout=2), "no new connection after the refresh"
    acks = [slack.wait_socket_ack(e) for e in sent]
    latencies = sorted(a["latency"] for a in acks)
    assert len(acks) == 500
    # The 300 ms goal is measured by `make bench` (socket_mode); on a loaded 2-core CI box a
    # test can only hold the line that matters to the user: well inside Slack's 3 s.
    assert latencies[-1] < 1.5, f"slowest ack {latencies[-1] * 1000:.0f} ms"
    assert not_ready == 0
    warnings = [e for e in slack.socket_events if e["event"] == "disconnect"]
    assert len({e["conn"] for e in warnings}) == 10 and len(hellos(slack)) == 11
    wait_for(lambda: len(slack.responses) >= 505, "an answer to every command", timeout=30)
    # The new connection is opened at the warning, not when Slack closes the old one.
    for warned in warnings:
        successor = next(h for h in hellos(slack) if h["at"] > warned["at"])
        assert successor["at"] - warned["at"] < 1.0


def test_a_refreshed_connection_closed_before_its_successor_says_hello(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin) -> None:
    """Slack may close the refreshed connection before the new one is greeted. The new one
    is the successor all the same: no third connection, and what users send in the gap is
    acked on it."""
    bot = socket_bot(make_bot, kube)
    assert slack.socket_connected(timeout=5)
    slack.delay_hello(1.0)
    old = slack.socket_refresh(close_after_s=0.1)
    slack.wait_socket_event("closed", old)
    # Nothing greeted is open: not ready in the gap (the bot reads the close a moment after
    # the stand-in records it; the successor's hello is still about 0.9 s away).
    wait_for(lambda: probe(bot, "/readyz") == 503, "/readyz 503 in the gap", timeout=0.5,
             interval=0.02)
    sent = fire(slack, 10)  # Slack holds these for the next connection it greets
    acks = [slack.wait_socket_ack(e) for e in sent]
    successor = hellos(slack)[-1]["conn"]
    assert {a["conn"] for a in acks} == {successor}
    time.sleep(0.5)  # room for a needless third connection to show up
    assert [e["conn"] for e in slack.socket_events if e["event"] == "opened"][1:] == [
        successor]
    assert probe(bot, "/readyz") == 200


def test_a_connection_that_never_says_hello_is_replaced(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin) -> None:
    socket_bot(make_bot, kube, **FAST, socket_hello_timeout_s=1.0)
    assert slack.socket_connected(timeout=5)
    slack.delay_hello(None)
    with structlog.testing.capture_logs() as logs:
        dropped = slack.socket_drop()
        at = slack.wait_socket_event("dropped", dropped)["at"]
        silent = slack.wait_socket_event("hello_withheld")["conn"]
        back = wait_for(lambda: next((h for h in hellos(slack) if h["at"] > at), None),
                        "a greeted connection", timeout=5, interval=0.05)
    assert back["conn"] != silent and 1.0 <= back["at"] - at < 3.5
    assert slack.wait_socket_event("closed", silent)["by"] == "client"
    assert [e["event"] for e in logs if e["event"] == "socket.no_hello"] == ["socket.no_hello"]
    envelope = slack.socket_send_slash_command("help")
    assert slack.wait_socket_ack(envelope)["conn"] == back["conn"]


def test_a_dropped_connection_is_replaced_at_once(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin) -> None:
    socket_bot(make_bot, kube, **FAST)
    assert slack.socket_connected(timeout=5)
    dropped = slack.socket_drop()
    at = slack.wait_socket_event("dropped", dropped)["at"]
    assert slack.socket_connected(timeout=2)
    back = hellos(slack)[-1]
    assert back["conn"] != dropped and back["at"] - at < 2.0
    envelope = slack.socket_send_slash_command("help")
    assert slack.wait_socket_ack(envelope)["conn"] == back["conn"]


def test_a_half_open_connection_is_noticed_within_10_s_with_the_defaults(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin) -> None:
    """No close frame, no reset: only the keepalive can tell. With the default settings
    (a ping every 3 s, 4 s for the pong, 1 s for the close) the bot gives the connection up
    within 10 s, has a new one within 2 s of that, and does not spin meanwhile."""
    socket_bot(make_bot, kube)
    assert slack.socket_connected(timeout=5)
    with structlog.testing.capture_logs() as logs:
        cpu0 = time.process_time()
        silenced = slack.socket_half_open()
        at = slack.wait_socket_event("half_open", silenced)["at"]
        back = wait_for(lambda: next((h for h in hellos(slack) if h["at"] > at), None),
                        "a new connection", timeout=12, interval=0.05)
        cpu = time.process_time() - cpu0
        # The stand-in records the hello as it sends it; the bot logs it a moment later.
        connected = wait_for(
            lambda: next((e for e in logs if e["event"] == "socket.connected"), None),
            "the bot's socket.connected", timeout=2, interval=0.02)
    assert back["at"] - at < 10.0, f"deaf for {back['at'] - at:.1f} s"
    closed = next(e for e in logs if e["event"] == "socket.closed")
    assert "no pong" in closed["why"]
    # From giving the connection up to the new one's hello (the runner measures it).
    assert connected["deaf_s"] < 2.0
    assert cpu < 0.25 * (back["at"] - at) + 0.5, f"{cpu:.2f} s of CPU while waiting"


def test_not_ready_from_detection_until_a_connection_is_back(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin) -> None:
    bot = socket_bot(make_bot, kube, **FAST)
    assert slack.socket_connected(timeout=5)
    assert probe(bot, "/readyz") == 200
    slack.refuse_connections_open("internal_error", n=3)  # about 1.5 s to reconnect
    silenced = slack.socket_half_open()
    at = slack.wait_socket_event("half_open", silenced)["at"]
    down = wait_for(lambda: probe(bot, "/readyz") == 503 and time.time(), "/readyz 503",
                    timeout=5, interval=0.02)
    assert down - at < 2.5  # a ping every 0.5 s, 0.5 s for the pong, 1 s for the close
    up = wait_for(lambda: probe(bot, "/readyz") == 200 and time.time(), "/readyz 200",
                  timeout=10, interval=0.02)
    back = hellos(slack)[-1]["at"]
    # Ready again with the hello, not before it (polled, so allow a loaded machine's lag).
    assert back - 0.05 <= up < back + 0.5
    assert probe(bot, "/healthz") == 200  # a restart would not help yet


def test_a_close_frame_without_warning_reconnects_at_once(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin) -> None:
    socket_bot(make_bot, kube)
    assert slack.socket_connected(timeout=5)
    closed = slack.socket_close(code=1001, reason="going away")
    at = slack.wait_socket_event("closed", closed)["at"]
    assert slack.socket_connected(timeout=2)
    assert hellos(slack)[-1]["at"] - at < 0.5


def test_reconnects_back_off_with_jitter_and_honour_rate_limits(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin) -> None:
    """The first retry is immediate; repeated failures wait 0.5, 1, 2 … s (±50%); a 429
    waits its Retry-After. Nothing spins meanwhile."""
    bot = socket_bot(make_bot, kube, **FAST)
    assert slack.socket_connected(timeout=5)
    slack.refuse_connections_open("internal_error", n=3)
    dropped = slack.socket_drop()
    t0 = slack.wait_socket_event("dropped", dropped)["at"]
    assert slack.socket_connected(timeout=10)
    opens = [c.at for c in slack.calls_to("apps.connections.open") if c.at >= t0]
    gaps = [b - a for a, b in itertools.pairwise(opens)]
    assert len(opens) == 4 and gaps[0] < 0.2  # refused, at once again, then backing off
    assert 0.2 <= gaps[1] <= 0.8 and 0.45 <= gaps[2] <= 1.6, gaps
    # The stand-in counts a hello as sent; the bot is ready once it has read it.
    wait_for(lambda: probe(bot, "/readyz") == 200, "/readyz 200", timeout=2, interval=0.02)

    slack.refuse_connections_open("ratelimited", n=1, retry_after=2)
    slack.refuse_connections_open("internal_error", n=1)
    dropped = slack.socket_drop()
    t0 = slack.wait_socket_event("dropped", dropped)["at"]
    assert slack.socket_connected(timeout=10)
    opens = [c.at for c in slack.calls_to("apps.connections.open") if c.at >= t0]
    assert len(opens) == 3  # ratelimited, refused, opened
    assert 1.9 <= opens[1] - opens[0] <= 2.5 and 0.2 <= opens[2] - opens[1] <= 0.8


def test_a_refused_app_token_is_one_line_at_start_up(
        slack: SlackStandin, kube: KubeStandin) -> None:
    slack.refuse_connections_open("invalid_auth")
    settings = bot_settings(slack, "http://127.0.0.1:1", kube.url, "socket")
    bot = Bot(settings)
    try:
        with pytest.raises(StartupError) as refused:
            bot.start()
    finally:
        bot.stop()
    message = str(refused.value)
    assert message.startswith("Slack refused the app token GENAI_SLACK__APP_TOKEN "
                              "(invalid_auth)")
    assert "\n" not in message and slack.app_token not in message


def test_liveness_fails_after_the_configured_time_without_a_connection(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin) -> None:
    """Readiness goes at once; liveness (a restart) only after slack.socket_liveness_s."""
    bot = socket_bot(make_bot, kube, socket_liveness_s=1.5, **FAST)
    assert slack.socket_connected(timeout=5)
    # Refused five times: 0 + 0.5 + 1 + 2 + 4 s (±50%) of backoff, over 1.5 s without fail.
    slack.refuse_connections_open("internal_error", n=5)
    slack.socket_drop()
    wait_for(lambda: probe(bot, "/readyz") == 503, "not ready", timeout=3)
    assert probe(bot, "/healthz") == 200
    dead = wait_for(lambda: (r := httpx.get(f"{bot.url}/healthz", timeout=2)).status_code == 503
                    and r.text, "/healthz to fail", timeout=5)
    assert "Socket Mode has had no connection for" in dead and "(limit 1.5 s)" in dead
    assert slack.socket_connected(timeout=15)
    wait_for(lambda: probe(bot, "/healthz") == 200, "/healthz to recover", timeout=3)


def test_replicas_hold_their_own_connections_and_a_retried_event_acts_once(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin, tmp_path: Path) -> None:
    """Two replicas on one database: Slack spreads envelopes over both connections and
    retries an unacked event on another; the channel listener opens one incident."""
    shared = {"database_url": f"sqlite:///{tmp_path / 'bot.db'}",
              "alerts": {"source": "channel"}}
    replicas = [make_bot("http://127.0.0.1:1", kube.url, mode="socket", **shared)
                for _ in range(2)]
    wait_for(lambda: len(slack.socket_connection_ids()) == 2, "two connections", timeout=5)
    conn_a, conn_b = slack.socket_connection_ids()
    hook = slack.new_incoming_webhook("#genai-warnings")
    post = json.loads(POSTS["defaults.GPUMemoryHigh.firing"]["body"])
    assert slack.post_to_webhook(hook, post) == 200
    channel = slack.channel_id("#genai-warnings")
    event = slack.message_event(slack.messages[channel][-1])
    sent = [slack.socket_send_event(event, event_id="Ev0RETRY", conn=conn_a),
            slack.socket_send_event(event, event_id="Ev0RETRY", retry_attempt=1, conn=conn_b)]
    acks = [slack.wait_socket_ack(e) for e in sent]
    assert [a["conn"] for a in acks] == [conn_a, conn_b]  # each replica took one
    store = replicas[0].runtime.store.incidents
    wait_for(lambda: store.open(), "the incident", timeout=5)
    time.sleep(1.0)
    assert len(store.open()) == 1
    cards = [m for m in slack.messages[channel] if "incident_ack" in json.dumps(m)]
    assert len(cards) == 1


def test_shutdown_acks_what_it_took_then_closes_with_a_close_frame(
        slack: SlackStandin, make_bot: BotFactory, kube: KubeStandin) -> None:
    bot = socket_bot(make_bot, kube)
    assert slack.socket_connected(timeout=5)
    conn = slack.socket_connection_ids()[0]
    sent = fire(slack, 20)
    with structlog.testing.capture_logs() as logs:
        bot.drain()
    closed = slack.wait_socket_event("closed", conn)
    assert (closed["by"], closed["code"]) == ("client", 1000)
    acks = {a["envelope_id"]: a for a in slack.socket_acks}
    # What the bot took is acked before the close; nothing after (Slack redelivers those).
    assert all(acks[e]["at"] <= closed["at"] for e in sent if e in acks)
    steps = [e["event"] for e in logs if e["event"].startswith(("shutdown.", "socket."))]
    assert steps[0] == "shutdown.not_ready"
    assert steps.index("socket.closing") < steps.index("shutdown.socket_closed")
    assert steps[-3:] == ["shutdown.jobs_done", "shutdown.outbox_released", "shutdown.done"]
    time.sleep(0.5)
    assert slack.socket_connection_ids() == [], "no reconnect after shutdown"
