"""What the outbox carries: typed, sink-neutral messages.

A row holds one of these as JSON. The Slack layer renders it at send time (one table in
:mod:`bot.slack.render.table`), so an edit shows the incident as it is then, and nothing
here knows Block Kit. A new kind of message is a new model here and a row in that table.

Each message says how it is delivered (:attr:`delivery`): a new post, an edit, or a reply
in its incident's thread.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from bot.report import Report


class Delivery(StrEnum):
    """How an outbox row reaches Slack (the row's ``kind`` column)."""

    POST = "post"  # a new message (into the incident's thread when it is anchored in one)
    UPDATE = "update"  # an edit of the incident's (or the message's) own message
    THREAD_REPLY = "thread_reply"  # a reply under the incident's thread


class NoteKind(StrEnum):
    """A short line in an incident's thread."""

    RUNBOOK = "runbook"  # the full runbook, under a new incident
    RESOLVED = "resolved"  # the incident resolved (Alertmanager or a person)
    ACK = "ack"
    SILENCE = "silence"
    UNSILENCE = "unsilence"
    ESCALATED = "escalated"  # an escalation step: the mentions are in ``detail``


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    delivery: ClassVar[Delivery]

    @property
    def edit_ts(self) -> str | None:
        """The message an UPDATE edits, when it is not the incident's own."""
        return None


class IncidentPost(_Message):
    """The incident's card: posted once, when the incident opens."""

    type: Literal["incident_post"] = "incident_post"
    delivery: ClassVar[Delivery] = Delivery.POST
    incident: str


class IncidentUpdate(_Message):
    """The incident's card again, as it is now (acknowledged, silenced, resolved, refreshed)."""

    type: Literal["incident_update"] = "incident_update"
    delivery: ClassVar[Delivery] = Delivery.UPDATE
    incident: str


class ThreadNote(_Message):
    """A note in the incident's thread: who did what (``detail`` is plain text)."""

    type: Literal["thread_note"] = "thread_note"
    delivery: ClassVar[Delivery] = Delivery.THREAD_REPLY
    incident: str
    note: NoteKind
    user: str = ""
    detail: str = ""
    # An escalation's mentions: usergroup S…, user U…/W… ids, and "channel" for @channel.
    mentions: tuple[str, ...] = ()


class Diagnosis(_Message):
    """Run diagnostics' answer in the incident's thread. ``report`` is the scenario's
    findings as they were at click time (a Slack retry never re-runs it); None means the
    runbook's steps instead, with ``missing_label`` saying why no scenario ran."""

    type: Literal["diagnosis"] = "diagnosis"
    delivery: ClassVar[Delivery] = Delivery.THREAD_REPLY
    incident: str
    user: str
    report: Report | None = None
    missing_label: str = ""


class ReportPost(_Message):
    """A report posted on its own (a drill's briefing or its scored report)."""

    type: Literal["report_post"] = "report_post"
    delivery: ClassVar[Delivery] = Delivery.POST
    report: Report


class DrillPrompt(_Message):
    """A scheduled drill's prompt, with Join / Start now / Skip."""

    type: Literal["drill_prompt"] = "drill_prompt"
    delivery: ClassVar[Delivery] = Delivery.POST
    prompt: str  # the prompt's public id
    title: str
    job: str
    scheduled_for: datetime
    late: bool = False


class PromptClosed(_Message):
    """The prompt, edited once decided: its buttons go, the outcome shows."""

    type: Literal["prompt_closed"] = "prompt_closed"
    delivery: ClassVar[Delivery] = Delivery.UPDATE
    prompt: str
    title: str
    outcome: str
    ts: str

    @property
    def edit_ts(self) -> str | None:
        return self.ts


class DigestPost(_Message):
    """A channel's storm digest, posted once when it opens (``digest``: its public id)."""

    type: Literal["digest_post"] = "digest_post"
    delivery: ClassVar[Delivery] = Delivery.POST
    digest: str


class DigestUpdate(_Message):
    """The digest again, as it is now (more incidents, acknowledged, closed). ``ts`` is the
    digest's message, known once the post went out."""

    type: Literal["digest_update"] = "digest_update"
    delivery: ClassVar[Delivery] = Delivery.UPDATE
    digest: str
    ts: str

    @property
    def edit_ts(self) -> str | None:
        return self.ts


OutboxMessage = Annotated[
    IncidentPost | IncidentUpdate | ThreadNote | Diagnosis | ReportPost | DrillPrompt
    | PromptClosed | DigestPost | DigestUpdate,
    Field(discriminator="type"),
]
MESSAGE: TypeAdapter[OutboxMessage] = TypeAdapter(OutboxMessage)


def dump(message: OutboxMessage) -> dict[str, object]:
    return message.model_dump(mode="json")


def load(payload: object) -> OutboxMessage:
    """The message in a row's payload; pydantic's ValidationError if it is not one."""
    return MESSAGE.validate_python(payload)
