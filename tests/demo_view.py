"""The demo's terminal: what the bot posts to Slack, shown the way a person reads it there.

`make demo` (``tests/demo.py``) plays Slack with the stand-in; this module turns what the bot
sends into a terminal view:

- :class:`View` renders a Slack message (top-level ``blocks``, ``attachments[].blocks``, or the
  ``text`` fallback): emoji shortcodes as Unicode, ``*bold*``/``_italic_``/``~strike~``/code as
  terminal styling (ANSI on a TTY, plain otherwise), ``&amp;``/``&lt;``/``&gt;`` decoded, the
  zero-width spaces the bot inserts to break formatting removed, ``<url|label>`` as
  ``label (url)``, ``<@U…>`` as ``@U…``, buttons as ``[Acknowledge] [Run diagnostics]``,
  wrapped to the terminal's width. ``compact=True`` caps long lists with "… N more".
- :class:`Feed` follows the Web API calls the bot makes: a message seen for the first time is
  shown in full (compactly), an edit (``chat.update``) as the lines that changed.
- :class:`Console` prints from any thread without burying the prompt: it erases the prompt
  line, prints, and draws the prompt again with what the user has typed so far.
- :func:`line_editor` sets up ``readline`` (history, Tab completion with :class:`Completer`)
  when the platform has it; without it the demo falls back to plain ``input()``.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import shutil
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ZWSP = "\u200b"

# Shortcodes the bot uses (and a few more Slack users expect), as Unicode.
EMOJI: dict[str, str] = {
    "red_circle": "🔴", "large_orange_circle": "🟠", "orange_circle": "🟠",
    "large_yellow_circle": "🟡", "large_green_circle": "🟢", "large_blue_circle": "🔵",
    "blue_circle": "🔵", "white_circle": "⚪", "black_circle": "⚫",
    "white_check_mark": "✅", "heavy_check_mark": "✔️", "ballot_box_with_check": "☑️",
    "x": "❌", "warning": "⚠️", "grey_question": "❔", "question": "❓",
    "grey_exclamation": "❕", "exclamation": "❗", "information_source": "ℹ️",
    "hourglass_flowing_sand": "⏳", "hourglass": "⌛", "no_entry": "⛔", "no_entry_sign": "🚫",
    "eyes": "👀", "no_bell": "🔕", "bell": "🔔", "mute": "🔇", "link": "🔗", "book": "📖",
    "dart": "🎯", "memo": "📝", "rotating_light": "🚨", "fire": "🔥", "zap": "⚡",
    "thermometer": "🌡️", "moneybag": "💰", "money_with_wings": "💸", "bulb": "💡",
    "gear": "⚙️", "wrench": "🔧", "hammer_and_wrench": "🛠️", "mag": "🔍", "clipboard": "📋",
    "calendar": "📅", "stopwatch": "⏱️", "tada": "🎉", "+1": "👍", "thumbsup": "👍",
    "-1": "👎", "sparkles": "✨", "robot_face": "🤖", "construction": "🚧",
    "chart_with_upwards_trend": "📈", "chart_with_downwards_trend": "📉", "bar_chart": "📊",
    "arrows_counterclockwise": "🔄", "arrow_right": "➡️", "arrow_up": "⬆️",
    "arrow_down": "⬇️", "heavy_plus_sign": "➕", "heavy_minus_sign": "➖", "pushpin": "📌",
    "lock": "🔒", "key": "🔑", "package": "📦", "rocket": "🚀", "sos": "🆘",
}

# ANSI SGR codes per style name; a span may carry several.
_SGR: dict[str, str] = {
    "b": "1", "dim": "2", "i": "3", "u": "4", "s": "9",
    "code": "36", "mention": "34", "url": "2", "link": "4",
    "primary": "32", "danger": "31", "add": "32", "del": "31", "title": "1",
}
_BAR_SGR = {"red": "31", "yellow": "33", "blue": "34", "green": "32", "grey": "90"}
_NAMED_BARS = {"danger": "red", "warning": "yellow", "good": "green"}


# -- spans and lines -------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A run of text in one style (a set of names from ``_SGR``)."""

    text: str
    style: frozenset[str] = frozenset()


Line = tuple[Span, ...]
Style = frozenset[str]
PLAIN: Style = frozenset()


def plain_text(line: Line) -> str:
    return "".join(s.text for s in line)


def _texts(lines: Iterable[Line]) -> list[str]:
    return [plain_text(line) for line in lines]


def styled(line: Line, style: Iterable[str]) -> Line:
    extra = frozenset(style)
    return tuple(Span(s.text, s.style | extra) for s in line)


def cells(text: str) -> int:
    """Terminal columns: wide (East Asian, most emoji) count 2, joiners and marks 0."""
    width = 0
    for ch in text:
        if ch in "\u200b\u200d\ufe0f\ufe0e" or unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


# -- mrkdwn -> spans -------------------------------------------------------------------------

