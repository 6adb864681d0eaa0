"""Escaping for Slack mrkdwn. Every piece of label, annotation or user text passes here."""

from __future__ import annotations

import re

_ZWSP = "\u200b"
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# Slack styles `*x*`, `_x_`, `~x~` only where the marker touches a word boundary, so a
# marker run between two word characters (DCGM_FI_DEV_FB_USED, GENAI_DIAG__EXEC_ENABLED) is
# inert and stays as typed, copy-paste intact. Anywhere else a zero-width space after each
# marker breaks the pairing. Backticks open code spans anywhere: always neutralised.
_MARKERS = re.compile(r"`|[*_~]+")
_WORD = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _break(m: re.Match[str]) -> str:
    text, start, end = m.string, m.start(), m.end()
    inside_word = (m.group(0) != "`" and start > 0 and end < len(text)
                   and text[start - 1] in _WORD and text[end] in _WORD)
    return m.group(0) if inside_word else "".join(ch + _ZWSP for ch in m.group(0))


def entities(text: str) -> str:
    """``&``, ``<`` and ``>`` as entities, nothing else: for plain_text fields, which Slack
    shows without formatting but still decodes these three (a raw ``<!channel>`` must never
    reach it)."""
    return text.translate(_ENTITIES)


def escape(text: str) -> str:
    """Make untrusted text inert in mrkdwn: no pings (<!channel>, <@U…>), links or formatting."""
    return _MARKERS.sub(_break, text.translate(_ENTITIES))


def escape_code(text: str) -> str:
    """Inside a ``` block formatting is off, but &, < and > are still parsed, and a run of
    backticks would close the block early."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("```", "`" + _ZWSP + "`" + _ZWSP + "`")
    )


def truncate(text: str, limit: int, marker: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(marker))] + marker
