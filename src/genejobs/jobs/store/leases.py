"""Leases: which runner owns which job, so a job is never run twice nor lost.

A runner *claims* a job by writing its id and an expiry into the row in one
transaction, and keeps the lease alive with heartbeats. A runner that dies stops
heart-beating; once its lease has expired any runner takes the job over (as rq's
``StartedJobRegistry`` finds abandoned jobs). The claim is atomic on both
databases: PostgreSQL locks the chosen row with ``FOR UPDATE SKIP LOCKED`` so
concurrent runners pick different jobs; SQLite (one writer at a time) uses a
conditional ``UPDATE`` whose rowcount says whether we won.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Result, Select, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from genejobs.jobs.states import JobStatus, check_move
from genejobs.jobs.store.db import now_ms
from genejobs.jobs.store.models import JobRow

log = logging.getLogger(__name__)

# A job whose runner died this many times is failed rather than retried forever:
# the likeliest cause is the job itself (e.g. it exhausts the machine's memory).
MAX_ATTEMPTS = 3
# How many candidate rows one claim looks at before giving up (others may race us).
_CANDIDATES = 20


@dataclass(frozen=True)
class _Candidate:
    job_id: str
    status: JobStatus
    attempts: int
    run_started_ms: int | None


def _rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE (a ``CursorResult``; typed as a plain ``Result``)."""
    return int(cast(CursorResult[Any], result).rowcount)


def _expired_or_free(now: int) -> ColumnElement[bool]:
    return or_(
        JobRow.lease_owner.is_(None),
        JobRow.lease_expires_ms.is_(None),
        JobRow.lease_expires_ms < now,
    )


def _candidates_stmt(now: int) -> Select[str, str, int, int | None]:
    """Waiting and abandoned jobs, in the order runners should take them.

    Abandoned jobs come first (they had started already). Waiting jobs then go
    to the project with the fewest jobs running, oldest first within a tie: a
    project that submitted fifty jobs gets one runner after another only while
    no other project waits, so it cannot starve a project that submitted one.
    """
    waiting = JobRow.status == JobStatus.LAUNCHING.value
    abandoned = JobRow.status.in_([JobStatus.RUNNING.value, JobStatus.CANCELING.value]) & (
        _expired_or_free(now)
    )
    other = aliased(JobRow)
    running_in_project = (
        select(func.count())
        .select_from(other)
        .where(other.project_id == JobRow.project_id, other.status == JobStatus.RUNNING.value)
        .correlate(JobRow)
        .scalar_subquery()
    )
    return (
        select(JobRow.job_id, JobRow.status, JobRow.attempts, JobRow.run_started_ms)
        .where(waiting | abandoned)
        .order_by(
            case((waiting, 1), else_=0),
            running_in_project,
            JobRow.start_time_ms,
            JobRow.job_id,
        )
    )


def _new_values(c: _Candidate, *, runner_id: str, now: int, lease_ms: int) -> dict[str, object]:
    """The row's new columns for a claim, every status change checked against the table."""
    if c.status is JobStatus.CANCELING:
        # Its runner died while cancelling (or it was cancelled before it ever ran):
        # there is no work left to stop, so the cancel completes here.
        check_move(JobStatus.CANCELING, JobStatus.CANCELLED)
        return {
            "status": JobStatus.CANCELLED.value,
            "end_time_ms": now,
            "lease_owner": None,
            "lease_expires_ms": None,
        }
    if c.status is JobStatus.RUNNING:
        check_move(JobStatus.RUNNING, JobStatus.LAUNCHING)  # back to the queue ...
        if c.attempts >= MAX_ATTEMPTS:
            check_move(JobStatus.LAUNCHING, JobStatus.FAILED)
            return {
                "status": JobStatus.FAILED.value,
                "end_time_ms": now,
                "lease_owner": None,
                "lease_expires_ms": None,
                "message": (
                    f"the job was interrupted {c.attempts} times (its runner stopped while "
                    "running it); it was not retried again. Resubmit it, and if it fails "
                    "again ask the administrator to check the runner's memory and logs"
                ),
            }
    check_move(JobStatus.LAUNCHING, JobStatus.RUNNING)  # ... and out of it, to us
    values: dict[str, object] = {
        "status": JobStatus.RUNNING.value,
        "lease_owner": runner_id,
        "lease_expires_ms": now + lease_ms,
        "attempts": c.attempts + 1,
    }
    if c.run_started_ms is None:
        values["run_started_ms"] = now
    return values