_ENTITY = re.compile(r"&(amp|lt|gt);")
_SHORTCODE = re.compile(r":([a-z0-9_+\-]+):")
_CODE_BLOCK = re.compile(r"```(.*?)```", re.S)
# A marker escaped by the bot is followed by a zero-width space: it neither opens nor closes.
_INLINE = re.compile(
    r"`(?P<code>[^`\n\u200b][^`\n]*)`"
    r"|<(?P<angle>[^<>\n]+)>"
    r"|(?<!\w)\*(?P<b>(?:[^*\s\u200b]|\*\u200b)(?:(?:[^*\n]|\*\u200b)*?(?:[^*\s\u200b]|\*\u200b))?)"
    r"\*(?![\w\u200b])"
    r"|(?<!\w)_(?P<i>(?:[^_\s\u200b]|_\u200b)(?:(?:[^_\n]|_\u200b)*?(?:[^_\s\u200b]|_\u200b))?)"
    r"_(?![\w\u200b])"
    r"|(?<!\w)~(?P<s>(?:[^~\s\u200b]|~\u200b)(?:(?:[^~\n]|~\u200b)*?(?:[^~\s\u200b]|~\u200b))?)"
    r"~(?![\w\u200b])"
)


def unescape(text: str) -> str:
    """Slack's three entities, decoded in one pass (``&amp;lt;`` stays ``&lt;``)."""
    return _ENTITY.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], text)


def emojize(text: str) -> str:
    return _SHORTCODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _words(text: str, style: Style) -> list[Span]:
    text = emojize(unescape(text)).replace(ZWSP, "")
    return [Span(text, style)] if text else []


def _angle(body: str, style: Style) -> list[Span]:
    """``<…>``: a link, a user or channel mention, or a special mention."""
    target, _, label = body.partition("|")
    label = unescape(label).replace(ZWSP, "")
    if target.startswith("@"):
        return [Span("@" + unescape(target[1:]), style | {"mention"})]
    if target.startswith("#"):
        return [Span("#" + (label or unescape(target[1:])), style | {"mention"})]
    if target.startswith("!"):
        name = target[1:].split("^", 1)[0]
        if label and name in ("date", "subteam"):
            return [Span(label, style | {"mention"})]
        return [Span("@" + name, style | {"mention"})]
    url = unescape(target)
    if label and label != url:
        return [Span(label, style | {"link"}), Span(f" ({url})", style | {"url"})]
    return [Span(url, style | {"link"})]


def inline_spans(text: str, style: Style = PLAIN) -> list[Span]:
    """One line of mrkdwn (no code blocks) as styled spans, markers removed."""
    spans: list[Span] = []
    pos = 0
    for m in _INLINE.finditer(text):
        spans += _words(text[pos : m.start()], style)
        pos = m.end()
        kind = m.lastgroup
        body = m.group(kind or "")
        if kind == "code":
            spans.append(Span(unescape(body).replace(ZWSP, ""), style | {"code"}))
        elif kind == "angle":
            spans += _angle(body, style)
        else:
            spans += inline_spans(body, style | {kind or ""})
    spans += _words(text[pos:], style)
    return spans


def mrkdwn_lines(text: str, style: Style = PLAIN) -> list[Line]:
    """Slack mrkdwn as terminal lines: code blocks become indented code lines."""
    lines: list[Line] = []

    def prose(chunk: str) -> None:
        for raw in chunk.split("\n"):
            lines.append(tuple(inline_spans(raw, style)))

    pos = 0
    for m in _CODE_BLOCK.finditer(text):
        before = text[pos : m.start()]
        if before.strip():
            prose(before.removesuffix("\n"))
        pos = m.end()
        body = unescape(m.group(1)).replace(ZWSP, "").strip("\n")
        for raw in body.split("\n"):
            lines.append((Span("    " + raw.rstrip(), style | {"code"}),))
        if text[pos : pos + 1] == "\n":
            pos += 1
    if pos < len(text) or not lines:
        prose(text[pos:])
    return lines


def _plain_object(obj: Any, style: Style = PLAIN) -> list[Span]:
    """A plain_text (emoji shortcodes converted, as Slack does with ``emoji: true``) or
    mrkdwn text object, flattened to one line."""
    if not isinstance(obj, dict):
        return []
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        out: list[Span] = []
        for i, line in enumerate(mrkdwn_lines(text, style)):
            out += ([Span(" ", style)] if i else []) + list(line)
        return out
    return _words(text.replace("\n", " "), style)


# -- blocks -> lines -------------------------------------------------------------------------


@dataclass
class Piece:
    """The lines one block renders to; ``kind`` is the block type."""

    kind: str
    lines: list[Line]


def _element(el: Any) -> list[Span]:
    if not isinstance(el, dict):
        return []
    kind = el.get("type")
    if kind == "button":
        style = {"primary": {"primary"}, "danger": {"danger"}}.get(str(el.get("style")), set())
        return [Span(f"[{plain_text(tuple(_plain_object(el.get('text'))))}]",
                     frozenset({"b", *style}))]
    if kind == "image":
        return [Span(f"({el.get('alt_text', 'image')})", frozenset({"dim"}))]
    if kind in ("plain_text", "mrkdwn"):
        return _plain_object(el)
    if kind == "overflow":
        return [Span("[⋯]", frozenset({"b"}))]
    chosen = el.get("initial_option") or el.get("initial_value") or el.get("placeholder")
    if isinstance(chosen, dict):  # an option (its text is an object) or a text object
        text = chosen.get("text")
        label = plain_text(tuple(_plain_object(text if isinstance(text, dict) else chosen)))
    else:
        label = str(chosen or kind)
    return [Span(f"[{label} ▾]", frozenset({"b"}))]


