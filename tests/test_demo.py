"""`make demo`'s scripted tour, run as a user runs it: it must reach its end with the alerts,
the diagnosis and the drill it promises, and without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness.procs import require_binary

ROOT = Path(__file__).resolve().parent.parent


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
