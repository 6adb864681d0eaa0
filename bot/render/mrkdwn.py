"""Escaping for Slack mrkdwn. Every piece of label, annotation or user text passes here."""

from __future__ import annotations

_ZWSP = "\u200b"
_TABLE = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        # A zero-width space after a formatting character keeps `*x*`, `_x_`, `~x~` and
        # backticks in a label from turning the rest of the message bold or into code.
        "*": "*" + _ZWSP,
        "_": "_" + _ZWSP,
        "~": "~" + _ZWSP,
        "`": "`" + _ZWSP,
    }
)


def escape(text: str) -> str:
    """Make untrusted text inert in mrkdwn: no pings (<!channel>, <@U…>), links or formatting."""
    return text.translate(_TABLE)


def escape_code(text: str) -> str:
    """Inside a ``` block formatting is off, but &, < and > are still parsed, and a run of
    backticks would close the block early."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("```", "`" + _ZWSP + "`" + _ZWSP + "`")
    )


def truncate(text: str, limit: int, marker: str = "…") -> str:
    return text if len(text) <= limit else text[: max(0, limit - len(marker))] + marker
