"""Block Kit rendering: within Slack's limits, every piece of text escaped, overflow counted."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from bot.dispatch import MAX_ARGS_CHARS, Invocation, parse
from bot.render.text import render_text
from bot.report import Action, Report, Row, Section, Status
from bot.roles import Caller, Role
from bot.slack.render.mrkdwn import escape
from bot.slack.render.report import render_blocks
from tests.harness.blockkit import validate_blocks

HOSTILE = ["<!channel>", "<@U123ABC>", "<!here|here>", "*bold*", "`code`", "~x~", "_i_",
           "a & b", "<https://evil.example|click>", "x" * 10_000, "한국어 ✓ 🚀"]


def _all_text(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_status_report_renders_valid_blocks() -> None:
    report = Report(
        title="Daily checklist",
        summary="5 ok, 1 fail",
        sections=[Section(rows=[
            Row(check="GPU nodes Ready", status=Status.FAIL, value="2/3 Ready",
                threshold="all Ready", detail="not Ready: gpu-2 (KubeletNotReady)"),
            Row(check="Error rate", status=Status.OK, value="0.20%", threshold="< 1%"),
        ])],
        actions=[Action(action_id="refresh", label="Refresh", value="status")],
        footer="namespace inference",
    )
    blocks = render_blocks(report)
    assert validate_blocks(blocks) == []
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text",
                                                    "text": "Daily checklist", "emoji": True}}
    text = _all_text(blocks)
    assert ":red_circle: *GPU nodes Ready*  2/3 Ready  (threshold all Ready)" in text
    assert "gpu-2 (KubeletNotReady)" in text


@given(st.sampled_from(HOSTILE) | st.text(max_size=300))
def test_hostile_text_never_pings_or_breaks_limits(value: str) -> None:
    row = Row(check=value, status=Status.WARN, value=value, threshold=value, detail=value)
    report = Report(title=value or "t", summary=value,
                    sections=[Section(title=value, rows=[row] * 3, lines=[value], code=value)],
                    footer=value)
    blocks = render_blocks(report)
    assert validate_blocks(blocks) == []
    for block in blocks:
        if block["type"] in ("section", "context"):
            texts = [block["text"]["text"]] if "text" in block else [
                e["text"] for e in block["elements"]]
            for t in texts:
                # No raw < or > survives: Slack can only see &lt; and &gt;.
                assert "<" not in t and ">" not in t


def test_escape_neutralises_mentions_and_formatting() -> None:
    assert escape("<!channel>") == "&lt;!channel&gt;"
    assert escape("a & b") == "a &amp; b"
    assert "*bold*" not in escape("*bold*")
    assert "_x_" not in escape("_x_") and "~~s~~" not in escape("~~s~~")
    assert "__b__" not in escape("a __b__ c") and "`" + "x" not in escape("`x`")


def test_escape_keeps_identifiers_copyable() -> None:
    """Markers inside a word cannot style anything in Slack: left as typed, so a setting
    or metric name pasted from a report works (no zero-width space inside)."""
    for name in ("GENAI_DIAG__EXEC_ENABLED", "DCGM_FI_DEV_FB_USED", "max_model_len"):
        assert escape(name) == name


def test_thousands_of_rows_collapse_to_a_counted_overflow() -> None:
    rows = [Row(check=f"gpu-node-{i}/gpu{i % 8}", status=Status.FAIL, value="97%",
                threshold="< 90%", detail="d" * 200) for i in range(8000)]
    blocks = render_blocks(Report(title="GPUs", sections=[Section(rows=rows)]))
    assert validate_blocks(blocks) == []
    assert len(blocks) <= 50
    note = blocks[-1]["elements"][0]["text"]
    assert note.startswith("… and ") and note.endswith(" more")
    shown = _all_text(blocks).count("gpu-node-")
    assert shown + int(note.split()[2]) == 8000


def test_long_header_and_button_are_cut() -> None:
    report = Report(title="T" * 400, actions=[Action(action_id="a", label="L" * 200,
                                                     value="v" * 5000)])
    blocks = render_blocks(report)
    assert validate_blocks(blocks) == []
    assert len(blocks[0]["text"]["text"]) == 150


def test_text_renderer_shows_status_value_and_threshold() -> None:
    report = Report(title="Daily checklist", summary="1 unknown", sections=[Section(rows=[
        Row(check="Error rate", status=Status.UNKNOWN, value="unknown",
            detail="prometheus: cannot connect")])])
    text = render_text(report)
    assert text.splitlines()[0] == "Daily checklist — 1 unknown"
    assert "unknown Error rate  unknown" in text
    assert "prometheus: cannot connect" in text


VIEWER = Caller("U1", Role.VIEWER)


def test_parse_bad_input_gets_usage_or_refusal() -> None:
    for text in ["", "   ", "frobnicate", "'unbalanced"]:
        result = parse(text, VIEWER)
        assert isinstance(result, Report)
        assert any("Usage: /genai" in line for s in result.sections for line in s.lines)
    too_long = parse("status " + "x" * MAX_ARGS_CHARS, VIEWER)
    assert isinstance(too_long, Report)
    assert "limit is 500" in render_text(too_long)
    ok = parse("STATUS", VIEWER)
    assert isinstance(ok, Invocation) and ok.command.name == "status"


def test_unknown_subcommand_is_echoed_escaped() -> None:
    result = parse("<!channel> *boom*", VIEWER)
    assert isinstance(result, Report)
    text = _all_text(render_blocks(result))
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
