"""`make demo`'s scripted tour, run as a user runs it: it must reach its end with the alerts,
the diagnosis and the drill it promises, without a traceback, and read as a person reads
Slack: no raw mrkdwn, each edit of an alert as the few lines that changed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.harness.procs import require_binary

ROOT = Path(__file__).resolve().parent.parent
# Slack markup the terminal must never show (the view turns it into text and styling).
RAW_MARKUP = (":red_circle:", ":white_check_mark:", ":warning:", ":grey_question:",
              ":information_source:", ":hourglass_flowing_sand:", ":no_entry:", "&amp;",
              "&lt;", "&gt;", "\u200b", "```", "<@U", "|Prometheus>", "|Runbook>")
BOLD = re.compile(r"(?<![\w*])\*[A-Za-z][^*\n]*\*(?!\w)")
ITALIC = re.compile(r"(?<!\w)_[A-Z][^_\n]*_(?!\w)")


def _block(out: str, title: str) -> list[str]:
    """The framed message whose header line starts with `title`, up to its closing line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"╭─ {title}"))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("╰─"))
    return lines[start : end + 1]


def test_demo_tour_runs_end_to_end() -> None:
    require_binary("prometheus", "the demo runs the real Prometheus")
    require_binary(["prometheus-alertmanager", "alertmanager"], "the demo routes through it")
    done = subprocess.run([sys.executable, "-m", "tests.demo"], cwd=ROOT, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=240)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    for expected in (
        "alert #1 posted in #genai-",                      # Prometheus -> Alertmanager -> bot
        "👀 Acknowledged by @U0ONCALL",                     # a button click edits the alert
        "diag oom: inference/vllm-llama-2-7b-1",            # Run diagnostics and /genai diag
        "CUDA out of memory",
        "GPUs: riskiest first",
        "posted in #genai-gameday",                        # the drill briefing
        "[DRILL]",                                         # the injected alert, round trip
        "Time to acknowledge (TTA)",                       # the drill report
        "Game Day scoreboard",
        "Unknown subcommand 'frobnicate'",
        "Demo tour done.",
    ):
        assert expected in out, f"{expected!r} missing from the demo's output:\n{out[-3000:]}"

    # Read as text: emoji, styling and links, not Slack's markup; no colour off a terminal.
    for raw in RAW_MARKUP:
        assert raw not in out, f"raw {raw!r} in the demo's output"
    for pattern in (BOLD, ITALIC):
        found = pattern.search(out)
        assert found is None, f"raw mrkdwn {found.group(0)!r} in the demo's output"
    assert "\x1b[" not in out
    assert "🔴 GPU nodes Ready  2/3 Ready  (threshold all Ready)" in out
    assert "[Acknowledge] [Silence… ▾] [Run diagnostics] [Resolve]" in out

    # The start-up is a short summary, not a flood.
    head = out.split("\n╭─", 1)[0].strip().splitlines()
    assert len(head) <= 12, "\n".join(head)
    assert any(line.split()[:1] == ["prometheus"] for line in head), "\n".join(head)

    # Acknowledging alert #1 shows what changed, not the card again.
    edit = _block(out, "alert #1 edited in #genai-")
    assert len(edit) <= 8, "\n".join(edit)
    assert any(line.startswith("│ + 👀 Acknowledged by @U0ONCALL after") for line in edit), edit
    assert "│ - [Acknowledge] [Silence… ▾] [Run diagnostics] [Resolve]" in edit
    assert "│ + [Silence… ▾] [Run diagnostics] [Resolve]" in edit
    # The card itself was shown once, in full, with the commands that click its buttons.
    posted = _block(out, "alert #1 posted in #genai-")
    assert len(posted) > 15, "\n".join(posted)
    assert posted[-1].startswith("╰─ type: ack 1 · silence 1 1h|4h|24h · diag 1 · resolve 1")