def claim_next(
    session_factory: sessionmaker[Session], *, runner_id: str, lease_ms: int
) -> str | None:
    """Take the next job for ``runner_id`` (see ``_candidates_stmt``); ``None`` when idle.

    Abandoned CANCELING jobs are completed to CANCELLED on the way and never
    returned; a job abandoned ``MAX_ATTEMPTS`` times becomes FAILED.
    """
    with session_factory() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
    for _ in range(_CANDIDATES):
        now = now_ms()
        with session_factory() as session, session.begin():
            stmt = _candidates_stmt(now).limit(1 if postgres else _CANDIDATES)
            if postgres:
                stmt = stmt.with_for_update(skip_locked=True, of=JobRow)
            rows = session.execute(stmt).all()
            if not rows:
                return None
            for row in rows:
                c = _Candidate(row.job_id, JobStatus(row.status), row.attempts, row.run_started_ms)
                values = _new_values(c, runner_id=runner_id, now=now, lease_ms=lease_ms)
                # The WHERE repeats what we saw: if another runner (or a cancel)
                # changed the row since, nothing is updated and we lost the race.
                guarded = update(JobRow).where(
                    JobRow.job_id == c.job_id, JobRow.status == c.status.value
                )
                if c.status is not JobStatus.LAUNCHING:
                    guarded = guarded.where(_expired_or_free(now))
                won = _rowcount(
                    session.execute(
                        guarded.values(**values).execution_options(synchronize_session=False)
                    )
                )
                if won != 1:
                    continue  # another runner was faster; try the next candidate
                if values["status"] == JobStatus.RUNNING.value:
                    if c.status is JobStatus.RUNNING:
                        log.warning(
                            "job %s: lease expired, taken over by %s (attempt %d)",
                            c.job_id,
                            runner_id,
                            c.attempts + 1,
                        )
                    else:
                        log.info("job %s: claimed by %s", c.job_id, runner_id)
                    return c.job_id
                log.warning(
                    "job %s: abandoned while %s, now %s",
                    c.job_id,
                    c.status.value,
                    values["status"],
                )
                break  # that row was settled, not claimed: look again from the oldest
    return None


def heartbeat(
    session_factory: sessionmaker[Session], job_id: str, *, runner_id: str, lease_ms: int
) -> bool:
    """Extend the lease if ``runner_id`` still owns it; ``False`` means stop working on it."""
    now = now_ms()
    with session_factory() as session, session.begin():
        extended = _rowcount(
            session.execute(
                update(JobRow)
                .where(JobRow.job_id == job_id, JobRow.lease_owner == runner_id)
                .where(JobRow.status.in_([JobStatus.RUNNING.value, JobStatus.CANCELING.value]))
                .values(lease_expires_ms=now + lease_ms)
                .execution_options(synchronize_session=False)
            )
        )
    if extended != 1:
        log.warning("job %s: lease lost by %s", job_id, runner_id)
    return extended == 1


def release(
    session_factory: sessionmaker[Session], job_id: str, *, runner_id: str, requeue: bool = False
) -> bool:
    """Give the lease up; with ``requeue`` a RUNNING job goes back to LAUNCHING at once.

    Requeueing is what a runner does when it is stopped politely mid-job: the next
    runner need not wait for the lease to expire.
    """
    with session_factory() as session, session.begin():
        job = session.get(JobRow, job_id, with_for_update=True)
        if job is None or job.lease_owner != runner_id:
            return False
        if requeue and job.status == JobStatus.RUNNING.value:
            check_move(JobStatus.RUNNING, JobStatus.LAUNCHING)
            job.status = JobStatus.LAUNCHING.value
        job.lease_owner = None
        job.lease_expires_ms = None
    return True
