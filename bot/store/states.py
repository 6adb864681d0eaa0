"""Every state the store keeps, as a StrEnum: one spelling of each, checked by mypy.

The columns stay plain strings in the schema (:class:`EnumString` converts on the way in and
out), so adding a member needs no migration unless a CHECK constraint names the values.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import Dialect, String, TypeDecorator

from bot.messages import Delivery

__all__ = [
    "ActionKind",
    "Delivery",
    "DrillEventKind",
    "DrillStatus",
    "EnumString",
    "IncidentStatus",
    "OutboxState",
    "PromptStatus",
]


class IncidentStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class OutboxState(StrEnum):
    PENDING = "pending"  # waiting to be claimed (possibly not yet due)
    SENDING = "sending"  # claimed by a worker until claimed_until
    DONE = "done"  # delivered (or dropped on purpose)
    DEAD = "dead"  # given up: a permanent error or max_attempts

    @property
    def finished(self) -> bool:
        return self in (OutboxState.DONE, OutboxState.DEAD)


class ActionKind(StrEnum):
    """What the audit log records, for incidents and drills."""

    ACK = "ack"
    SILENCE = "silence"
    UNSILENCE = "unsilence"
    RESOLVE = "resolve"
    DIAG = "diag"
    ESCALATE = "escalate"  # the bot, by policy: user_id "bot", detail: step and who
    FINDINGS = "findings"  # a postmortem's findings and action items
    SILENCE_EXTEND = "silence_extend"  # any Alertmanager silence, from /genai silences
    SILENCE_EXPIRE = "silence_expire"

    @property
    def verb(self) -> str:
        """As in "Only responders may <verb> alerts"."""
        return {ActionKind.ACK: "acknowledge", ActionKind.DIAG: "run diagnostics on",
                ActionKind.FINDINGS: "add postmortem findings to"}.get(self, self.value)


class DrillStatus(StrEnum):
    RUNNING = "running"
    ENDED = "ended"


class PromptStatus(StrEnum):
    POSTED = "posted"
    STARTED = "started"
    SKIPPED = "skipped"
    MISSED = "missed"  # the run passed while no replica was up (gameday.missed: skip)


class DrillEventKind(StrEnum):
    STARTED = "started"
    INJECTED = "injected"
    INJECT_FAILED = "inject_failed"
    JOINED = "joined"
    DIAG = "diag"
    FINDINGS = "findings"
    ACTION_ITEM_DONE = "action_item_done"
    ENDED = "ended"


class EnumString(TypeDecorator[Any]):
    """A ``String`` column read back as a member of ``enum``."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)
