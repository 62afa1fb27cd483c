"""project_locks: one row per project that serialises its submits (the running-job cap)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_locks",
        sa.Column("project_id", sa.String(length=128), nullable=False),
        sa.Column("submits", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id"),
    )


def downgrade() -> None:
    op.drop_table("project_locks")
