"""Read the bot's Block Kit back into checks, the way a person reads the message."""

from __future__ import annotations

import re
from typing import Any

from bot.report import Status
from bot.slack.render.report import STATUS_MARK

_MARK_TO_STATUS = {mark: status for status, mark in STATUS_MARK.items()}
_ROW = re.compile(r"^(:[a-z_]+:) \*(.+?)\*  (.*?)(?:  \(threshold (.*)\))?$")


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if block.get("type") == "section" and "text" in block:
            out.append(block["text"]["text"])
        elif block.get("type") == "context":
            out.extend(e.get("text", "") for e in block.get("elements", []))
    return out


def rows(blocks: list[dict[str, Any]]) -> dict[str, tuple[Status, str, str]]:
    """check -> (status, value, detail) for every row line in the message."""
    found: dict[str, tuple[Status, str, str]] = {}
    for text in section_texts(blocks):
        lines = text.split("\n")
        for i, line in enumerate(lines):
            m = _ROW.match(line)
            if not m:
                continue
            detail = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith(
                "        ") else ""
            found[m.group(2)] = (_MARK_TO_STATUS[m.group(1)], m.group(3), detail)
    return found
