"""One log stream, on the real process: with GENAI_LOG_FORMAT=json every line `genai-bot run`
writes to stderr is JSON, whoever wrote it (ours, slack_sdk, uvicorn's access and error
logs, alembic, Python warnings, a thread that crashed), and none carries a secret."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.harness.alerts import notification
from tests.harness.procs import free_port, wait_for
from tests.harness.slack import SlackStandin

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_TOKEN = "hook-secret-3f9a"

# Loaded by the bot's interpreter (PYTHONPATH): once the test says go, a warning and a crash
# in a thread of the running bot, the two kinds of line that bypass logging by default.
SITECUSTOMIZE = """\
import os, threading, time, warnings

def _later():
    go = os.environ["GENAI_TEST_GO"]
    while not os.path.exists(go):
        time.sleep(0.05)
    warnings.warn("a library's warning at run time", UserWarning)
    raise RuntimeError("a thread that crashed")

threading.Thread(target=_later, name="crasher", daemon=True).start()
"""


def test_every_line_the_running_bot_writes_is_json(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    go, port = tmp_path / "go", free_port()
    with SlackStandin() as slack:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("GENAI_")},
               "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}",
               "GENAI_TEST_GO": str(go),
               "GENAI_SLACK__MODE": "socket", "GENAI_SLACK__BOT_TOKEN": slack.bot_token,
               "GENAI_SLACK__APP_TOKEN": slack.app_token,
               "GENAI_SLACK__API_BASE_URL": slack.api_url,
               "GENAI_HTTP__HOST": "127.0.0.1", "GENAI_HTTP__PORT": str(port),
               "GENAI_HTTP__ACCESS_LOG": "true", "GENAI_HTTP__DRAIN_DELAY_S": "0.2",
               "GENAI_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
               "GENAI_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
               "GENAI_PROMETHEUS__URL": f"http://127.0.0.1:{free_port()}",
               "GENAI_LOG_FORMAT": "json", "GENAI_LOG_LEVEL": "debug"}
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: _ready(base), "the bot to be ready", timeout=30)
            hook = httpx.post(f"{base}/alertmanager", json=notification(), timeout=10,
                              headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
            assert hook.status_code == 200
            envelope = slack.socket_send_slash_command("help")
            assert slack.wait_socket_ack(envelope)
            go.touch()
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr[-2000:]
    plain = []
    events = []
    for line in stderr.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            plain.append(line)
    assert plain == [], "lines that are not JSON:\n" + "\n".join(plain[:20])
    loggers = {e.get("logger", "") for e in events}
    for expected in ("py.warnings", "bot.crash", "uvicorn.access", "uvicorn.error",
                     "alembic.runtime.migration"):
        assert expected in loggers, (expected, sorted(loggers))
    assert any(name.startswith("slack_") for name in loggers), sorted(loggers)
    assert any(name.startswith("bot.") for name in loggers)
    crash = next(e for e in events if e.get("logger") == "bot.crash")
    assert "thread crasher crashed" in crash["event"]
    assert "RuntimeError: a thread that crashed" in crash["exception"]
    warning = next(e for e in events if e.get("logger") == "py.warnings")
    assert "UserWarning: a library's warning at run time" in warning["event"]
    assert any(e["event"] == "shutdown.done" for e in events)
    assert all({"level", "timestamp", "event"} <= set(e) for e in events)
    for secret in (slack.bot_token, slack.app_token, WEBHOOK_TOKEN):
        assert secret not in stderr


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
