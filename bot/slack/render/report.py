"""Report -> Block Kit, within Slack's limits, with every piece of text escaped."""

from __future__ import annotations

from typing import Any

from bot.render.text import render_text
from bot.report import Action, Report, Row, Section, Status
from bot.slack.render.kit import fit, plain
from bot.slack.render.mrkdwn import escape, escape_code, truncate

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS = 25
MAX_OPTIONS = 100
MAX_OPTION_VALUE = 150
MAX_CONTEXT_TEXT = 2000
MAX_FALLBACK_TEXT = 3000

STATUS_MARK = {
    Status.OK: ":white_check_mark:",
    Status.INFO: ":information_source:",
    Status.WARN: ":warning:",
    Status.FAIL: ":red_circle:",
    Status.UNKNOWN: ":grey_question:",
}

Block = dict[str, Any]


def _mrkdwn_section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def row_line(row: Row) -> str:
    line = f"{STATUS_MARK[row.status]} *{escape(row.check)}*  {escape(row.value)}"
    if row.threshold:
        line += f"  (threshold {escape(row.threshold)})"
    if row.detail:
        line += f"\n        {escape(row.detail)}"
    return line


def _pack(lines: list[str], budget: int) -> tuple[list[Block], int]:
    """Pack escaped lines into as few sections as fit (3000 chars each), at most `budget`
    blocks. Returns the blocks and how many lines did not fit."""
    blocks: list[Block] = []
    current = ""
    for index, raw in enumerate(lines):
        line = truncate(raw, MAX_SECTION_TEXT - 40)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= MAX_SECTION_TEXT:
            current = candidate
            continue
        if len(blocks) + 1 >= budget:  # keep the last block for this one plus the overflow note
            return [*blocks, _mrkdwn_section(current)], len(lines) - index
        blocks.append(_mrkdwn_section(current))
        current = line
    if current:
        blocks.append(_mrkdwn_section(current))
    return blocks, 0


def _section_lines(section: Section) -> list[str]:
    return [row_line(r) for r in section.rows] + [escape(line) for line in section.lines]


def _button(action: Action) -> Block:
    if action.options:
        return _menu(action)
    button: Block = {
        "type": "button",
        "action_id": action.action_id,
        "text": plain(action.label, MAX_BUTTON_TEXT),
        "value": truncate(action.value, MAX_BUTTON_VALUE),
    }
    if action.style in ("primary", "danger"):
        button["style"] = action.style
    return button


def _menu(action: Action) -> Block:
    return {
        "type": "static_select",
        "action_id": action.action_id,
        "placeholder": plain(action.label, MAX_BUTTON_TEXT),
        "options": [{"text": plain(o.label, MAX_BUTTON_TEXT),
                     "value": truncate(o.value, MAX_OPTION_VALUE)}
                    for o in action.options[:MAX_OPTIONS]],
    }


def render_blocks(report: Report) -> list[Block]:
    blocks: list[Block] = [
        {"type": "header", "text": plain(report.title, MAX_HEADER)}
    ]
    if report.summary:
        blocks.append(_mrkdwn_section(truncate(escape(report.summary), MAX_SECTION_TEXT)))
    tail: list[Block] = []
    if report.actions:
        tail.append({"type": "actions",
                     "elements": [_button(a) for a in report.actions[:MAX_ACTIONS]]})
    if report.footer:
        tail.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": truncate(escape(report.footer), MAX_CONTEXT_TEXT)}]})
    budget = MAX_BLOCKS - len(blocks) - len(tail) - 1  # one spare for the overflow note
    hidden = 0
    for section in report.sections:
        body: list[Block] = []
        if section.title:
            body.append(_mrkdwn_section(f"*{truncate(escape(section.title), 200)}*"))
        packed, left = _pack(_section_lines(section), max(1, budget - len(body)))
        body.extend(packed)
        if section.code:
            body.append(_mrkdwn_section(
                "```" + truncate(escape_code(section.code), MAX_SECTION_TEXT - 6) + "```"))
        if section.actions:
            body.append({"type": "actions",
                         "elements": [_button(a) for a in section.actions[:MAX_ACTIONS]]})
        if hidden or len(body) > budget:
            hidden += len(section.rows) + len(section.lines)
            continue
        blocks.extend(body)
        budget -= len(body)
        hidden += left
    if hidden:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"… and {hidden} more"}]})
    return blocks + tail


def fallback_text(report: Report) -> str:
    """The notification and screen-reader text that goes beside the blocks. Slack parses it
    as mrkdwn, so it is escaped like every other field."""
    return fit(escape(truncate(render_text(report), MAX_FALLBACK_TEXT)), MAX_FALLBACK_TEXT)


def report_message(report: Report) -> dict[str, Any]:
    """``chat.postMessage`` / ``respond()`` fields for a report."""
    return {"blocks": render_blocks(report), "text": fallback_text(report)}
