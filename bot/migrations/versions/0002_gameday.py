"""Game Day: scheduled drill prompts and the one-running-drill slot.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "gameday_prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=16), nullable=False),
        sa.Column("job", sa.String(length=128), nullable=False),
        sa.Column("scheduled_for", _ts(), nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("joined", _json(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("drill_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["drill_id"], ["drills.id"],
            name=op.f("fk_gameday_prompts_drill_id_drills"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gameday_prompts")),
        sa.UniqueConstraint("job", "scheduled_for",
                            name=op.f("uq_gameday_prompts_job_scheduled_for")),
        sa.UniqueConstraint("public_id", name=op.f("uq_gameday_prompts_public_id")),
    )
    op.create_table(
        "drill_slots",
        sa.Column("slot", sa.String(length=32), nullable=False),
        sa.Column("drill_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(
            ["drill_id"], ["drills.id"],
            name=op.f("fk_drill_slots_drill_id_drills"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_drill_slots")),
    )


def downgrade() -> None:
    op.drop_table("drill_slots")
    op.drop_table("gameday_prompts")
