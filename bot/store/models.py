"""ORM schema of the durable store (SQLAlchemy 2 typed declarative); the declarative base
and its column types (aware-UTC datetimes, JSONB on PostgreSQL) are in :mod:`bot.store.base`.

The "one open incident per alert group" rule is a plain unique index on
``(fingerprint_hash, open_marker)``: ``open_marker`` is 1 while the incident fires and NULL once
it is resolved, and NULLs never collide in a unique index on SQLite or PostgreSQL. The index is
on the sha256 of the groupKey rather than the groupKey text itself, because a groupKey has no
length bound and PostgreSQL refuses btree entries above ~2.7 kB.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

# Re-exported: the migrations' env and the stores import them from here.
from bot.store.base import Base as Base
from bot.store.base import UTCDateTime as UTCDateTime
from bot.store.states import (
    ActionKind,
    Delivery,
    DrillEventKind,
    DrillStatus,
    EnumString,
    IncidentStatus,
    OutboxState,
    PromptStatus,
)
from bot.times import as_utc, utcnow


def tta_seconds(acked_at: datetime, began_at: datetime) -> float:
    """Time to acknowledge, never negative (a clock skew between Alertmanager and us)."""
    return max(0.0, (as_utc(acked_at) - as_utc(began_at)).total_seconds())


class Incident(Base):
    """One alert group episode: from first firing to resolve. A re-fire is a new row."""

    __tablename__ = "incidents"
    __table_args__ = (
        # One open incident per alert group (NULL open_marker = resolved, never collides).
        Index("uq_incidents_open_group", "fingerprint_hash", "open_marker", unique=True),
        UniqueConstraint("fingerprint_hash", "generation"),
        CheckConstraint(
            "(status = 'firing' AND open_marker = 1) OR "
            "(status = 'resolved' AND open_marker IS NULL)",
            name="status_open_marker",
        ),
        Index("ix_incidents_opened_at", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    group_key: Mapped[str] = mapped_column(Text)
    fingerprint_hash: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[IncidentStatus] = mapped_column(EnumString(IncidentStatus, 16))
    open_marker: Mapped[int | None] = mapped_column(Integer)
    alertname: Mapped[str] = mapped_column(String(255))
    severity: Mapped[str | None] = mapped_column(String(64))
    receiver: Mapped[str] = mapped_column(String(255), default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channel: Mapped[str] = mapped_column(String(255))
    slack_ts: Mapped[str | None] = mapped_column(String(64))
    thread_ts: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    # Alertmanager's own times: the group's earliest startsAt and the resolved notification's
    # latest endsAt. Durations run from these; opened_at and resolved_at (when the bot heard)
    # stand in only where Alertmanager sent none.
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    acked_by: Mapped[str | None] = mapped_column(String(64))
    acked_at: Mapped[datetime | None] = mapped_column()
    silence_id: Mapped[str | None] = mapped_column(String(128))
    silenced_until: Mapped[datetime | None] = mapped_column()
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    # In a storm the incident is counted in its channel's digest instead of posted alone.
    digest_id: Mapped[int | None] = mapped_column(
        ForeignKey("digests.id", ondelete="SET NULL"), index=True
    )
    # The postmortem's, as a drill has them (see Drill).
    findings: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))
    action_items: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))

    @property
    def is_open(self) -> bool:
        return self.status is IncidentStatus.FIRING

    @property
    def began_at(self) -> datetime:
        """When the alert started firing (startsAt), else when the bot heard of it."""
        return self.started_at or self.opened_at

    @property
    def finished_at(self) -> datetime | None:
        """When it stopped firing (endsAt), else when it was resolved; None while open."""
        if self.is_open:
            return None
        return self.ended_at or self.resolved_at

    @property
    def tta_s(self) -> float | None:
        """Time to acknowledge in seconds (from startsAt), or None while unacknowledged."""
        if self.acked_at is None:
            return None
        return tta_seconds(self.acked_at, self.began_at)

    def mark_firing(self) -> None:
        self.status = IncidentStatus.FIRING
        self.open_marker = 1

    def mark_resolved(self, at: datetime, by: str | None = None) -> None:
        self.status = IncidentStatus.RESOLVED
        self.open_marker = None
        self.resolved_at = at
        self.resolved_by = by


class AlertEvent(Base):
    """One received Alertmanager notification. Duplicates (retries, HA peers) collide."""

    __tablename__ = "alert_events"
    __table_args__ = (UniqueConstraint("incident_id", "payload_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[IncidentStatus] = mapped_column(EnumString(IncidentStatus, 16))
    payload_hash: Mapped[str] = mapped_column(String(64))
    alerts: Mapped[list[Any]] = mapped_column(default=list)
    truncated_alerts: Mapped[int] = mapped_column(Integer, default=0)


class Action(Base):
    """The audit log: who did what, when, and whether it was allowed."""

    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_incident_id", "incident_id"),
        Index("ix_actions_drill_id", "drill_id"),
        Index("ix_actions_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL")
    )
    drill_id: Mapped[int | None] = mapped_column(ForeignKey("drills.id", ondelete="SET NULL"))
    kind: Mapped[ActionKind] = mapped_column(EnumString(ActionKind, 32))
    user_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)


class Outbox(Base):
    """Slack messages to deliver. ``dedupe_key`` makes enqueueing idempotent."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending', 'sending', 'done', 'dead')", name="state"
        ),
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_outbox_incident_id", "incident_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL")
    )
    kind: Mapped[Delivery] = mapped_column(EnumString(Delivery, 32))
    channel: Mapped[str] = mapped_column(String(255))
    # A typed message (bot.messages.OutboxMessage) as JSON, never Block Kit.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[OutboxState] = mapped_column(EnumString(OutboxState, 16),
                                               default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column()
    slack_ts: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()


