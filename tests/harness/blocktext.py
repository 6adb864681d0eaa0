"""Block Kit as plain text: what a user would read, for console demos and test assertions."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
"""The types of a Block Kit text object (`tests.harness.blockkit` checks them too)."""

_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_BARE = re.compile(r"<([^<>]+)>")
RULE = "-" * 40


def mrkdwn_to_text(text: str) -> str:
    """Make Slack mrkdwn readable on a console: links, mentions and entities."""

    def bare(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith(("@", "#")):
            return inner
        if inner.startswith("!"):
            return "@" + inner[1:].split("^")[0]
        return inner

    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _BARE.sub(bare, text)
    return html.unescape(text)


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        value = obj.get("text", "")
        if obj.get("type") == "mrkdwn":
            return mrkdwn_to_text(str(value))
        return html.unescape(str(value))
    return ""


def _element_text(el: Any) -> str:
    if not isinstance(el, dict):
        return ""
    kind = el.get("type")
    if kind == "button":
        return f"[{_text_of(el.get('text'))}]"
    if kind == "image":
        return f"({el.get('alt_text', 'image')})"
    if kind in TEXT_TYPES:
        return _text_of(el)
    if kind == "overflow":
        return "[...]"
    if "initial_option" in el:
        return f"[{_text_of(el['initial_option'].get('text'))} v]"
    label = _text_of(el.get("placeholder")) or str(kind)
    return f"[{label} v]"


def _rich_text(elements: Iterable[Any]) -> str:
    parts: list[str] = []
    for el in elements:
        if not isinstance(el, dict):
            continue
        if "elements" in el:
            parts.append(_rich_text(el["elements"]))
            if el.get("type") in ("rich_text_section", "rich_text_preformatted"):
                parts.append("\n")
        elif el.get("type") == "text":
            parts.append(str(el.get("text", "")))
        elif el.get("type") == "link":
            parts.append(str(el.get("text") or el.get("url", "")))
        elif el.get("type") == "user":
            parts.append(f"@{el.get('user_id', '')}")
        elif el.get("type") == "emoji":
            parts.append(f":{el.get('name', '')}:")
    return "".join(parts).rstrip("\n")


def blocks_to_text(blocks: Any) -> str:
    """Render blocks as plain text for a console: what a user would read in Slack."""
    if not isinstance(blocks, list):
        return ""
    lines: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "header":
            title = _text_of(block.get("text"))
            lines += [title, "=" * len(title)]
        elif kind == "divider":
            lines.append(RULE)
        elif kind == "section":
            text = _text_of(block.get("text"))
            accessory = _element_text(block.get("accessory"))
            if text or accessory:
                lines.append(" ".join(p for p in (text, accessory) if p))
            fields = [_text_of(f) for f in block.get("fields") or []]
            for i in range(0, len(fields), 2):
                lines.append(" | ".join(fields[i : i + 2]))
        elif kind == "context":
            lines.append("  ".join(_element_text(e) for e in block.get("elements") or []))
        elif kind == "actions":
            lines.append(" ".join(_element_text(e) for e in block.get("elements") or []))
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "rich_text":
            lines.append(_rich_text(block.get("elements") or []))
        elif kind == "input":
            label = _text_of(block.get("label"))
            lines.append(f"{label}: {_element_text(block.get('element'))}")
        elif kind == "markdown":
            lines.append(str(block.get("text", "")))
    return "\n".join(lines)
