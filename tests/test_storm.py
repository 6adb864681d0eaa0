"""Nothing is lost and nothing is posted twice: the bot is SIGKILLed in the middle of a storm
of 1,000 alert groups, then restarted on the same database. Alertmanager retries whatever
did not get a 200, as the real one does. Every group is posted exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.harness.alerts import node_notification as notification
from tests.harness.bots import http_bot_env
from tests.harness.procs import free_port
from tests.harness.slack import SlackStandin

GROUPS = 600
TOKEN = "storm-token"


def start_bot(slack: SlackStandin, db: Path, port: int, log: IO[str] | None = None,
              drain_delay_s: float = 0.2, lease_s: float = 30.0) -> subprocess.Popen[bytes]:
    env = {**os.environ, **http_bot_env(slack, port),
           "GENAI_WEBHOOK_TOKEN": TOKEN, "GENAI_DATABASE_URL": f"sqlite:///{db}",
           "GENAI_ALERTS__CHANNEL_INTERVAL_S": "0.002",
           # Every group posted alone is what these tests count: no storm digest.
           "GENAI_ALERTS__DIGEST_THRESHOLD": "0",
           "GENAI_LOG_LEVEL": "info" if log else "warning", "GENAI_LOG_FORMAT": "json",
           "GENAI_HTTP__DRAIN_DELAY_S": str(drain_delay_s),
           "GENAI_ALERTS__OUTBOX_LEASE_S": str(lease_s)}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the bot did not become ready")


def test_sigkill_mid_storm_loses_nothing_and_posts_once(tmp_path: Path) -> None:
    db, port = tmp_path / "bot.db", free_port()
    url = f"http://127.0.0.1:{port}/alertmanager"
    pending = list(range(GROUPS))
    lock = threading.Lock()
    stored: set[int] = set()

    def send_all(stop_after: int | None) -> None:
        """Post until everything got a 200 (or, with stop_after, until that many did)."""
        def worker() -> None:
            with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                while True:
                    with lock:
                        if not pending or (stop_after is not None and len(stored) >= stop_after):
                            return
                        i = pending.pop()
                    try:
                        ok = c.post(url, content=notification(i)).status_code == 200
                    except httpx.TransportError:
                        ok = False
                    with lock:
                        (stored.add(i) if ok else pending.append(i))
                    if not ok:
                        return  # the bot is gone; Alertmanager would retry later
        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    with SlackStandin() as slack:
        bot = start_bot(slack, db, port)
        killer = threading.Thread(target=lambda: (
            _wait_until(lambda: len(stored) >= 200), bot.send_signal(signal.SIGKILL)))
        killer.start()
        send_all(stop_after=None)  # runs into the kill
        killer.join()
        bot.wait(10)
        assert 200 <= len(stored) < GROUPS, "the kill must land mid-storm"
        posted_before_restart = len(_posts(slack))
        bot = start_bot(slack, db, port)
        try:
            send_all(stop_after=None)  # Alertmanager's retries, after the restart
            assert len(stored) == GROUPS
            _wait_until(lambda: len(_posts(slack)) >= GROUPS, timeout=120)
            time.sleep(1)  # anything extra would show up now
            posts = _posts(slack)
        finally:
            bot.terminate()
            bot.wait(10)
    per_group = Counter(posts)
    assert len(per_group) == GROUPS
    assert per_group.most_common(1)[0][1] == 1, per_group.most_common(3)
    assert posted_before_restart < GROUPS  # the restart really had work to resume


def test_sigkill_while_a_post_is_in_flight_posts_it_once(tmp_path: Path) -> None:
    """Slack has stored the post but its answer has not come back when the bot is killed.
    The restarted bot takes the row over once the dead worker's claim expires, finds the
    post by its metadata key and adopts it: one post, not two. (Turn the lookup off and
    this test sees the group posted twice.)"""
    db, port, log_path = tmp_path / "bot.db", free_port(), tmp_path / "bot.log"
    hook = f"http://127.0.0.1:{port}/alertmanager"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with SlackStandin() as slack, log_path.open("w") as log:
        slack.hold_next_response("chat.postMessage")
        bot = start_bot(slack, db, port, log=log, lease_s=3)
        try:
            assert httpx.post(hook, content=notification(7), headers=auth).status_code == 200
            slack.wait_held(1, timeout=15)
            bot.send_signal(signal.SIGKILL)
            bot.wait(10)
        finally:
            slack.release_held()
        assert _posts(slack) == ["gpu-node-7"]  # in Slack; the bot never heard back
        bot = start_bot(slack, db, port, log=log, lease_s=3)
        try:
            assert httpx.post(hook, content=notification(8), headers=auth).status_code == 200
            _wait_until(lambda: len(_posts(slack)) >= 2, timeout=15)
            _wait_until(lambda: '"outbox.adopted"' in log_path.read_text()
                        or Counter(_posts(slack))["gpu-node-7"] > 1, timeout=30)
            time.sleep(1.0)  # a second post of group 7 would show up now
        finally:
            bot.terminate()
            bot.wait(10)
    assert Counter(_posts(slack)) == {"gpu-node-7": 1, "gpu-node-8": 1}
    assert '"outbox.adopted"' in log_path.read_text()


def _posts(slack: SlackStandin) -> list[str]:
    """One entry per top-level alert message, named by its group (node label)."""
    out = []
    for msgs in list(slack.messages.values()):
        for m in list(msgs):
            if m.get("bot_id") != slack.bot_id or m.get("thread_ts") not in (None, m["ts"]):
                continue
            text = json.dumps(m.get("attachments") or m.get("blocks") or [])
            node = text.split("gpu-node-", 1)
            if len(node) == 2:
                out.append("gpu-node-" + "".join(ch for ch in node[1][:6] if ch.isdigit()))
    return out


def _wait_until(predicate: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail("timed out")


def test_sigterm_mid_storm_drains_and_loses_nothing(tmp_path: Path) -> None:
    """SIGTERM in the middle of a storm: /readyz says 503 at once while the bot still takes
    notifications, every notification answered 200 is posted, the process ends on its own
    well inside the pod's 30 s grace, each step logged; after a restart (and Alertmanager's
    retries of what it refused) every group is posted exactly once."""
    db, port = tmp_path / "bot.db", free_port()
    url = f"http://127.0.0.1:{port}/alertmanager"
    groups = 500
    pending, stored, lock = list(range(groups)), set(), threading.Lock()
    log_path = tmp_path / "bot.log"

    def send_all() -> None:
        def worker() -> None:
            with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                while True:
                    with lock:
                        if not pending:
                            return
                        i = pending.pop()
                    try:
                        ok = c.post(url, content=notification(i)).status_code == 200
                    except httpx.TransportError:
                        ok = False
                    with lock:
                        (stored.add(i) if ok else pending.append(i))
                    if not ok:
                        return
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    with SlackStandin() as slack:
        with log_path.open("w") as log:
            bot = start_bot(slack, db, port, log=log, drain_delay_s=0.5)
            readiness: list[int] = []

            def terminate() -> None:
                _wait_until(lambda: len(stored) >= 100)
                bot.send_signal(signal.SIGTERM)
                readiness.append(httpx.get(f"http://127.0.0.1:{port}/readyz").status_code)

            killer = threading.Thread(target=terminate)
            killer.start()
            started = time.monotonic()
            send_all()
            killer.join()
            code = bot.wait(30)
            took = time.monotonic() - started
        assert code == 0 and readiness == [503], (code, readiness)
        assert took < 30
        steps = [json.loads(line)["event"] for line in log_path.read_text().splitlines()
                 if line.startswith("{") and "shutdown." in line]
        assert steps == ["shutdown.not_ready", "shutdown.http_closed", "shutdown.jobs_done",
                         "shutdown.outbox_released", "shutdown.done"], steps
        assert 100 <= len(stored) < groups, "SIGTERM must land mid-storm"
        bot = start_bot(slack, db, port)
        try:
            send_all()  # Alertmanager's retries of what was refused
            assert len(stored) == groups
            _wait_until(lambda: len(_posts(slack)) >= groups, timeout=120)
            time.sleep(1)
            posts = _posts(slack)
        finally:
            bot.terminate()
            bot.wait(30)
    per_group = Counter(posts)
    assert len(per_group) == groups and per_group.most_common(1)[0][1] == 1
