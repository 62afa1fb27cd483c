"""jobs.table_claim and jobs.manifest_json: a job owns only what it wrote

``table_claim`` (unique) keeps two jobs from claiming one table; ``manifest_json`` lists
every file a job wrote. Both stay NULL for jobs submitted before: purge and the outputs
routes treat those as described in ``jobs/store/ownership.py`` (legacy jobs).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy): on SQLite a batch copy drops the old jobs table,
    # and its ON DELETE CASCADE would empty job_samples.
    op.add_column("jobs", sa.Column("table_claim", sa.String(length=64), nullable=True))
    op.add_column("jobs", sa.Column("manifest_json", sa.Text(), nullable=True))
    op.create_index("ix_jobs_table_claim", "jobs", ["table_claim"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_jobs_table_claim", table_name="jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("manifest_json")
        batch_op.drop_column("table_claim")