def _join(parts: Iterable[list[Span]], sep: str, style: Style = PLAIN) -> Line:
    out: list[Span] = []
    for part in parts:
        if not part:
            continue
        if out:
            out.append(Span(sep, style))
        out += part
    return tuple(out)


def _rich_text(elements: Iterable[Any]) -> list[Line]:
    lines: list[Line] = []
    for el in elements:
        if not isinstance(el, dict):
            continue
        kind = el.get("type")
        if kind == "rich_text_list":
            for n, item in enumerate(el.get("elements") or [], start=1):
                mark = f"{n}. " if el.get("style") == "ordered" else "• "
                for i, line in enumerate(_rich_text([item])):
                    lines.append((Span(mark if i == 0 else " " * len(mark)), *line))
            continue
        spans: list[Span] = []
        for part in el.get("elements") or []:
            if not isinstance(part, dict):
                continue
            flags = part.get("style") or {}
            style = frozenset(k for k, on in
                              (("b", flags.get("bold")), ("i", flags.get("italic")),
                               ("s", flags.get("strike")), ("code", flags.get("code"))) if on)
            if part.get("type") == "text":
                spans.append(Span(str(part.get("text", "")), style))
            elif part.get("type") == "link":
                url, label = str(part.get("url", "")), str(part.get("text") or "")
                spans += _angle(f"{url}|{label}" if label else url, style)
            elif part.get("type") == "user":
                spans.append(Span(f"@{part.get('user_id', '')}", style | {"mention"}))
            elif part.get("type") == "channel":
                spans.append(Span(f"#{part.get('channel_id', '')}", style | {"mention"}))
            elif part.get("type") == "emoji":
                name = str(part.get("name", ""))
                spans.append(Span(EMOJI.get(name, f":{name}:"), style))
        extra = {"rich_text_preformatted": {"code"}, "rich_text_quote": {"dim"}}.get(
            str(kind), set())
        text_lines = "".join(s.text for s in spans).split("\n")
        if len(text_lines) == 1:
            lines.append(styled(tuple(spans), extra))
        else:
            lines += [(Span(t, frozenset(extra)),) for t in text_lines]
    return lines


def block_pieces(blocks: Sequence[Any]) -> list[Piece]:
    pieces: list[Piece] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = str(block.get("type"))
        lines: list[Line] = []
        if kind == "header":
            lines = [tuple(_plain_object(block.get("text"), frozenset({"b", "title"})))]
        elif kind == "divider":
            lines = [(Span("─" * 24, frozenset({"dim"})),)]
        elif kind == "section":
            text = block.get("text")
            if isinstance(text, dict):
                lines = (mrkdwn_lines(str(text.get("text", "")))
                         if text.get("type") == "mrkdwn" else [tuple(_plain_object(text))])
            accessory = _element(block.get("accessory"))
            if accessory:
                last = lines.pop() if lines else ()
                lines.append(_join([list(last), accessory], " "))
            if lines:
                pieces.append(Piece("section", lines))
            fields = [_field(f) for f in block.get("fields") or []]
            if fields:
                pieces.append(Piece("fields", fields))
            continue
        elif kind == "context":
            for el in block.get("elements") or []:
                el_lines = (mrkdwn_lines(str(el.get("text", "")))
                            if isinstance(el, dict) and el.get("type") == "mrkdwn"
                            else [tuple(_element(el))])
                if lines and el_lines:
                    lines[-1] = lines[-1] + (Span("  "),) + el_lines[0]
                    el_lines = el_lines[1:]
                lines += el_lines
            lines = [styled(line, {"dim"}) for line in lines]
        elif kind == "actions":
            lines = [_join((_element(e) for e in block.get("elements") or []), " ")]
        elif kind == "image":
            lines = [(Span(f"[image: {block.get('alt_text', '')}]", frozenset({"dim"})),)]
        elif kind == "rich_text":
            lines = _rich_text(block.get("elements") or [])
        elif kind == "input":
            label = _plain_object(block.get("label"), frozenset({"b"}))
            lines = [_join([label, _element(block.get("element"))], ": ")]
        elif kind == "markdown":
            lines = [(Span(t),) for t in str(block.get("text", "")).split("\n")]
        else:
            lines = [(Span(f"[{kind}]", frozenset({"dim"})),)]
        pieces.append(Piece(kind, lines))
    return pieces


def _field(obj: Any) -> Line:
    """A field (``*key*\\nvalue``) as ``key: value`` on one line."""
    if not isinstance(obj, dict):
        return ()
    if obj.get("type") != "mrkdwn":
        return tuple(_plain_object(obj))
    lines = [line for line in mrkdwn_lines(str(obj.get("text", ""))) if plain_text(line)]
    if not lines:
        return ()
    head, rest = lines[0], lines[1:]
    out: list[Span] = list(head)
    for i, line in enumerate(rest):
        out.append(Span(": " if i == 0 else " "))
        out += line
    return tuple(out)


