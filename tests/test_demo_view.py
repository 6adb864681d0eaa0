"""The demo's terminal view (`tests/demo_view.py`), fed what the bot's own renderers produce:
an alert card (`bot.slack.render.card`), a Report (`bot.slack.render.report`), and the edit
a click makes. What a person reads must carry no Slack markup, an edit must show only what
changed, and colour must stay off the wire when stdout is not a terminal."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import select
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.view import AlertItem, AlertView
from bot.report import Action, Report, Row, Section, Status
from bot.runbooks import Runbook, Step
from bot.slack.render import card
from bot.slack.render.mrkdwn import escape
from bot.slack.render.report import report_message
from commands.registry import COMMANDS
from tests.demo_view import (
    ZWSP,
    Completer,
    Console,
    Feed,
    View,
    cells,
    diff_lines,
    history_path,
    line_editor,
    mrkdwn_lines,
    plain_text,
    startup_summary,
    typeahead_held,
    usage_words,
    wants_color,
)

NOW = datetime(2026, 11, 28, 10, 12, tzinfo=UTC)
OPENED = NOW - timedelta(minutes=12)
PROM = "http://prometheus.monitoring:9090/graph?g0.expr=DCGM_FI_DEV_FB_USED+%3E+0.9&g0.tab=1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Slack markup that must never reach the terminal: shortcodes, bold/italic markers around a
# word, entities, the bot's zero-width spaces, code fences, <link|label> and <@U…>.
RAW = {
    "shortcode": re.compile(r":(red_circle|white_check_mark|warning|grey_question|"
                            r"information_source|hourglass_flowing_sand|no_entry|eyes):"),
    "bold": re.compile(r"(?<![\w*])\*[A-Za-z][^*\n]*\*(?!\w)"),
    "italic": re.compile(r"(?<!\w)_[A-Z][^_\n]*_(?!\w)"),
    "entity": re.compile(r"&(amp|lt|gt);"),
    "zwsp": re.compile(ZWSP),
    "fence": re.compile("```"),
    "link": re.compile(r"<https?://[^>]*\|"),
    "mention": re.compile(r"<@U"),
}


def assert_no_markup(text: str, *typed: str) -> None:
    """No Slack markup in `text`, apart from the `typed` strings (user text that reads as
    markup and must show as typed)."""
    for literal in typed:
        text = text.replace(literal, "")
    for name, pattern in RAW.items():
        found = pattern.search(text)
        assert found is None, f"raw {name} {found.group(0)!r} in:\n{text}"


def runbook() -> Runbook:
    """A runbook like the shipped gpu-memory-high one (built here, not loaded: the view's
    tests must not depend on the runbook files)."""
    return Runbook(
        id="gpu-memory-high", alert="GPUMemoryHigh", title="GPU memory usage above 90%",
        severity="warning",
        meaning="A GPU has used more than 90% of its frame-buffer memory for 5 minutes.",
        impact="The next larger batch can fail with CUDA out of memory.",
        diagnosis=[
            Step(text="Find the GPU & its pod: /genai gpu <node>."),
            Step(text="Look for OOM errors in the previous container's logs.",
                 command="kubectl logs <pod-name> -n inference --previous | grep -iE 'oom'"),
            Step(text="Check memory from inside the pod.",
                 command="kubectl exec -it <pod-name> -n inference -- nvidia-smi"),
            Step(text="Read the frame-buffer fields from DCGM."),
        ],
        mitigation=[Step(text="Reduce the batch size (MAX_BATCH_SIZE 32 -> 16).")],
        diag_scenario="oom",
    )


def raw_alert(host: str, gpu: int, *, description: str | None = None) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "GPUMemoryHigh", "severity": "warning", "Hostname": host,
                   "gpu": str(gpu), "UUID": f"GPU-5f3c{gpu:02d}e1a-77d2", "team": "genai",
                   "modelName": "NVIDIA A100", "job": "dcgm", "instance": f"{host}:9400",
                   "namespace": "gpu-operator", "pod": f"dcgm-{host}", "container": "dcgm",
                   "endpoint": "metrics", "service": "dcgm"},
        "annotations": {"summary": "GPU memory usage above 90%",
                        "description": description
                        or f"GPU {gpu} on {host} has exceeded 90% memory usage (95%)."},
        "startsAt": "2026-11-28T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": PROM, "fingerprint": f"{host}-{gpu}",
    }


def alert_view(alerts: list[dict[str, Any]]) -> AlertView:
    """The incident as the store would show it: the labels all alerts share, firing."""
    common = {k: v for k, v in alerts[0]["labels"].items()
              if all(a["labels"].get(k) == v for a in alerts)}
    notes = {k: v for k, v in alerts[0]["annotations"].items()
             if all(a["annotations"].get(k) == v for a in alerts)}
    return AlertView(
        public_id="k3j4h5g6f7", alertname="GPUMemoryHigh", severity="warning",
        status="firing", labels=common, annotations=notes,
        alerts=[AlertItem.from_dict(a) for a in alerts], opened_at=OPENED, resolved_at=None,
        resolved_by=None, acked_by=None, acked_at=None, silence_id=None, silenced_until=None,
        drill=False,
    )


def card_message(view: AlertView, now: datetime = NOW) -> dict[str, Any]:
    return card.incident_message(view, runbook(), now=now,
                                 silence_durations=["1h", "4h", "24h"])


def acked(view: AlertView) -> AlertView:
    return dataclasses.replace(view, acked_by="U0ONCALL", acked_at=OPENED + timedelta(minutes=3))


def daily_report() -> Report:
    return Report(
        title="Daily checklist",
        summary="1 warn, 4 fail & <2 unknown>",
        sections=[Section(rows=[
            Row(check="GPU nodes Ready", status=Status.FAIL, value="2/3 Ready",
                threshold="all Ready", detail="not Ready: gpu-node-2 (KubeletNotReady)"),
            Row(check="GPU utilisation", status=Status.WARN, value="12% avg",
                threshold="40–80%"),
            Row(check="Model pods Running", status=Status.OK, value="3/3 Running"),
            Row(check="GPU memory", status=Status.UNKNOWN, value="no data"),
            Row(check="Info-severity alerts", status=Status.INFO, value="1 open"),
        ]), Section(title="Reduce GPU memory use",
                    lines=["Set GENAI_DIAG__EXEC_ENABLED=true, *not* _this_."],
                    code='env:\n- name: MAX_BATCH_SIZE\n  value: "16"  # was 32 & <more>')],
        actions=[Action(action_id="incident_diag", label="Run diagnostics", value="x"),
                 Action(action_id="incident_resolve", label="Resolve", value="x",
                        style="danger")],
        footer="namespace inference · <https://example.com|not a link>",
    )


# -- a message, as read ---------------------------------------------------------------------


def test_alert_card_reads_as_text_with_its_buttons() -> None:
    view = View(color=False, width=100)
    text = view.text(card_message(alert_view([raw_alert("gpu-node-1", 3)])))
    assert_no_markup(text)
    lines = text.splitlines()
    assert lines[0] == "🟠 warning · GPUMemoryHigh"  # the header, without Slack's underline
    assert "GPU memory usage above 90%" in lines  # was *GPU memory usage above 90%*
    assert "Hostname: gpu-node-1 · gpu: 3" in text  # the label fields, on one line
    assert f"🔗 Prometheus ({PROM})" in text  # <url|label>, &amp; decoded
    assert "📖 Runbook: GPU memory usage above 90%" in text
    assert "1. Find the GPU & its pod: /genai gpu <node>." in text  # escaped &, <, > decoded
    assert "kubectl logs <pod-name> -n inference --previous | grep -iE 'oom'" in text
    assert "Opened 10:00 UTC · firing for 12 m · incident k3j4h5g6f7" in text
    assert "[Acknowledge] [Silence… ▾] [Run diagnostics] [Resolve]" in lines
    assert all(cells(line) <= 100 for line in lines if "http" not in line)


def test_report_renders_status_marks_as_unicode() -> None:
    message = report_message(daily_report())
    assert ":red_circle:" in message["blocks"][2]["text"]["text"]  # what Slack gets
    text = View(color=False).text(message)
    assert_no_markup(text, "*not* _this_", "<https://example.com|not a link>")
    lines = text.splitlines()
    assert "🔴 GPU nodes Ready  2/3 Ready  (threshold all Ready)" in lines
    assert "        not Ready: gpu-node-2 (KubeletNotReady)" in lines
    assert "⚠️ GPU utilisation  12% avg  (threshold 40–80%)" in lines
    assert "✅ Model pods Running  3/3 Running" in lines
    assert "❔ GPU memory  no data" in lines
    assert "ℹ️ Info-severity alerts  1 open" in lines
    assert "1 warn, 4 fail & <2 unknown>" in lines
    # The report's own text shows as typed: escaped markers stay, with no zero-width space.
    assert "Set GENAI_DIAG__EXEC_ENABLED=true, *not* _this_." in lines
    assert '      value: "16"  # was 32 & <more>' in lines  # the code block, indented
    assert "[Run diagnostics] [Resolve]" in lines
    assert "namespace inference · <https://example.com|not a link>" in lines


def test_mrkdwn_links_mentions_entities_and_zero_width_spaces() -> None:
    text = ("*Acknowledged* by <@U0ONCALL> in <#C0ALERTS|genai-alerts> <!here>: "
            "<https://prom.example/graph?a=1&amp;b=2|Prometheus> · <https://runbooks.example/> "
            f"&lt;!channel&gt; {escape('*not bold* _nor italic_ `nor code`')} :no_entry: "
            ":hourglass_flowing_sand: `kubectl get pods -n inference` 10:00:00")
    [line] = mrkdwn_lines(text)
    assert plain_text(line) == (
        "Acknowledged by @U0ONCALL in #genai-alerts @here: "
        "Prometheus (https://prom.example/graph?a=1&b=2) · https://runbooks.example/ "
        "<!channel> *not bold* _nor italic_ `nor code` ⛔ ⏳ kubectl get pods -n inference "
        "10:00:00")
    styles = {span.text: span.style for span in line}
    assert "b" in styles["Acknowledged"]
    assert "code" in styles["kubectl get pods -n inference"]
    assert "mention" in styles["@U0ONCALL"]


def test_code_blocks_become_indented_lines() -> None:
    lines = [plain_text(x) for x in mrkdwn_lines(
        "*2.* Look for OOM errors.\n```kubectl logs &lt;pod&gt; | grep -i oom```\n\n*3.* Next")]
    assert lines == ["2. Look for OOM errors.", "    kubectl logs <pod> | grep -i oom", "",
                     "3. Next"]


def test_a_large_group_is_compact_and_says_what_it_left_out() -> None:
    alerts = [raw_alert(f"gpu-node-{i // 8}", i % 8) for i in range(30)]
    message = card_message(alert_view(alerts))
    view = View(color=False, width=100)
    full = view.text(message).splitlines()
    compact = view.text(message, compact=True).splitlines()
    assert len(full) > 60
    assert len(compact) < 40
    assert_no_markup("\n".join(compact))
    assert "… 26 more alerts" in compact  # 4 shown, 11 cut by the view, 15 by the bot
    assert "… 26 more lines" in compact  # the descriptions: 4 shown
    assert "[Acknowledge] [Silence… ▾] [Run diagnostics] [Resolve]" in compact
    # One alert's 15 labels: the bot shows 9 and names the rest; the view keeps 6.
    one = view.text(card_message(alert_view([raw_alert("gpu-node-1", 3)])), compact=True)
    assert "Hostname: gpu-node-1 · gpu: 3 · " in one
    assert re.search(r"· \+\d+ more: [A-Za-z]+(, [A-Za-z]+)+", one), one


# -- edits ----------------------------------------------------------------------------------


def test_an_edit_shows_only_the_lines_that_changed() -> None:
    """Acknowledging a 30-alert group's card re-renders ~70 lines; the terminal shows the
    ack, the buttons that went, and the age that moved."""
    view = View(color=False, width=100)
    feed = Feed(view, {"C0ALERTS": "genai-alerts"})
    firing = alert_view([raw_alert(f"gpu-node-{i // 8}", i % 8) for i in range(30)])
    posted = feed.handle("chat.postMessage", {"channel": "C0ALERTS", **card_message(firing)},
                         {"ok": True, "channel": "C0ALERTS", "ts": "1700000000.000100"})
    assert posted is not None
    first = posted.splitlines()
    assert first[0] == "╭─ alert #1 posted in #genai-alerts"
    assert first[-1] == ("╰─ type: ack 1 · silence 1 1h|4h|24h · diag 1 · resolve 1"
                         " · show 1: all of it")
    assert feed.alerts == [("C0ALERTS", "1700000000.000100")]

    later = card_message(acked(firing), now=NOW + timedelta(seconds=70))
    edited = feed.handle("chat.update", {"channel": "C0ALERTS", "ts": "1700000000.000100",
                                         **later}, {"ok": True})
    assert edited is not None
    assert_no_markup(edited)
    assert edited.splitlines() == [
        "╭─ alert #1 edited in #genai-alerts",
        "│ - Opened 10:00 UTC · firing for 12 m · incident k3j4h5g6f7",
        "│ + Opened 10:00 UTC · firing for 13 m · incident k3j4h5g6f7",
        "│ + 👀 Acknowledged by @U0ONCALL after 3 m",
        "│ - [Acknowledge] [Silence… ▾] [Run diagnostics] [Resolve]",
        "│ + [Silence… ▾] [Run diagnostics] [Resolve]",
        "╰─",
    ]
    # The next edit is diffed against this one, and `show 1` reads the card as it is now.
    again = feed.handle("chat.update", {"channel": "C0ALERTS", "ts": "1700000000.000100",
                                        **later}, {"ok": True})
    assert again is not None and "no visible change" in again
    current = feed.current(1)
    assert current is not None
    assert "👀 Acknowledged by @U0ONCALL after 3 m" in [plain_text(x) for x in current.lines]


def test_partial_update_keeps_what_it_omits() -> None:
    """chat.update without `attachments` leaves them (Slack keeps what an update omits)."""
    feed = Feed(View())
    message = card_message(alert_view([raw_alert("gpu-node-1", 3)]))
    feed.handle("chat.postMessage", {"channel": "C1", **message},
                {"ok": True, "channel": "C1", "ts": "1.1"})
    shown = feed.handle("chat.update", {"channel": "C1", "ts": "1.1", "text": "changed"},
                        {"ok": True})
    assert shown is not None and "no visible change" in shown


def test_diff_pairs_a_changed_line_with_its_new_version() -> None:
    def lines(*texts: str) -> list[tuple[Any, ...]]:
        return [tuple(mrkdwn_lines(t)[0]) for t in texts]

    old = lines("header", "firing for 2 s", "[Acknowledge] [Resolve]")
    new = lines("header", "firing for 9 s", "*acked* by <@U1>", "[Resolve]")
    assert [plain_text(x) for x in diff_lines(old, new)] == [
        "- firing for 2 s", "+ firing for 9 s", "+ acked by @U1", "- [Acknowledge] [Resolve]",
        "+ [Resolve]"]


def test_long_replies_fold_and_more_shows_them() -> None:
    feed = Feed(View(color=False))
    feed.handle("chat.postMessage", {"channel": "C1", **card_message(alert_view(
        [raw_alert("gpu-node-1", 3)]))}, {"ok": True, "channel": "C1", "ts": "1.1"})
    body = "\n".join(f"*{n}.* step {n}" for n in range(1, 41))
    reply = {"channel": "C1", "thread_ts": "1.1", "text": "runbook",
             "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Runbook"}},
                        {"type": "section", "text": {"type": "mrkdwn", "text": body}}]}
    shown = feed.handle("chat.postMessage", reply, {"ok": True, "channel": "C1", "ts": "1.2"})
    assert shown is not None
    assert shown.splitlines()[0] == "╭─ reply to alert #1 in C1"
    assert len(shown.splitlines()) <= 10
    assert shown.splitlines()[-1] == "╰─ more 1: all 41 lines"
    assert [plain_text(x) for x in feed.folded[0]][-1] == "40. step 40"
    # A reply to an alert the user acted on is shown whole.
    feed.unfolded.add("1.1")
    whole = feed.handle("chat.postMessage", reply, {"ok": True, "channel": "C1", "ts": "1.3"})
    assert whole is not None and "40. step 40" in whole


# -- colour ---------------------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    assert wants_color(io.StringIO(), {}) is False
    assert wants_color(FakeTTY(), {}) is True
    assert wants_color(FakeTTY(), {"NO_COLOR": "1"}) is False
    assert wants_color(FakeTTY(), {"TERM": "dumb"}) is False

    message = report_message(daily_report())
    plain = Console(io.StringIO()).view.text(message)
    assert "\x1b" not in plain
    painted = Console(FakeTTY(), width=100, color=True).view
    text = painted.text(message)
    assert "\x1b[1mGPU nodes Ready\x1b[0m" in text  # bold, not *GPU nodes Ready*
    assert ANSI.sub("", text) == plain


# -- the prompt -----------------------------------------------------------------------------


def test_output_while_typing_redraws_the_prompt_and_the_typed_text() -> None:
    out = FakeTTY()
    console = Console(out, color=False)
    console.line_buffer = lambda: "/genai sta"
    console.show("before the prompt")
    console.reading("> ")
    console.show("╭─ alert #1 posted in #genai-alerts")
    console.reading(None)
    console.show("after")
    assert out.getvalue() == ("before the prompt\n"
                              "\r\x1b[K╭─ alert #1 posted in #genai-alerts\n> /genai sta"
                              "after\n")


def test_no_redraw_when_not_a_terminal() -> None:
    out = io.StringIO()
    console = Console(out)
    console.reading("> ")
    console.show("line")
    assert out.getvalue() == "line\n"


def test_completion_of_subcommands_arguments_and_clicks() -> None:
    usages = {c.name: c.usage for c in COMMANDS.values()}
    completer = Completer(usages, scenarios=["gpu-oom", "gpu-overheat"],
                          alert_count=lambda: 3)
    assert completer.candidates("", "/g") == ["/genai"]
    assert completer.candidates("", "a") == ["ack"]
    assert completer.candidates("/genai ", "ga") == ["gameday"]
    assert completer.candidates("/genai ", "") == list(usages)
    assert completer.candidates("/genai gameday ", "s") == ["start", "schedule", "score"]
    assert completer.candidates("/genai gameday start ", "gpu-o") == ["gpu-oom",
                                                                        "gpu-overheat"]
    assert completer.candidates("/genai diag ", "") == ["oom", "network", "model-load",
                                                        "karpenter"]
    assert completer.candidates("/genai cost ", "") == ["1d", "7d", "30d"]
    assert completer.candidates("/genai gpu ", "") == []  # [node] is a placeholder
    assert completer.candidates("ack ", "") == ["1", "2", "3", "last"]
    assert completer.candidates("silence 2 ", "") == ["1h", "4h", "24h"]
    assert completer.candidates("status ", "") == []
    assert usage_words("/genai diag oom <pod|node> | karpenter [nodepool]  [-n namespace]") \
        == (["oom", "karpenter"], ["-n"])


def test_line_editor_keeps_history_in_a_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_DEMO_HISTORY", str(tmp_path / "hist"))
    assert history_path(tmp_path) == tmp_path / "hist"
    editor = line_editor(tmp_path / "hist")
    assert editor is not None, "readline is part of CPython on Linux"
    editor.readline.clear_history()
    editor.readline.add_history("/genai status")
    editor.save()
    assert "/genai status" in (tmp_path / "hist").read_text()


def test_startup_summary_is_a_few_lines() -> None:
    services = [("prometheus", "http://127.0.0.1:9090", "real; the shipped alert rules"),
                ("bot", "http://127.0.0.1:8080", "/alertmanager /healthz")]
    text = startup_summary(View(color=False), services)
    assert text.splitlines() == [
        "genai-ops-bot demo: the real bot on a local sandbox",
        "  prometheus  127.0.0.1:9090  real; the shipped alert rules",
        "  bot         127.0.0.1:8080  /alertmanager /healthz",
    ]


def test_wrap_keeps_words_whole_and_hangs_under_bullets_and_indents() -> None:
    view = View(color=False)
    text = ("Runbook `gpu-memory-high` · related: `daily-cost-exceeded`, `gpu-cost-spike`\n"
            "        a detail line that is long enough to wrap under its own indent\n"
            "• a bullet long enough to wrap onto the next row")
    rows = [plain_text(row) for line in mrkdwn_lines(text) for row in view.wrap(line, 40)]
    assert rows == [
        "Runbook gpu-memory-high · related:",
        "daily-cost-exceeded, gpu-cost-spike",  # "`…`," is one word: the comma stays
        "        a detail line that is long",
        "        enough to wrap under its own",
        "        indent",
        "• a bullet long enough to wrap onto the",
        "  next row",
    ]
    assert all(cells(row) <= 40 for row in rows)


def test_answers_and_refusals_are_labelled() -> None:
    feed = Feed(View(color=False))
    answer = feed.handle("response_url", {"response_type": "ephemeral",
                                          "text": ":no_entry: The bot is busy; try again."},
                         {"ok": True})
    assert answer == "╭─ answer, only you see it\n│ ⛔ The bot is busy; try again.\n╰─"
    refused = feed.handle("chat.update", {"channel": "C1", "ts": "1"},
                          {"ok": False, "error": "invalid_blocks"}, ok=False)
    assert refused == "(Slack refused chat.update: invalid_blocks)"
    assert feed.handle("conversations.list", {}, {"ok": True}) is None


def test_typeahead_is_not_echoed_while_the_sandbox_starts() -> None:
    import termios
    leader, follower = os.openpty()
    try:
        with os.fdopen(os.dup(follower)) as tty:
            assert termios.tcgetattr(follower)[3] & termios.ECHO
            with typeahead_held(tty):
                assert not termios.tcgetattr(follower)[3] & termios.ECHO
            assert termios.tcgetattr(follower)[3] & termios.ECHO
        with typeahead_held(io.StringIO()):  # not a terminal: nothing to do
            pass
    finally:
        os.close(leader)
        os.close(follower)


CHILD = """
import sys, threading, time
from pathlib import Path
from tests.demo_view import Completer, Console, line_editor
console = Console(color=False)
editor = line_editor(Path(sys.argv[1]), Completer({"status": "/genai status"}))
assert editor is not None
def bot_posts():
    while editor.readline.get_line_buffer() != "/genai sta":
        time.sleep(0.02)
    console.show("╭─ alert #1 posted in #genai-warnings")
