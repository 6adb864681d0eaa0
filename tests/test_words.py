"""Counted nouns and articles: the helpers, and real reports that once said "1 lines",
"1 participants", "Last 1 drills" or "You are a admin"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bot.config import KubernetesSettings, load_settings
from bot.gameday.report import DrillSummary
from bot.gameday.timings import Milestone, Timings
from bot.render.text import render_text
from bot.report import Status
from bot.roles import Role
from bot.sources.kubernetes import KubernetesSource
from bot.sources.prometheus import PrometheusSource
from bot.words import article, noun, plural
from commands import gameday
from commands.base import Context
from commands.diag import common, oom
from commands.registry import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
# The modules whose phrases were switched to bot.words (see the task's ownership list).
OWNED = ["commands/cost", "commands/weekly.py", "commands/gpu.py", "commands/logs.py",
         "commands/status.py", "commands/diag", "commands/help.py", "commands/gameday.py",
         "bot/gameday/report.py"]


def _context(role: Role = Role.VIEWER) -> Context:
    return Context(settings=load_settings(), prometheus=PrometheusSource("http://127.0.0.1:1"),
                   kubernetes=KubernetesSource(KubernetesSettings()), role=role)


@pytest.mark.parametrize(("n", "expected"), [(0, "0 lines"), (1, "1 line"), (2, "2 lines"),
                                             (1000, "1000 lines")])
def test_plural_counts_the_noun(n: int, expected: str) -> None:
    assert plural(n, "line") == expected


def test_irregular_plurals_are_given_not_guessed() -> None:
    assert plural(1, "replica", "replicas") == "1 replica"
    assert plural(3, "query", "queries") == "3 queries"
    assert plural(2, "was", "were") == "2 were"
    assert noun(1, "GPU") == "GPU" and noun(8, "GPU") == "GPUs"
    assert plural(2, "NodeClaim") == "2 NodeClaims"


def test_article_and_roles() -> None:
    assert article("admin") == "an admin" and article("viewer") == "a viewer"
    assert [r.with_article for r in Role] == ["a viewer", "a responder", "an admin"]


def test_help_says_an_admin() -> None:
    report = COMMANDS["help"].run(_context(Role.ADMIN), [])
    assert report.footer == "You are an admin."
    assert COMMANDS["help"].run(_context(Role.RESPONDER), []).footer == "You are a responder."


def _one_drill_board() -> Any:
    """The scoreboard's view of the service: one ended drill run by one person."""
    start = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    drill = SimpleNamespace(public_id="GD-1", scenario="gpu-oom", status="ended",
                            started_at=start, action_items=[])

    def at(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    timings = Timings(start, [
        Milestone("detect", "Time to detect (TTD)", at(0.5), None, 2),
        Milestone("ack", "Time to acknowledge (TTA)", at(1.5), "U0ADMIN", 5),
        Milestone("diagnose", "Time to diagnosis", at(4), "U0ADMIN", 15),
        Milestone("resolve", "Time to resolve (TTR)", at(20), "U0ADMIN", 30),
    ])
    summary = DrillSummary(cast(Any, drill), None, [], None, timings, ["U0ADMIN"])
    drills = SimpleNamespace(recent=lambda n: [drill], running=lambda: None)
    return SimpleNamespace(drills=drills, summary=lambda d: summary)


def test_scoreboard_with_one_drill_is_singular() -> None:
    report = gameday._score(_one_drill_board())
    text = render_text(report)
    assert report.summary == "Last drill: TTA 1m 30s, TTR 20m 00s"
    assert "Last 1 drills" not in text and "median" not in report.summary
    [row] = report.rows
    assert row.status is Status.OK and row.detail == "4/4 targets met, 1 participant"
    assert "1 participants" not in text


def test_diag_report_with_one_log_line_is_singular() -> None:
    found = common.Findings()
    log = "INFO loading\nRuntimeError: CUDA error: out of memory\n"
    oom.check_logs(found, common.Got(log), common.Got(None), 1)
    report = common.report("oom", "inference/llama-70b-0", found,
                           f"logs: last {plural(1, 'line')}")
    text = render_text(report)
    cuda = next(r for r in report.rows if r.check == "CUDA OOM in logs")
    assert cuda.status is Status.FAIL and cuda.value == "1 line"
    assert "1 lines" not in text and "last 1 line" in text


def test_no_counted_noun_hacks_left_in_the_owned_modules() -> None:
    """"zone(s)", "you are a {role}" and friends: each such phrase now goes through
    bot.words, so a new one shows up here."""
    hacks = re.compile(r"\}[\w -]*\w\(s\)|are a \{")  # f"{n} zone(s)", f"you are a {role}"
    found = []
    for entry in OWNED:
        path = ROOT / entry
        for module in sorted([path] if path.is_file() else path.glob("*.py")):
            for n, line in enumerate(module.read_text().splitlines(), start=1):
                if hacks.search(line) and not line.lstrip().startswith("#"):
                    found.append(f"{module.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)
