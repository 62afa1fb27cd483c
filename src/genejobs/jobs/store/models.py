"""Tables of the job store (SQLAlchemy 2, the same on SQLite and PostgreSQL).

Times are epoch milliseconds in BIGINT columns so both databases agree and the
API needs no conversion.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from genejobs.jobs.states import SampleState


class Base(DeclarativeBase):
    pass


class TokenRow(Base):
    """An API token: only its SHA-256 is stored."""

    __tablename__ = "tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(128), index=True)
    projects: Mapped[str] = mapped_column(Text)  # comma-separated project ids
    role: Mapped[str] = mapped_column(String(16))  # "admin" | "user"
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class JobRow(Base):
    __tablename__ = "jobs"
    job_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(String(128))
    job_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    request_json: Mapped[str] = mapped_column(Text)  # submitted JSON, output resolved
    start_time_ms: Mapped[int] = mapped_column(BigInteger)  # submission time
    run_started_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    end_time_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    steps_total: Mapped[int] = mapped_column(Integer, default=1)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    warnings_json: Mapped[str] = mapped_column(Text, default="[]")
    input_size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    outputs_json: Mapped[str] = mapped_column(Text, default="{}")
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # What the job owns (jobs/store/ownership.py): the SHA-256 of its table's place, unique
    # so two jobs never claim one table; and the manifest of every file it wrote, which
    # purge, the outputs routes and share links go by. NULL: submitted before ownership.
    table_claim: Mapped[str | None] = mapped_column(String(64), nullable=True)
    manifest_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    samples: Mapped[list[SampleStateRow]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="SampleStateRow.position"
    )

    __table_args__ = (
        Index("ix_jobs_project_start", "project_id", "start_time_ms"),
        Index("ix_jobs_status_lease", "status", "lease_expires_ms"),
        Index("ix_jobs_table_claim", "table_claim", unique=True),
    )


class SampleStateRow(Base):
    """Per-sample, per-step state shown by the job detail call."""

    __tablename__ = "job_samples"
    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True
    )
    sample_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    group_name: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default=SampleState.PENDING.value)  # SampleState
    step: Mapped[str] = mapped_column(String(32), default="")  # "", align, cache, qc, done
    fraction_done: Mapped[float] = mapped_column(default=0.0)
    pairs_done: Mapped[int] = mapped_column(BigInteger, default=0)
    started_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ended_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    from_cache: Mapped[bool] = mapped_column(Boolean, default=False)
    stats_json: Mapped[str] = mapped_column(Text, default="{}")
    job: Mapped[JobRow] = relationship(back_populates="samples")


class NotificationRow(Base):
    """One place to tell that a job ended (a webhook or an e-mail) and how delivery went.

    Made at submit from the request's ``notify``; the notifier (``jobs/notify/delivery.py``)
    delivers it once the job has ended, retrying until ``next_attempt_ms`` passes the
    retry window. ``log_json`` lists every attempt: ``[{"time", "target", "status"}]``.
    """

    __tablename__ = "job_notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.job_id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "webhook" | "email"
    target: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    log_json: Mapped[str] = mapped_column(Text, default="[]")

    __table_args__ = (Index("ix_notifications_state_next", "state", "next_attempt_ms"),)


class WesRunRow(Base):
    """What a GA4GH WES client sent beside the request (``api/wes.py``): its tags."""

    __tablename__ = "wes_runs"
    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.job_id", ondelete="CASCADE"), primary_key=True
    )
    workflow_type_version: Mapped[str] = mapped_column(String(32))
    workflow_url: Mapped[str] = mapped_column(Text, default="")
    tags_json: Mapped[str] = mapped_column(Text, default="{}")


class ProjectLockRow(Base):
    """One row per project, updated first in every submit's transaction.

    The update holds the row (PostgreSQL) or the database (SQLite) until the submit
    commits, so concurrent submits to one project, from any number of API servers,
    count the project's active jobs one after another and the cap cannot be overrun.
    """

    __tablename__ = "project_locks"
    project_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    submits: Mapped[int] = mapped_column(BigInteger, default=0)  # jobs ever submitted
