"""job_notifications and wes_runs: notifications when a job ends, GA4GH WES tags

Both tables arrived before migrations did, so a database created in between already
has them: they are created only where missing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 14:41:58.973097
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "job_notifications" not in existing:
        _create_notifications()
    if "wes_runs" not in existing:
        _create_wes_runs()


def _create_notifications() -> None:
    op.create_table(
        "job_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("log_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.job_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("job_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_notifications_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            "ix_notifications_state_next", ["state", "next_attempt_ms"], unique=False
        )


def _create_wes_runs() -> None:
    op.create_table(
        "wes_runs",
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_type_version", sa.String(length=32), nullable=False),
        sa.Column("workflow_url", sa.Text(), nullable=False),
        sa.Column("tags_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.job_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id"),
    )


def downgrade() -> None:
    op.drop_table("wes_runs")
    with op.batch_alter_table("job_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_state_next")
        batch_op.drop_index(batch_op.f("ix_job_notifications_job_id"))

    op.drop_table("job_notifications")
