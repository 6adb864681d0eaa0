"""Alertmanager's own times on incidents, and typed outbox messages.

- ``incidents.started_at`` / ``ended_at``: the group's earliest ``startsAt`` and the resolved
  notification's latest ``endsAt``, so "firing for" and "resolved after" are Alertmanager's
  figures rather than when the bot heard. Backfilled from each incident's first and last
  notification.
- ``channel_senders``: the bot or app ids trusted as Alertmanager in channel mode.
- Outbox payloads become typed messages (``bot.messages``). Rows written by 0.1 are
  converted; Game Day rows held ready-made Block Kit, which is no longer stored: a finished
  one keeps an empty payload, and one still waiting is given up (``dead``, with the reason)
  rather than sent in a shape this version cannot render.

Self-contained on purpose: it must keep converting what 0.1 wrote, whatever the models become.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOTES = {"runbook", "resolved", "ack", "silence", "unsilence"}
_DROPPED = "dropped by the 0003 upgrade: Game Day messages are no longer stored as Block Kit"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


_outbox = sa.table(
    "outbox", sa.column("id", sa.Integer), sa.column("kind", sa.String),
    sa.column("payload", _json()), sa.column("state", sa.String),
    sa.column("last_error", sa.Text),
)
_incidents = sa.table(
    "incidents", sa.column("id", sa.Integer), sa.column("status", sa.String),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("ended_at", sa.DateTime(timezone=True)),
)
_events = sa.table(
    "alert_events", sa.column("id", sa.Integer), sa.column("incident_id", sa.Integer),
    sa.column("status", sa.String), sa.column("alerts", _json()),
)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or value.startswith("0001-"):
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # Go prints nine fractional digits, Python reads six
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _times(alerts: Any, key: str) -> list[datetime]:
    if not isinstance(alerts, list):
        return []
    found = (_time(a.get(key)) for a in alerts if isinstance(a, Mapping))
    return [t for t in found if t is not None]


def _typed(kind: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """The 0.1 payload as a typed message; None when it cannot be one."""
    pid = payload.get("incident")
    if not isinstance(pid, str):
        return None
    if kind == "post":
        return {"type": "incident_post", "incident": pid}
    if kind == "update":
        return {"type": "incident_update", "incident": pid}
    note = payload.get("note") or "resolved"  # 0.1's resolution reply carried no note
    if note == "diag":
        return {"type": "diagnosis", "incident": pid, "user": str(payload.get("user", "")),
                "report": payload.get("report"),
                "missing_label": str(payload.get("missing") or "")}
    if note in _NOTES:
        return {"type": "thread_note", "incident": pid, "note": note,
                "user": str(payload.get("user") or ""),
                "detail": str(payload.get("detail") or "")}
    return None


def _convert_outbox(conn: sa.Connection) -> None:
    rows = conn.execute(sa.select(_outbox.c.id, _outbox.c.kind, _outbox.c.payload,
                                  _outbox.c.state)).all()
    for row in rows:
        payload = row.payload if isinstance(row.payload, Mapping) else {}
        if "type" in payload:
            continue
        waiting = row.state in ("pending", "sending")
        values: dict[str, Any]
        if payload.get("gameday"):
            values = {"payload": {}}
            if waiting:
                values.update(state="dead", last_error=_DROPPED)
        else:
            typed = _typed(str(row.kind), payload)
            if typed is None:
                continue  # not a 0.1 shape: the worker gives it up with the reason
            values = {"payload": typed}
        conn.execute(sa.update(_outbox).where(_outbox.c.id == row.id).values(**values))


def _backfill_times(conn: sa.Connection) -> None:
    first = sa.select(sa.func.min(_events.c.id)).group_by(_events.c.incident_id)
    last = sa.select(sa.func.max(_events.c.id)).group_by(_events.c.incident_id)
    for incident_id, alerts in conn.execute(
            sa.select(_events.c.incident_id, _events.c.alerts).where(_events.c.id.in_(first))):
        starts = _times(alerts, "startsAt")
        if starts:
            conn.execute(sa.update(_incidents).where(_incidents.c.id == incident_id)
                         .values(started_at=min(starts)))
    for incident_id, alerts in conn.execute(
            sa.select(_events.c.incident_id, _events.c.alerts)
            .where(_events.c.id.in_(last), _events.c.status == "resolved")):
        ends = _times(alerts, "endsAt")
        if ends:
            conn.execute(sa.update(_incidents)
                         .where(_incidents.c.id == incident_id,
                                _incidents.c.status == "resolved")
                         .values(ended_at=max(ends)))


def upgrade() -> None:
    op.create_table(
        "channel_senders",
        sa.Column("sender_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sender_id", name=op.f("pk_channel_senders")),
    )
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    _backfill_times(conn)
    _convert_outbox(conn)


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("ended_at")
        batch.drop_column("started_at")
    op.drop_table("channel_senders")
