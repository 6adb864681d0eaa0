"""The real `genai-bot` process from a shell: a start-up that cannot work ends in one line and
exit 2 (never a traceback), and `ask` is a quiet, read-only report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.harness.pg import head_revision
from tests.harness.procs import free_port
from tests.harness.slack import SlackStandin

ROOT = Path(__file__).resolve().parent.parent


def genai_bot(args: list[str], env: dict[str, str], cwd: Path,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GENAI_")}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd, text=True,
                          capture_output=True, env={**clean, **env}, timeout=timeout)


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"GENAI_SLACK__MODE": "http", "GENAI_SLACK__BOT_TOKEN": "xoxb-1-abcdef",
            "GENAI_SLACK__SIGNING_SECRET": "s3cret", "GENAI_HTTP__HOST": "127.0.0.1",
            "GENAI_HTTP__PORT": str(free_port()), "GENAI_LOG_FORMAT": "json",
            "GENAI_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", **extra}


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    """The one failure line, exit 2, no traceback. The logs are JSON here, so the line is a
    JSON line too (level critical), like every other line on stderr."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    events = [json.loads(line) for line in done.stderr.strip().splitlines()]
    critical = [e["event"] for e in events if e["level"] == "critical"]
    assert len(critical) == 1, done.stderr
    return str(critical[0])


def test_run_with_slack_unreachable_says_so_in_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/"
    done = genai_bot(["run"], run_env(tmp_path, GENAI_SLACK__API_BASE_URL=url), tmp_path)
    line = one_line_failure(done)
    assert line.startswith(f"genai-bot cannot start: cannot reach Slack at {url}")


def test_run_with_a_revoked_token_says_so_in_one_line(tmp_path: Path) -> None:
    with SlackStandin() as slack:
        slack.revoke(slack.bot_token)
        env = run_env(tmp_path, GENAI_SLACK__API_BASE_URL=slack.api_url,
                      GENAI_SLACK__BOT_TOKEN=slack.bot_token)
        done = genai_bot(["run"], env, tmp_path)
    line = one_line_failure(done)
    assert "Slack refused the bot token GENAI_SLACK__BOT_TOKEN (token_revoked)" in line
    assert "reinstall the app" in line
    assert slack.bot_token not in done.stderr + done.stdout


def test_run_with_the_database_unreachable_says_so_in_one_line(tmp_path: Path) -> None:
    db = f"postgresql+psycopg://genai:hunter2@127.0.0.1:{free_port()}/genai"
    done = genai_bot(["run"], run_env(tmp_path, GENAI_DATABASE_URL=db), tmp_path)
    line = one_line_failure(done)
    assert line.startswith("genai-bot cannot start: cannot open the database "
                           "postgresql+psycopg://genai:")
    assert "hunter2" not in done.stderr


def test_migration_lines_go_through_the_json_log(tmp_path: Path) -> None:
    """Alembic's own log lines are JSON like the rest (they used to be plain text)."""
    url = f"http://127.0.0.1:{free_port()}/api/"
    done = genai_bot(["run"], run_env(tmp_path, GENAI_SLACK__API_BASE_URL=url), tmp_path)
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    migration = [e for e in events if e.get("logger", "").startswith("alembic")]
    assert migration and any(f"-> {head_revision()}" in e["event"] for e in migration)


def test_ask_is_quiet_read_only_and_exits_by_outcome(tmp_path: Path) -> None:
    env = {"GENAI_PROMETHEUS__URL": f"http://127.0.0.1:{free_port()}",
           "GENAI_KUBERNETES__MODE": "url", "GENAI_KUBERNETES__URL":
               f"http://127.0.0.1:{free_port()}"}
    done = genai_bot(["ask", "status"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Daily checklist")
    assert "unknown" in done.stdout and "cannot connect" in done.stdout
    assert done.stderr == ""  # no urllib3 "Retrying…" lines, nothing at all
    assert list(tmp_path.iterdir()) == []  # no genai-bot.db for a read-only report
    alerts = genai_bot(["ask", "alerts"], env, tmp_path)
    assert alerts.returncode == 2 and "without a database" in alerts.stderr
    bogus = genai_bot(["ask", "bogus"], env, tmp_path)
    assert bogus.returncode == 2 and bogus.stdout == ""
    assert "Unknown subcommand 'bogus'" in bogus.stderr and "Usage: /genai" in bogus.stderr
