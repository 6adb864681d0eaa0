"""Storm: 1,000 new alert groups sent in a burst across the three severities (so the
critical, warning and default channels each take a third), to the real `/alertmanager` route
of a bot in its own process, posting to the Slack stand-in at Slack's pace (one message a
second per channel, the default).

Measured: the seconds until Slack accounts for every incident (each one visible as its own
post, or counted in its channel's storm digest), from the last notification's 200; how many
messages (posts, thread replies included) and edits that took; and how many were lost
(answered 200 but never accounted for, which must be 0). The same run with the digest off
(threshold 0) is the baseline.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.bench.intake import TOKEN, post_all
from tests.harness.alerts import node_notification
from tests.harness.bots import http_bot_env
from tests.harness.procs import free_port
from tests.harness.slack import SlackStandin

GROUPS = int(os.environ.get("GENAI_BENCH_STORM_GROUPS", "1000"))
# The baseline posts every group and its runbook at one message a second per channel.
BASELINE_TIMEOUT_S = float(os.environ.get("GENAI_BENCH_STORM_BASELINE_TIMEOUT_S", "1200"))
SEVERITIES = (("critical", "InferenceErrorRateHigh"), ("warning", "GPUMemoryHigh"),
              ("info", "GPUUnderutilized"))  # info goes to the default channel
CHANNELS = ("#genai-critical", "#genai-warnings", "#genai-alerts")
_COUNTED = re.compile(r"(\d+) new incidents?")


def notification(i: int) -> bytes:
    severity, alertname = SEVERITIES[i % len(SEVERITIES)]
    return node_notification(i, alertname, severity)


def _key(msg: dict[str, Any]) -> str:
    return str(((msg.get("metadata") or {}).get("event_payload") or {}).get("key", ""))


def accounted(slack: SlackStandin, channels: list[str]) -> int:
    """Incidents Slack shows: a top-level post each, plus what the digests count."""
    total = 0
    for channel in channels:
        for msg in list(slack.messages.get(channel, [])):
            if msg.get("thread_ts") not in (None, msg["ts"]):
                continue
            key = _key(msg)
            if key.startswith("incident:") and key.endswith(":post"):
                total += 1
            elif key.startswith("digest:"):
                found = _COUNTED.search(str(msg.get("text") or ""))
                total += int(found.group(1)) if found else 0
    return total


@dataclass
class Result:
    sent_s: float  # first notification to the last 200
    accounted_s: float | None  # last 200 to every incident accounted for in Slack
    posts: int  # chat.postMessage calls until then (thread replies included)
    edits: int
    posts_total: int  # once the outbox is empty (the runbooks that waited, say)
    edits_total: int
    stored: int
    failed: int
    lost: int | None  # None: not everything arrived before the timeout


def _serve(slack: SlackStandin, db: Path, port: int, threshold: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **http_bot_env(slack, port),
           "GENAI_WEBHOOK_TOKEN": TOKEN, "GENAI_DATABASE_URL": f"sqlite:///{db}",
           "GENAI_ALERTS__DIGEST_THRESHOLD": str(threshold), "GENAI_LOG_LEVEL": "error"}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the bot did not become ready")


def _outbox(db: Path) -> tuple[int, int]:
    """(incidents stored, outbox rows not yet delivered), read straight from the file."""
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM incidents").fetchone()[0]
        waiting = conn.execute("SELECT count(*) FROM outbox WHERE state IN "
                               "('pending', 'sending')").fetchone()[0]
    return int(stored), int(waiting)


def storm(threshold: int, timeout_s: float) -> Result:
    with SlackStandin() as slack:
        slack.delivery_timeout = 120
        db = Path(tempfile.mkdtemp(prefix="genai-bench-storm-")) / "bot.db"
        port = free_port()
        proc = _serve(slack, db, port, threshold)
        try:
            channels = [slack.channel_id(c) for c in CHANNELS]
            warm = slack.send_slash_command(f"http://127.0.0.1:{port}/slack/events", "help")
            assert warm.status_code == 200, warm.text
            slack.wait_for(lambda c: c.method == "response_url", timeout=30)
            slack.calls.clear()
            sent_s, _, failed = post_all(f"http://127.0.0.1:{port}/alertmanager",
                                        [notification(i) for i in range(GROUPS)])
            last = time.perf_counter()
            accounted_s = None
            while time.perf_counter() - last < timeout_s:
                if accounted(slack, channels) >= GROUPS - failed:
                    accounted_s = time.perf_counter() - last
                    break
                time.sleep(0.05)
            posts, edits = (len(slack.calls_to(m, ok=True))
                            for m in ("chat.postMessage", "chat.update"))
            deadline = time.monotonic() + (120 if accounted_s is not None else 0)
            while time.monotonic() < deadline and _outbox(db)[1]:
                time.sleep(0.5)
            stored, _ = _outbox(db)
            lost = (GROUPS - failed) - min(accounted(slack, channels), stored) \
                if accounted_s is not None else None
            return Result(sent_s, accounted_s, posts, edits,
                          len(slack.calls_to("chat.postMessage", ok=True)),
                          len(slack.calls_to("chat.update", ok=True)), stored, failed, lost)
        finally:
            proc.terminate()
            proc.wait(10)


HEADER = ["setup", "groups", "burst s", "all accounted s after the last notification",
          "messages until then", "edits until then", "messages / edits in all", "lost"]


def _row(name: str, r: Result, timeout_s: float) -> list[object]:
    took = f"{r.accounted_s:.1f}" if r.accounted_s is not None else f"> {timeout_s:.0f}"
    return [name, GROUPS, f"{r.sent_s:.1f}", took, r.posts, r.edits,
            f"{r.posts_total} / {r.edits_total}",
            f"{'-' if r.lost is None else r.lost} (+{r.failed} non-200)"]


def run(log: Callable[[str], None] = print) -> tuple[list[str], list[list[object]]]:
    rows: list[list[object]] = []
    for name, threshold, timeout_s in (("digest on (10 a minute, the default)", 10, 120.0),
                                       ("digest off (baseline)", 0, BASELINE_TIMEOUT_S)):
        log(f"storm: {name}, {GROUPS} new groups in a burst")
        rows.append(_row(name, storm(threshold, timeout_s), timeout_s))
    return HEADER, rows