def message_blocks(message: Mapping[str, Any]) -> tuple[list[Any], str | None]:
    """The blocks Slack shows for a message (its own, then its attachments') and the
    attachment's bar colour. Blocks may arrive JSON-encoded, as in a form post."""
    blocks = list(_json(message.get("blocks")) or [])
    color = None
    for att in _json(message.get("attachments")) or []:
        if not isinstance(att, dict):
            continue
        color = color or att.get("color")
        if att.get("blocks"):
            blocks += list(att["blocks"])
        elif att.get("text") or att.get("fallback"):
            blocks.append({"type": "section", "text": {
                "type": "mrkdwn", "text": str(att.get("text") or att.get("fallback"))}})
    return blocks, color


def _content(params: Mapping[str, Any]) -> dict[str, Any]:
    """What a post or update says: ``text``, ``blocks``, ``attachments`` (decoded)."""
    content = {k: _json(params[k]) for k in ("blocks", "attachments") if k in params}
    if "text" in params:
        content["text"] = params["text"]
    return content


def _json(value: Any) -> Any:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return json.loads(value)
        return None
    return value


# -- compacting -----------------------------------------------------------------------------

_MORE = re.compile(r"…\s*(?:and\s+)?(\d+)\s+more\b\s*(\w+)?")
SECTION_LINES = 10  # a section longer than this is cut to SECTION_KEEP lines in compact mode
SECTION_KEEP = 5
FIELDS_KEEP = 6


def _more(text: str) -> Line:
    return (Span(text, frozenset({"dim"})),)


def cap_lines(lines: list[Line], keep: int = SECTION_KEEP) -> list[Line]:
    """The first ``keep`` lines and "… N more" for the rest; a "… and N more alerts" line of
    the bot's own is folded into the count, other "…" notes are kept."""
    if len(lines) <= keep + 2:
        return lines
    hidden, notes = lines[keep:], []
    count, noun, other = 0, "", False
    for line in hidden:
        text = plain_text(line).strip()
        match = _MORE.match(text)
        if match:
            count += int(match.group(1))
            noun = match.group(2) or noun
        elif text.startswith("…"):
            notes.append(line)
        elif text:
            count += 1
            other = other or not text.startswith("•")
    label = "lines" if other else noun
    return [*lines[:keep], _more(f"… {count} more {label}".rstrip()), *notes]


def _cap_fields(fields: list[Line]) -> list[Line]:
    if len(fields) <= FIELDS_KEEP + 1:
        return fields
    names: list[str] = []
    count = 0
    for line in fields[FIELDS_KEEP:]:
        text = plain_text(line)
        match = re.match(r"\+(\d+) more labels?: (.*)", text)
        if match:
            count += int(match.group(1))
            names += [n.strip() for n in match.group(2).split(",") if n.strip()]
        else:
            count += 1
            names.append(text.split(":", 1)[0])
    return [*fields[:FIELDS_KEEP], _more(f"+{count} more: {', '.join(names)}")]


URL_CUT = 100  # a link target longer than this (a PromQL graph URL) is cut to URL_KEEP
URL_KEEP = 60


def _short_urls(line: Line) -> Line:
    return tuple(Span(f"{s.text[: URL_KEEP + 2]}…)", s.style)
                 if "url" in s.style and len(s.text) > URL_CUT else s for s in line)


def _squeeze(lines: list[Line]) -> list[Line]:
    """No leading, trailing or repeated blank lines."""
    out: list[Line] = []
    for line in lines:
        blank = not plain_text(line).strip()
        if blank and (not out or not plain_text(out[-1]).strip()):
            continue
        out.append(line)
    while out and not plain_text(out[-1]).strip():
        out.pop()
    return out


# -- the view -------------------------------------------------------------------------------


