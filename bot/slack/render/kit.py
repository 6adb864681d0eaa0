"""Small Block Kit pieces every Slack renderer shares: the limits, escaping to size, links,
mentions, code.

Everything from Alertmanager (labels, annotations, URLs) and every user id is untrusted: text
passes :func:`~bot.slack.render.mrkdwn.escape`, commands and snippets the code escapes, URLs
:func:`safe_url` (http/https only, ``|<>`` and spaces percent-encoded, ``&`` as an entity), and
a user id becomes a mention only when it looks like a Slack user id. The only ``<…>`` in the
output are the links and mentions built here. Lengths are counted in UTF-16 units, as Slack
counts them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from bot.slack.render.mrkdwn import entities, escape, escape_code, truncate

# -- Slack limits (Block Kit reference) ------------------------------------------------------
MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_CONTEXT = 3000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_CONFIRM_TEXT = 300
MAX_URL = 2000
MAX_FALLBACK = 300
# Room left in a section for the pieces added around escaped text.
SECTION_BUDGET = MAX_SECTION - 100

_USER_ID = re.compile(r"[UW][A-Z0-9]{1,31}")
_DURATION_TOKEN = re.compile(r"(\d{1,4})([smhd])")
_DURATION_IN_TEXT = re.compile(r"\b(\d{1,4})([smhd])\b")
_URL_SAFE_CHARS = "/:?#[]@!$&'()*+,;=%~-._"
_HTTP_URL = re.compile(r"https?://[^/?#\s]", re.IGNORECASE)

Block = dict[str, Any]




def u16(text: str) -> int:
    """Length as Slack counts it (UTF-16 code units: an emoji outside the BMP counts 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def fit(text: str, limit: int, marker: str = "…") -> str:
    """Cut already-rendered mrkdwn to ``limit`` UTF-16 units without leaving half an entity
    (``&am``) or half a link or mention (``<https://…``) behind."""
    if u16(text) <= limit:
        return text
    budget = limit - u16(marker)
    used = 0
    cut = 0
    for index, ch in enumerate(text):
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > budget:
            cut = index
            break
        used += width
    head = text[:cut]
    amp = head.rfind("&")
    if amp >= 0 and ";" not in head[amp:] and len(head) - amp <= 6:
        head = head[:amp]
    if head.rfind("<") > head.rfind(">"):
        head = head[: head.rfind("<")]
    return head + marker


def esc(text: str, limit: int) -> str:
    """Untrusted text escaped for mrkdwn, at most ``limit`` UTF-16 units once escaped."""
    return fit(escape(truncate(text, limit)), limit)


def one_line(text: str) -> str:
    return " ".join(text.split())


def mention(user_id: str | None) -> str:
    """``<@U…>`` for a Slack user id; anything else is shown as escaped text, never a ping."""
    if not user_id:
        return "someone"
    if _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return esc(one_line(user_id), 64) or "someone"


def code_span(text: str, limit: int = 400) -> str:
    """Inline code: one line, ``&<>`` escaped (Slack parses them even in code), backticks
    replaced (one would close the span). Formatting characters stay as typed, so the command
    copies cleanly."""
    body = truncate(one_line(text), limit)
    body = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    body = fit(body.replace("`", "ˋ"), limit)
    return f"`{body}`" if body else ""


def code_block(text: str, limit: int = SECTION_BUDGET) -> str:
    """A ``` block, escaped for code (see :func:`~bot.render.mrkdwn.escape_code`)."""
    body = fit(escape_code(truncate(text.strip("\n"), limit)), limit)
    if body.startswith("`"):
        body = " " + body
    if body.endswith("`"):
        body = body + " "
    return f"```{body or ' '}```"


def safe_url(url: str | None) -> str | None:
    """``url`` ready for Slack's ``<url|label>`` syntax, or None when it must not be linked:
    only absolute http/https URLs, at most 2000 characters. Spaces, ``|``, ``<``, ``>``,
    backticks and non-ASCII are percent-encoded and ``&`` becomes ``&amp;``."""
    if not url:
        return None
    raw = url.strip()
    quoted = quote(raw, safe=_URL_SAFE_CHARS)
    if not _HTTP_URL.match(quoted):
        return None
    try:
        parts = urlsplit(quoted)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    linked = quoted.replace("&", "&amp;")
    return linked if len(linked) <= MAX_URL else None


def link(url: str | None, label: str) -> str | None:
    safe = safe_url(url)
    return f"<{safe}|{label}>" if safe else None


def prometheus_url(url: str, external: str | None) -> str:
    """Point a generatorURL at Prometheus' external URL: rules often run where the
    generatorURL names an in-cluster host (``http://prometheus-0:9090/graph?g0.expr=…``)."""
    if not external or not _HTTP_URL.match(url.strip()):
        return url
    try:
        parts = urlsplit(url.strip())
        base = urlsplit(external.strip())
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or base.scheme.lower() not in (
        "http",
        "https",
    ):
        return url
    if not base.netloc:
        return url
    page = parts.path.rsplit("/", 1)[-1] or "graph"
    path = base.path.rstrip("/") + "/" + page
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


def duration_label(token: str) -> str:
    """``4h`` -> ``4 h``; anything else unchanged."""
    match = _DURATION_TOKEN.fullmatch(token)
    return f"{match.group(1)} {match.group(2)}" if match else token


def silence_value(public_id: str, duration: str) -> str:
    """The Silence select's option value: ``"<public_id>|<duration>"``."""
    return f"{public_id}|{duration}"


def parse_silence_value(value: str) -> tuple[str, str]:
    """``"<public_id>|4h"`` -> ``("<public_id>", "4h")``; ValueError for anything else."""
    public_id, sep, duration = value.partition("|")
    if not sep or not public_id or not _DURATION_TOKEN.fullmatch(duration):
        raise ValueError(f"bad silence value {value!r}")
    return public_id, duration


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit(text, MAX_SECTION)}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(text, MAX_CONTEXT)}]}


def plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object: shown without formatting, but its entities are still decoded, so
    ``&<>`` are escaped too (and cut to size without splitting one)."""
    return {"type": "plain_text", "text": fit(entities(text), limit) or "-", "emoji": True}


def button(action_id: str, label: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": plain(label, MAX_BUTTON_TEXT),
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style:
        button["style"] = style
    return button
