"""The incident loop past Acknowledge: escalation steps, storm digests, one pace per channel
across replicas, and findings on real incidents.

- ``escalations``: one row per escalation step that fired for an incident; the unique
  (incident, step) pair is what makes a step fire once across replicas and restarts.
- ``digests``: a channel's storm digest (one open per channel: ``open_marker``), and
  ``incidents.digest_id`` for the incidents it holds instead of posting them one by one.
- ``channel_pace``: when each channel may take its next message, shared by every replica.
- ``incidents.findings`` / ``action_items``: the postmortem's, as drills have them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("fired_at", _ts(), nullable=False),
        sa.Column("notified", _json(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE",
                                name=op.f("fk_escalations_incident_id_incidents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
        sa.UniqueConstraint("incident_id", "step",
                            name=op.f("uq_escalations_incident_id_step")),
    )
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("open_marker", sa.Integer(), nullable=True),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("last_incident_at", _ts(), nullable=False),
        sa.Column("closed_at", _ts(), nullable=True),
        sa.Column("slack_ts", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("public_id", name=op.f("uq_digests_public_id")),
    )
    op.create_index("uq_digests_open_channel", "digests", ["channel", "open_marker"],
                    unique=True)
    op.create_table(
        "channel_pace",
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("next_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_pace")),
    )
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("findings", _json(), nullable=False,
                                   server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("action_items", _json(), nullable=False,
                                   server_default=sa.text("'[]'")))
        batch.create_foreign_key(op.f("fk_incidents_digest_id_digests"), "digests",
                                 ["digest_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_incidents_digest_id", ["digest_id"])


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_digest_id")
        batch.drop_constraint(op.f("fk_incidents_digest_id_digests"), type_="foreignkey")
        batch.drop_column("action_items")
        batch.drop_column("findings")
        batch.drop_column("digest_id")
    op.drop_table("channel_pace")
    op.drop_index("uq_digests_open_channel", table_name="digests")
    op.drop_table("digests")
    op.drop_table("escalations")
