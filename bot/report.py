"""The sink-neutral result of every command.

Commands build a `Report`; `bot.render.blocks` turns it into Block Kit and `bot.render.text`
into plain text. Every string here is *plain text*: renderers escape it for their sink, so a
label value such as ``<!channel>`` can never become markup.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Status(StrEnum):
    OK = "ok"
    INFO = "info"  # worth reading, neither good nor bad (an info-severity alert)
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """Severity order used to sort rows and pick a report's overall status."""
        return _RANK[self]


_RANK = {Status.FAIL: 3, Status.UNKNOWN: 2, Status.WARN: 1, Status.INFO: 0, Status.OK: 0}


class Row(BaseModel):
    """One check: what was measured, against what, and how it went."""

    check: str
    status: Status
    value: str = ""
    threshold: str = ""
    detail: str = ""


class Option(BaseModel):
    """One choice of a menu: what it says, and its opaque value."""

    label: str
    value: str


class Action(BaseModel):
    """A button. `value` is an opaque id, never data the handler trusts. With `options` it
    is a menu instead (`label` its placeholder): picking one is the click."""

    action_id: str
    label: str
    value: str = ""
    style: str | None = None  # "primary" | "danger" | None
    options: list[Option] = Field(default_factory=list)


class Section(BaseModel):
    title: str = ""
    rows: list[Row] = Field(default_factory=list)
    lines: list[str] = Field(default_factory=list)
    code: str | None = None
    actions: list[Action] = Field(default_factory=list)  # about this section alone


class Report(BaseModel):
    title: str
    summary: str = ""
    sections: list[Section] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    footer: str = ""
    # Only the asker sees it: usage, refusals, errors. Reports for the team are public.
    private: bool = False

    @property
    def rows(self) -> list[Row]:
        return [row for section in self.sections for row in section.rows]

    @property
    def status(self) -> Status:
        """The worst status of any row, or OK for a report without rows."""
        rows = self.rows
        return max((r.status for r in rows), key=lambda s: s.rank) if rows else Status.OK

    @classmethod
    def message(cls, title: str, *lines: str, private: bool = True) -> Report:
        """A report that is only text: usage, refusals, confirmations."""
        return cls(title=title, sections=[Section(lines=list(lines))], private=private)