class Escalation(Base):
    """An escalation step that fired for an incident. The unique (incident, step) pair is
    the claim: the replica whose insert succeeds notifies, once, also across restarts."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("incident_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    fired_at: Mapped[datetime] = mapped_column()
    notified: Mapped[list[Any]] = mapped_column(default=list)  # the ids mentioned


class Digest(Base):
    """A channel's storm digest: one message counting the incidents that arrived too fast
    to post one by one, edited in place, closed when the storm subsides."""

    __tablename__ = "digests"
    __table_args__ = (
        # One open digest per channel (NULL open_marker = closed, never collides).
        Index("uq_digests_open_channel", "channel", "open_marker", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(255))
    open_marker: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column()
    last_incident_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    slack_ts: Mapped[str | None] = mapped_column(String(64))


class ChannelPace(Base):
    """When a channel may take its next message: the one-a-second pace held for the whole
    deployment, not per replica."""

    __tablename__ = "channel_pace"

    channel: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_at: Mapped[datetime] = mapped_column()


class Drill(Base):
    """A Game Day drill."""

    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    scenario: Mapped[str] = mapped_column(String(64))
    status: Mapped[DrillStatus] = mapped_column(EnumString(DrillStatus, 16))
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL")
    )
    findings: Mapped[list[Any]] = mapped_column(default=list)
    action_items: Mapped[list[Any]] = mapped_column(default=list)
    scheduled_job: Mapped[str | None] = mapped_column(String(128))


class DrillEvent(Base):
    """A timeline entry of a drill: detected, acked, diagnosed, resolved, note, ..."""

    __tablename__ = "drill_events"
    __table_args__ = (Index("ix_drill_events_drill_id", "drill_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id", ondelete="CASCADE"))
    kind: Mapped[DrillEventKind] = mapped_column(EnumString(DrillEventKind, 32))
    user_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SlackEvent(Base):
    """Processed Slack ``event_id`` values (Slack retries events)."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class SchedulerRun(Base):
    """One row per fired (job, scheduled_for): the primary key makes each run fire once."""

    __tablename__ = "scheduler_runs"

    job: Mapped[str] = mapped_column(String(128), primary_key=True)
    scheduled_for: Mapped[datetime] = mapped_column(primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(128))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lease(Base):
    """A named lease (e.g. the scheduler leader) held until ``expires_at``."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column()


class GamedayPrompt(Base):
    """A scheduled drill prompt posted to the drill channel (Join / Start now / Skip).
    ``missed`` rows record a run skipped while the bot was down (missed: skip)."""

    __tablename__ = "gameday_prompts"
    __table_args__ = (UniqueConstraint("job", "scheduled_for"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    job: Mapped[str] = mapped_column(String(128))
    scheduled_for: Mapped[datetime] = mapped_column()
    scenario: Mapped[str] = mapped_column(String(64))
    status: Mapped[PromptStatus] = mapped_column(EnumString(PromptStatus, 16))
    joined: Mapped[list[Any]] = mapped_column(default=list)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    drill_id: Mapped[int | None] = mapped_column(ForeignKey("drills.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DrillSlot(Base):
    """At most one running drill: starting inserts the slot row, ending deletes it, so two
    replicas (or two admins) cannot start drills at once."""

    __tablename__ = "drill_slots"

    slot: Mapped[str] = mapped_column(String(32), primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id", ondelete="CASCADE"))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelSender(Base):
    """A sender (bot or app id) whose posts in the alert channels are Alertmanager's, learned
    on first sight in channel mode when none is configured."""

    __tablename__ = "channel_senders"

    sender_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(255))
    learned_at: Mapped[datetime] = mapped_column(default=utcnow)