def wants_color(stream: Any, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return _isatty(stream)


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


def terminal_width(stream: Any) -> int:
    """The terminal's width kept within 60–100 columns; 100 when not a terminal."""
    if not _isatty(stream):
        return 100
    return max(60, min(100, shutil.get_terminal_size((100, 24)).columns))


@dataclass
class View:
    """Renders messages and frames them for the terminal."""

    color: bool = False
    width: int = 100

    # -- lines

    def lines(self, message: Mapping[str, Any], *, compact: bool = False) -> list[Line]:
        blocks, _ = message_blocks(message)
        if not blocks:
            return _squeeze(mrkdwn_lines(str(message.get("text") or "")))
        out: list[Line] = []
        for piece in block_pieces(blocks):
            lines = piece.lines
            if piece.kind == "fields":
                if compact:
                    lines = _cap_fields(lines)
                lines = [_join((list(f) for f in lines), " · ", frozenset({"dim"}))]
            elif compact and piece.kind == "section" and len(lines) > SECTION_LINES:
                lines = cap_lines(_squeeze(lines))
            out += lines
        return [_short_urls(line) for line in _squeeze(out)] if compact else out

    def text(self, message: Mapping[str, Any], *, compact: bool = False) -> str:
        """The message as terminal text, wrapped to the width (no frame)."""
        return "\n".join(self.paint(row) for line in self.lines(message, compact=compact)
                         for row in self.wrap(line, self.width))

    # -- painting

    def paint(self, line: Line, extra: Iterable[str] = ()) -> str:
        more = frozenset(extra)
        if not self.color:
            return plain_text(line)
        out = []
        for span in line:
            codes = sorted({_SGR[s] for s in span.style | more if s in _SGR}, key=int)
            out.append(f"\x1b[{';'.join(codes)}m{span.text}\x1b[0m" if codes and span.text
                       else span.text)
        return "".join(out)

    def sgr(self, text: str, *codes: str) -> str:
        return f"\x1b[{';'.join(codes)}m{text}\x1b[0m" if self.color and codes else text

    def wrap(self, line: Line, width: int) -> list[Line]:
        """Greedy word wrap counting terminal cells, with a hanging indent under bullets and
        diff marks; a word wider than the line (a URL) stays whole on its own row."""
        text = plain_text(line)
        if cells(text) <= width:
            return [_merge(list(line))]
        lead = re.match(r"(?:[+-] )?\s*(?:(?:[•◦▪]|\d+\.)\s+)?", text)
        indent = " " * min(cells(lead.group(0)) if lead else 0, width // 2)
        # Words (runs of spans with no space between: "`code`," is one) and the blanks
        # before each.
        items: list[tuple[list[Span], list[Span]]] = []
        pre: list[Span] = []
        word: list[Span] = []
        for span in line:
            for tok in re.split(r"(\s+)", span.text):
                if not tok:
                    continue
                if tok.isspace():
                    if word:
                        items.append((pre, word))
                        pre, word = [], []
                    pre.append(Span(tok, span.style))
                else:
                    word.append(Span(tok, span.style))
        items.append((pre, word))
        rows: list[list[Span]] = [[]]
        used = 0
        for blanks, spans in items:
            need = sum(cells(s.text) for s in (*blanks, *spans))
            if rows[-1] and spans and used + need > width:
                rows.append([Span(indent)])
                used, blanks = len(indent), []
                need = sum(cells(s.text) for s in spans)
            rows[-1] += [*blanks, *spans]
            used += need
        return [_merge(row) for row in rows]

    # -- frames

    def bar(self, color: str | None) -> str:
        return self.sgr("│", _BAR_SGR[_bar_name(color)]) if color else self.sgr("│", "2")

    def frame(self, title: str, body: Sequence[Line], *, color: str | None = None,
              footer: str = "") -> str:
        """``╭─ title`` then the lines behind a bar (the attachment's colour), ``╰─ footer``."""
        bar = self.bar(color)
        out = [self.sgr("╭─ ", "2") + self.sgr(title, "1")]
        for line in body:
            out += [f"{bar} {self.paint(row)}" for row in self.wrap(line, self.width - 2)]
        out.append(self.sgr("╰─" + (f" {footer}" if footer else ""), "2"))
        return "\n".join(out)


def _merge(row: list[Span]) -> Line:
    """Neighbouring spans of one style joined; no trailing blanks."""
    out: list[Span] = []
    for span in row:
        if out and out[-1].style == span.style:
            out[-1] = Span(out[-1].text + span.text, span.style)
        else:
            out.append(span)
    while out and not out[-1].text.rstrip():
        out.pop()
    if out:
        out[-1] = Span(out[-1].text.rstrip(), out[-1].style)
    return tuple(out)


def _bar_name(color: str) -> str:
    if color in _NAMED_BARS:
        return _NAMED_BARS[color]
    match = re.fullmatch(r"#?([0-9a-fA-F]{6})", color.strip())
    if not match:
        return "grey"
    r, g, b = (int(match.group(1)[i : i + 2], 16) for i in (0, 2, 4))
    if max(r, g, b) - min(r, g, b) < 40:
        return "grey"
    palette = {"red": (224, 30, 90), "yellow": (242, 149, 47), "blue": (29, 155, 209),
               "green": (46, 182, 125)}
    return min(palette, key=lambda k: sum((a - c) ** 2 for a, c in zip(palette[k], (r, g, b),
                                                                         strict=True)))


# -- diffs ----------------------------------------------------------------------------------


def _alike(old: str, new: str) -> bool:
    """The same line, changed: mostly the same characters, or one inside the other (a
    button row that lost a button)."""
    short, long = sorted((old.strip(), new.strip()), key=len)
    return (len(short) >= 5 and short in long) or \
        difflib.SequenceMatcher(None, old, new).ratio() >= 0.6


def diff_lines(old: Sequence[Line], new: Sequence[Line]) -> list[Line]:
    """The lines that changed between two renderings: ``- `` removed, ``+ `` added."""
    a, b = [plain_text(x) for x in old], [plain_text(x) for x in new]
    out: list[Line] = []

    # Removed lines in one muted style; added ones keep theirs, undimmed, to stand out.
    def removed(i: int) -> None:
        if a[i].strip():
            out.append((Span("- ", frozenset({"del", "b"})), Span(a[i], frozenset({"del", "dim"}))))

    def added(j: int) -> None:
        if b[j].strip():
            out.append((Span("+ ", frozenset({"add", "b"})),
                        *(Span(s.text, s.style - {"dim"}) for s in new[j])))

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        j = j1
        for i in range(i1, i2) if op != "equal" else ():
            # A changed line is shown next to its new version: "- old" then "+ new".
            like = next((k for k in range(j, j2) if _alike(a[i], b[k])), None)
            if like is None:
                removed(i)
                continue
            for k in range(j, like):
                added(k)
            removed(i)
            added(like)
            j = like + 1
        for k in range(j, j2) if op != "equal" else ():
            added(k)
    return out


# -- following the bot's posts --------------------------------------------------------------

CLICK_VERBS: dict[str, str] = {"incident_ack": "ack", "incident_silence": "silence",
                               "incident_unsilence": "unsilence", "incident_diag": "diag",
                               "incident_resolve": "resolve"}
FOLD_AT = 16  # a thread reply or channel post longer than this shows its first lines


@dataclass
class Seen:
    """A message as last shown: its fields and full lines, for the next edit's diff."""

    message: dict[str, Any]
    lines: list[Line]
    alert: int | None = None  # its number, for an alert card


@dataclass
class Feed:
    """Turns the bot's Web API calls into what the terminal shows: each new message framed
    (alert cards compact, long replies folded), each edit as the lines that changed."""

    view: View
    channel_names: Mapping[str, str] = field(default_factory=dict)
    durations: Sequence[str] = ("1h", "4h", "24h")
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (channel, ts) per alert
    seen: dict[tuple[str, str], Seen] = field(default_factory=dict)
    folded: list[list[Line]] = field(default_factory=list)
    unfolded: set[str] = field(default_factory=set)  # threads shown in full (ts)

    def where(self, channel: Any) -> str:
        cid = str(channel or "?")
        return "#" + self.channel_names[cid] if cid in self.channel_names else cid

    def handle(self, method: str, params: Mapping[str, Any], response: Mapping[str, Any],
               *, ok: bool = True) -> str | None:
        """What to print for one call (None: nothing)."""
        if not ok:
            if method in ("chat.postMessage", "chat.update", "response_url"):
                error = response.get("error", "error")
                return self.view.sgr(f"(Slack refused {method}: {error})", "2")
            return None
        if method == "chat.postMessage":
            return self._posted(params, response)
        if method == "chat.update":
            return self._edited(params)
        if method == "chat.postEphemeral":
            return self._show(f"only you see, in {self.where(params.get('channel'))}",
                              self.view.lines(params), params)
        if method == "response_url":
            if params.get("delete_original"):
                return None
            who = ("seen by the channel" if params.get("response_type") == "in_channel"
                   else "only you see it")
            return self.answer(params, f"answer, {who}")
        return None

    def answer(self, message: Mapping[str, Any], title: str) -> str:
        return self._show(title, self.view.lines(message), message)

    def _posted(self, params: Mapping[str, Any], response: Mapping[str, Any]) -> str:
        channel, ts = str(response.get("channel") or params.get("channel")), str(
            response.get("ts") or "")
        where = self.where(channel)
        message = _content(params)
        full = self.view.lines(message)
        thread = str(params.get("thread_ts") or "")
        verbs = [] if thread else self._verbs(message)
        if "ack" in verbs:  # an alert card: compact, never folded, its buttons as commands
            self.alerts.append((channel, ts))
            number = len(self.alerts)
            self.seen[(channel, ts)] = Seen(dict(message), full, number)
            lines = self.view.lines(message, compact=True)
            hint = self.hint(number, verbs)
            if _texts(lines) != _texts(full):
                hint += f" · show {number}: all of it"
            return self._show(f"alert #{number} posted in {where}", lines, message, footer=hint)
        self.seen[(channel, ts)] = Seen(dict(message), full)
        if thread:
            parent = self._alert_number(channel, thread)
            title = f"reply to alert #{parent} in {where}" if parent else f"thread reply in {where}"
            if thread in self.unfolded:  # a reply to an alert you acted on: all of it
                return self._show(title, full, message)
        else:
            title = f"posted in {where}"
        lines, footer = self._fold(self.view.lines(message, compact=True), full)
        return self._show(title, lines, message, footer=footer)

    def _edited(self, params: Mapping[str, Any]) -> str:
        channel, ts = str(params.get("channel")), str(params.get("ts"))
        before = self.seen.get((channel, ts))
        message = dict(before.message) if before else {}
        message.update(_content(params))
        full = self.view.lines(message)
        number = before.alert if before else self._alert_number(channel, ts)
        self.seen[(channel, ts)] = Seen(message, full, number)
        what = f"alert #{number}" if number else "message"
        title = f"{what} edited in {self.where(channel)}"
        if before is None:
            return self._show(title, self.view.lines(message, compact=True), message)
        changes = diff_lines(before.lines, full)
        if not changes:
            return self.view.sgr(f"╶─ {title}: no visible change", "2")
        if len(changes) > max(12, len(full) // 2):  # mostly new: show it whole
            return self._show(title + " (rewritten)", self.view.lines(message, compact=True),
                              message)
        return self._show(title, changes, message)

    def _show(self, title: str, lines: Sequence[Line], message: Mapping[str, Any],
              footer: str = "") -> str:
        _, color = message_blocks(message)
        return self.view.frame(title, lines, color=color, footer=footer)

    def _fold(self, lines: list[Line], full: list[Line]) -> tuple[list[Line], str]:
        """At most FOLD_AT lines; when anything is left out, the full text is kept for
        ``more K`` and the footer says so."""
        if len(lines) > FOLD_AT:
            keep = FOLD_AT - 4
            lines = [*lines[:keep], _more(f"… {len(lines) - keep} more lines")]
        if _texts(lines) == _texts(full):
            return lines, ""
        self.folded.append(full)
        return lines, f"more {len(self.folded)}: all {len(full)} lines"

    def _alert_number(self, channel: str, ts: str) -> int | None:
        with contextlib.suppress(ValueError):
            return self.alerts.index((channel, ts)) + 1
        return None

    @staticmethod
    def _verbs(message: Mapping[str, Any]) -> list[str]:
        blocks, _ = message_blocks(message)
        ids = [el.get("action_id") for b in blocks if isinstance(b, dict)
               and b.get("type") == "actions" for el in b.get("elements") or []
               if isinstance(el, dict)]
        return [CLICK_VERBS[i] for i in ids if i in CLICK_VERBS]

    def hint(self, number: int, verbs: Sequence[str]) -> str:
        """The demo commands that click this card's buttons: ``ack 1 · diag 1 …``."""
        words = []
        for verb in verbs:
            if verb == "silence":
                words.append(f"silence {number} {'|'.join(self.durations)}")
            else:
                words.append(f"{verb} {number}")
        return "type: " + " · ".join(words) if words else ""

    def current(self, number: int) -> Seen | None:
        """Alert ``number`` (1 = the first) as it reads now."""
        if not 1 <= number <= len(self.alerts):
            return None
        return self.seen.get(self.alerts[number - 1])


# -- the console ----------------------------------------------------------------------------

ERASE_LINE = "\r\x1b[K"


class Console:
    """Thread-safe output that keeps the prompt in sight.

    While the user is at the prompt (:meth:`read`), output from another thread erases the
    prompt line, prints, and draws the prompt again with what the user has typed so far
    (``line_buffer``, readline's buffer when there is one)."""

    def __init__(self, stream: TextIO | None = None, *, color: bool | None = None,
                 width: int | None = None, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = _isatty(self.stream) if tty is None else tty
        self.view = View(color=wants_color(self.stream) if color is None else color,
                         width=width or terminal_width(self.stream))
        self.line_buffer: Callable[[], str] = lambda: ""
        self._lock = threading.RLock()
        self._prompt: str | None = None  # the prompt on screen while reading

    def show(self, text: str) -> None:
        with self._lock:
            redraw = self._prompt is not None and self.tty
            if redraw:
                self.stream.write(ERASE_LINE)
            self.stream.write(text + "\n")
            if redraw:
                self.stream.write(f"{self._prompt}{self.line_buffer()}")
            self.stream.flush()

    def note(self, text: str) -> None:
        """A dim aside (progress, hints)."""
        self.show(self.view.sgr(text, "2"))

    def prompt_text(self, prompt: str) -> str:
        return self.view.sgr(prompt, "1", "36")

    def reading(self, prompt: str | None) -> None:
        """Mark the prompt as on screen (``None``: no longer)."""
        with self._lock:
            self._prompt = prompt

    def read(self, prompt: str = "> ", editor: LineEditor | None = None) -> str:
        """One line from the user; other threads may print meanwhile."""
        shown = self.prompt_text(prompt)
        if editor is None:
            self.reading(shown)
            try:
                return input(shown)
            finally:
                self.reading(None)
        self.line_buffer = editor.readline.get_line_buffer
        # Readline counts the prompt's width: the escape codes are marked as invisible.
        marked = re.sub(r"(\x1b\[[0-9;]*m)", "\x01\\1\x02", shown)
        hook = getattr(editor.readline, "set_pre_input_hook", None)
        if hook is not None:  # the prompt counts as shown once readline has drawn it
            hook(lambda: self.reading(shown))
        else:
            self.reading(shown)
        try:
            return input(marked)
        finally:
            self.reading(None)

    def fit(self) -> None:
        """Follow the terminal's width (it may have been resized)."""
        if self.tty:
            self.view.width = terminal_width(self.stream)


# -- line editing and completion ------------------------------------------------------------


def usage_words(usage: str) -> tuple[list[str], list[str]]:
    """The literal first-argument words and the flags of a usage line such as
    ``/genai gameday [list|start <scenario> [--no-inject]|end|…]``: placeholders
    (``<pod>``, ``[node]``, the value after ``-n``) left out."""
    parts = usage.split(None, 2)
    body = parts[2] if len(parts) > 2 else ""
    body = re.sub(r"<[^<>]*>", " ", body)
    body = re.sub(r"\[([a-z]+)\]", " ", body)
    body = re.sub(r"(?<![\w-])(-\w)\s+[a-z]+", r"\1", body)
    tokens = re.findall(r"(?<![\w-])-{0,2}[a-z0-9][a-z0-9-]*", body)
    words = [t for t in tokens if not t.startswith("-")]
    flags = [t for t in tokens if t.startswith("-")]
    return list(dict.fromkeys(words)), list(dict.fromkeys(flags))


@dataclass
class Completer:
    """Tab completion for the demo's prompt: ``/genai`` subcommands and their arguments, the
    click verbs with alert numbers, the demo's own words."""

    usages: Mapping[str, str]  # subcommand -> usage line
    scenarios: Sequence[str] = ()
    durations: Sequence[str] = ("1h", "4h", "24h")
    alert_count: Callable[[], int] = lambda: 0
    local: Sequence[str] = ("help", "show", "more", "quit")
    readline: Any = None
    _matches: list[str] = field(default_factory=list)

    def candidates(self, before: str, word: str) -> list[str]:
        """Completions of ``word`` after the words in ``before``."""
        words = before.split()
        verbs = list(dict.fromkeys(CLICK_VERBS.values()))
        numbers = [str(n) for n in range(1, self.alert_count() + 1)]
        pool: list[str] = []
        if not words:
            pool = ["/genai", *verbs, *self.local]
        elif words[0] == "/genai":
            pool = list(self.usages) if len(words) == 1 else self._arguments(words[1:])
        elif words[0] in verbs:
            if len(words) == 1:
                pool = [*numbers, "last"] if numbers else []
            elif words[0] == "silence" and len(words) == 2:
                pool = list(self.durations)
        elif words[0] == "show" and len(words) == 1:
            pool = numbers
        elif words[0] in self.usages:
            pool = self._arguments(words)
        return [p for p in dict.fromkeys(pool) if p.startswith(word)]

    def _arguments(self, words: list[str]) -> list[str]:
        usage = self.usages.get(words[0])
        if usage is None:
            return []
        first, flags = usage_words(usage)
        if len(words) == 1:
            return first
        if words[0] == "gameday" and words[1] == "start" and len(words) == 2:
            return list(self.scenarios)
        return flags

    def __call__(self, text: str, state: int) -> str | None:
        """readline's completer protocol."""
        if state == 0:
            rl = self.readline
            before = rl.get_line_buffer()[: rl.get_begidx()] if rl else ""
            self._matches = [m + " " for m in self.candidates(before, text)]
        return self._matches[state] if state < len(self._matches) else None


@dataclass
class LineEditor:
    """readline, set up: history in ``history`` and Tab completion."""

    readline: Any
    history: Path

    def save(self) -> None:
        with contextlib.suppress(OSError):
            self.history.parent.mkdir(parents=True, exist_ok=True)
            self.readline.write_history_file(str(self.history))


def history_path(fallback_dir: Path) -> Path:
    """``~/.genai-bot-demo-history`` (``GENAI_DEMO_HISTORY`` overrides it); under the
    demo's temp dir when home is not writable."""
    if os.environ.get("GENAI_DEMO_HISTORY"):
        return Path(os.environ["GENAI_DEMO_HISTORY"]).expanduser()
    home = Path.home()
    return home / ".genai-bot-demo-history" if os.access(home, os.W_OK) \
        else fallback_dir / "history"


def line_editor(history: Path, completer: Completer | None = None) -> LineEditor | None:
    """Line editing, history and completion with the standard library's readline, or None
    where it is missing (the demo then reads with plain ``input()``)."""
    try:
        import readline
    except ImportError:
        return None
    readline.set_history_length(1000)
    with contextlib.suppress(OSError):
        readline.read_history_file(str(history))
    if completer is not None:
        completer.readline = readline
        readline.set_completer(completer)
        readline.set_completer_delims(" \t\n")
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")
    return LineEditor(readline, history)


# -- start-up -------------------------------------------------------------------------------


@contextlib.contextmanager
def typeahead_held(stream: Any) -> Iterator[None]:
    """Keys typed while the sandbox starts are not echoed into its output: they wait in the
    terminal's queue and show up at the first prompt (no-op off a POSIX terminal)."""
    try:
        import termios
    except ImportError:
        yield
        return
    try:
        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (OSError, ValueError, AttributeError, termios.error):
        yield
        return
    quiet = list(saved)
    quiet[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


def startup_summary(view: View, services: Sequence[tuple[str, str, str]],
                    notes: Sequence[str] = ()) -> str:
    """What runs where, one line each: ``name  address  what``."""
    services = [(n, u.removeprefix("http://"), w) for n, u, w in services]
    name_w = max((len(n) for n, _, _ in services), default=0)
    url_w = max((len(u) for _, u, _ in services), default=0)
    out = [view.sgr("genai-ops-bot demo", "1") + ": the real bot on a local sandbox"]
    for name, url, what in services:
        out.append(f"  {view.sgr(name.ljust(name_w), '1')}  {url.ljust(url_w)}  "
                   + view.sgr(what, "2"))
    out += [view.sgr(n, "2") for n in notes]
    return "\n".join(out)