threading.Thread(target=bot_posts, daemon=True).start()
line = console.read("> ", editor)
print("GOT " + repr(line), flush=True)
editor.save()
"""


def _read_until(fd: int, marker: bytes, timeout: float = 10.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{marker!r} not seen in {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
    return seen


def test_readline_prompt_survives_output_and_completes(tmp_path: Path) -> None:
    """On a real pseudo-terminal: the user types '/genai sta', the bot posts meanwhile, the
    prompt comes back with the typed text; Tab completes it; history is saved."""
    leader, follower = os.openpty()
    env = {**os.environ, "TERM": "xterm", "NO_COLOR": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "hist")],
                             stdin=follower, stdout=follower, stderr=follower, env=env,
                             cwd=Path(__file__).resolve().parent.parent)
    os.close(follower)
    try:
        _read_until(leader, b"> ")
        os.write(leader, b"/genai sta")
        screen = _read_until(leader, b"#genai-warnings\n> /genai sta".replace(b"\n", b"\r\n"))
        assert b"\r\x1b[K\xe2\x95\xad\xe2\x94\x80 alert #1" in screen  # prompt line erased
        os.write(leader, b"\t\r")
        screen = _read_until(leader, b"GOT")
        screen += _read_until(leader, b"\n")
        assert b"GOT '/genai status '" in screen
        assert child.wait(timeout=10) == 0
    finally:
        os.close(leader)
        if child.poll() is None:
            child.kill()
    assert (tmp_path / "hist").read_text().splitlines()[-1] == "/genai status "
