"""Alertmanager's default Slack subject, read back: ``[FIRING:n] <group label values>
(<other common label values>)`` or ``[RESOLVED] …``.

The subject carries label values without their names; see :mod:`bot.alerts.channel` for what
the parse keeps. Values are split on single spaces (a value containing a space cannot be
told apart), at most :data:`MAX_VALUES` of them per part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Status = Literal["firing", "resolved"]

TITLE_LIMIT = 1024  # Alertmanager cuts `title` to this many characters, ending with "…"
MAX_VALUES = 128  # label values kept per part of a subject; real label sets are far smaller

_SUBJECT = re.compile(r"\[(?:FIRING:([0-9]{1,9})|(RESOLVED))\] ?(.*)", re.DOTALL)


@dataclass(frozen=True)
class Subject:
    status: Status
    count: int | None
    group: tuple[str, ...]
    common: tuple[str, ...]
    truncated: bool
    text: str


# -- recognising and parsing -------------------------------------------------------------


def _split_values(part: str) -> tuple[tuple[str, ...], bool]:
    """Values joined by single spaces (a value containing a space cannot be told apart), at
    most MAX_VALUES of them; True when there were more."""
    if not part:
        return (), False
    values = part.split(" ", MAX_VALUES)
    return tuple(values[:MAX_VALUES]), len(values) > MAX_VALUES


def _subject(
    status: Status,
    count: int | None,
    text: str,
    group_part: str,
    common_part: str,
    *,
    cut: Literal["group", "common"] | None = None,
) -> Subject:
    """`cut`: the part in which the text ends inside a value (a title cut at 1024 characters);
    that partial value is dropped."""
    group, group_over = _split_values(group_part)
    common, common_over = _split_values(common_part)
    if cut == "group" and not group_over:
        group = group[:-1]
    elif cut == "common" and not common_over:
        common = common[:-1]
    truncated = cut is not None or group_over or common_over
    return Subject(status, count, group, common, truncated, text)


def _open_paren(rest: str) -> int | None:
    """Index of the "(" opening the common-label part that ends `rest`, else None.

    Matched from the end so that values with balanced parentheses, e.g. `OOMKilled (exit
    137)`, stay whole; when the parentheses do not balance, the first " (" is taken.
    """
    depth = 0
    for i in range(len(rest) - 1, -1, -1):
        char = rest[i]
        if char == ")":
            depth += 1
        elif char == "(":
            depth -= 1
            if depth == 0:
                if i == 0 or rest[i - 1] == " ":
                    return i
                break
    first = rest.find(" (")
    return first + 1 if first >= 0 else (0 if rest.startswith("(") else None)


def parse_subject(text: str, *, may_be_cut: bool) -> Subject | None:
    """Alertmanager's default subject: `[FIRING:n] <group values> (<other common values>)`."""
    match = _SUBJECT.fullmatch(text)
    if match is None:
        return None
    count_text, resolved, rest = match.groups()
    status: Status = "resolved" if resolved else "firing"
    count = int(count_text) if count_text is not None else None
    if may_be_cut and len(text) >= TITLE_LIMIT and text.endswith("…"):
        rest = rest[:-1]
        paren = rest.find(" (")
        if paren < 0:  # the cut fell inside the group values
            return _subject(status, count, text, rest, "", cut="group")
        return _subject(status, count, text, rest[:paren], rest[paren + 2 :], cut="common")
    if rest.endswith(")"):
        paren = _open_paren(rest)
        if paren is not None:
            group_part = rest[: max(paren - 1, 0)]
            return _subject(status, count, text, group_part, rest[paren + 1 : -1])
    # No extra common labels: the group values, then the template's trailing space.
    return _subject(status, count, text, rest[:-1] if rest.endswith(" ") else rest, "")
