"""Socket Mode clients side by side, each in its own process against the Slack stand-in
(which pings every 10 s, as Slack does), all serving the same Bolt listener:

- quiet: 200 commands one after another (the ack tail, where Nagle's algorithm shows);
- refresh: 10 refreshes (``disconnect`` then a close frame 2 s later), each met by 50
  concurrent commands; acks counted and timed (Slack gives up after 3 s);
- drop: the TCP connection reset without a close frame; seconds until a new hello;
- half-open: the connection goes silent with both sockets open; seconds until a new
  hello (given up after 90 s), and the client's CPU meanwhile (a busy loop shows here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bench.table import percentile
from tests.harness.slack import SlackStandin

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ("ours", "ours-nagle", "sdk-builtin", "sdk-websocket-client", "sdk-aiohttp",
           "sdk-websockets")
QUIET_N, REFRESHES, BURST = 200, 10, 50
DEAF_CAP_S = 90.0
SLACK_DEADLINE_S = 3.0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    value = max(values) if q >= 100 else percentile(sorted(values), q)
    return f"{value * 1000:.1f}"


def _acks(slack: SlackStandin, envelopes: list[str], timeout: float) -> list[float]:
    """Latencies of the acks that came; a missing one counts as lost."""
    deadline = time.monotonic() + timeout
    got: list[float] = []
    for envelope in filter(None, envelopes):
        try:
            got.append(slack.wait_socket_ack(envelope, max(0.0, deadline - time.monotonic()))
                       ["latency"])
        except AssertionError:
            continue
    return got


def _burst(slack: SlackStandin) -> list[str]:
    ids: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(BURST)

    def one() -> None:
        barrier.wait()
        try:
            envelope = slack.socket_send_slash_command("help")
        except AssertionError:  # no connection to send it on for 5 s: lost
            envelope = ""
        with lock:
            ids.append(envelope)

    threads = [threading.Thread(target=one) for _ in range(BURST)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


def _deaf(slack: SlackStandin, pid: int, fault: Callable[[str], str]) -> tuple[str, str]:
    """Break the newest connection; seconds until a new hello, and CPU seconds used."""
    newest = slack.socket_connection_ids()[-1]
    seen = len([e for e in slack.socket_events if e["event"] == "hello"])
    cpu0, t0 = _cpu_s(pid), time.time()
    fault(newest)
    deadline = time.monotonic() + DEAF_CAP_S
    while time.monotonic() < deadline:
        hellos = [e for e in slack.socket_events if e["event"] == "hello"]
        if len(hellos) > seen:
            return f"{hellos[-1]['at'] - t0:.2f}", f"{_cpu_s(pid) - cpu0:.2f}"
        time.sleep(0.02)
    return f"> {DEAF_CAP_S:.0f}", f"{_cpu_s(pid) - cpu0:.2f}"


def _measure(kind: str) -> list[Any]:
    with SlackStandin() as slack:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.socket_client", kind, slack.api_url,
             slack.app_token, slack.bot_token],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not slack.socket_connected(timeout=20):
                return [kind, "did not connect", *["-"] * 9]
            for _ in range(5):  # warm up
                slack.wait_socket_ack(slack.socket_send_slash_command("help"))
            quiet = _acks(slack, [_one(slack) for _ in range(QUIET_N)], 10)
            sent: list[str] = []
            for _ in range(REFRESHES):
                slack.socket_refresh(slack.socket_connection_ids()[-1], close_after_s=2.0)
                sent += _burst(slack)
                slack.socket_connected(timeout=15)
            busy = _acks(slack, sent, 15)
            late = sum(1 for v in busy if v > SLACK_DEADLINE_S) + len(sent) - len(busy)
            time.sleep(2.5)  # the last refreshed connection closes
            if kind == "ours-nagle":
                drop = half = ("-", "-")
            else:
                drop = _deaf(slack, proc.pid, slack.socket_drop)
                half = _deaf(slack, proc.pid, slack.socket_half_open)
            return [kind, _ms(quiet, 50), _ms(quiet, 99), _ms(quiet, 100),
                    f"{len(sent) - late}/{len(sent)}", _ms(busy, 50), _ms(busy, 99),
                    _ms(busy, 100), drop[0], half[0], half[1]]
        finally:
            proc.kill()
            proc.wait(10)


def _one(slack: SlackStandin) -> str:
    envelope = slack.socket_send_slash_command("help")
    slack.wait_socket_ack(envelope)
    return envelope


def run() -> tuple[list[str], list[list[Any]]]:
    header = ["client", "quiet p50 ms", "p99", "max", "refresh: acked < 3 s", "p50 ms",
              "p99", "max", "drop: deaf s", "half-open: deaf s", "CPU s meanwhile"]
    wanted = os.environ.get("GENAI_BENCH_SOCKET_CLIENTS")
    kinds = wanted.split(",") if wanted else CLIENTS
    return header, [_measure(kind) for kind in kinds]
