"""Leases on a real (temporary) SQLite file: exclusivity, expiry take-over, heartbeat loss."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import update

from genejobs.jobs.store import leases
from genejobs.jobs.store.db import make_engine, make_sessionmaker, now_ms
from genejobs.jobs.store.leases import MAX_ATTEMPTS, claim_next, heartbeat, release
from genejobs.jobs.store.models import JobRow


@pytest.fixture
def sessions(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    yield make_sessionmaker(engine)
    engine.dispose()


def add_job(
    sessions,
    *,
    status: str = "LAUNCHING",
    start_ms: int | None = None,
    project_id: str = "p1",
    **cols,
) -> str:
    job_id = str(uuid.uuid4())
    with sessions() as s, s.begin():
        s.add(
            JobRow(
                job_id=job_id,
                project_id=project_id,
                owner="alice",
                job_type="RNA_DIFF_EXPR",
                status=status,
                request_json="{}",
                start_time_ms=start_ms if start_ms is not None else now_ms(),
                **cols,
            )
        )
    return job_id


def row(sessions, job_id: str) -> JobRow:
    with sessions() as s:
        return s.get(JobRow, job_id)


def expire(sessions, job_id: str) -> None:
    with sessions() as s, s.begin():
        s.execute(update(JobRow).where(JobRow.job_id == job_id).values(lease_expires_ms=1))


def test_a_busy_project_does_not_starve_another(sessions) -> None:
    busy = [add_job(sessions, project_id="big", start_ms=1_000 + i) for i in range(5)]
    late = add_job(sessions, project_id="small", start_ms=9_000)
    claimed = [claim_next(sessions, runner_id=f"r{i}", lease_ms=10_000) for i in range(3)]
    # Oldest first, then the project with nothing running, then back to the busy one.
    assert claimed == [busy[0], late, busy[1]]


def test_an_abandoned_job_is_taken_over_before_waiting_ones(sessions) -> None:
    waiting = add_job(sessions, project_id="other", start_ms=1_000)
    abandoned = add_job(
        sessions, status="RUNNING", start_ms=5_000, lease_owner="dead", lease_expires_ms=1
    )
    assert claim_next(sessions, runner_id="r1", lease_ms=10_000) == abandoned
    assert claim_next(sessions, runner_id="r2", lease_ms=10_000) == waiting


def test_claim_takes_oldest_and_sets_running_lease_and_start(sessions) -> None:
    newer = add_job(sessions, start_ms=2_000)
    older = add_job(sessions, start_ms=1_000)
    before = now_ms()
    assert claim_next(sessions, runner_id="r1", lease_ms=10_000) == older
    job = row(sessions, older)
    assert (job.status, job.lease_owner, job.attempts) == ("RUNNING", "r1", 1)
    assert job.lease_expires_ms >= before + 10_000
    assert job.run_started_ms >= before
    assert claim_next(sessions, runner_id="r1", lease_ms=10_000) == newer
    assert claim_next(sessions, runner_id="r1", lease_ms=10_000) is None


def test_two_runners_never_claim_the_same_job(sessions) -> None:
    job_id = add_job(sessions)
    won: list[str | None] = []
    barrier = threading.Barrier(4)

    def race(runner_id: str) -> None:
        barrier.wait()
        won.append(claim_next(sessions, runner_id=runner_id, lease_ms=10_000))

    threads = [threading.Thread(target=race, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert won.count(job_id) == 1 and won.count(None) == 3
    assert row(sessions, job_id).attempts == 1


def test_live_lease_is_not_taken_but_an_expired_one_is(sessions) -> None:
    job_id = add_job(sessions)
    assert claim_next(sessions, runner_id="r1", lease_ms=60_000) == job_id
    first_start = row(sessions, job_id).run_started_ms
    assert claim_next(sessions, runner_id="r2", lease_ms=60_000) is None
    expire(sessions, job_id)
    assert claim_next(sessions, runner_id="r2", lease_ms=60_000) == job_id
    job = row(sessions, job_id)
    assert (job.status, job.lease_owner, job.attempts) == ("RUNNING", "r2", 2)
    assert job.run_started_ms == first_start  # the run time counts from the first attempt


def test_heartbeat_extends_only_for_the_owner(sessions) -> None:
    job_id = add_job(sessions)
    claim_next(sessions, runner_id="r1", lease_ms=1_000)
    before = row(sessions, job_id).lease_expires_ms
    assert heartbeat(sessions, job_id, runner_id="r1", lease_ms=60_000)
    assert row(sessions, job_id).lease_expires_ms > before
    assert not heartbeat(sessions, job_id, runner_id="r2", lease_ms=60_000)
    expire(sessions, job_id)
    assert claim_next(sessions, runner_id="r2", lease_ms=60_000) == job_id
    assert not heartbeat(sessions, job_id, runner_id="r1", lease_ms=60_000)  # lost it
    assert heartbeat(sessions, job_id, runner_id="r2", lease_ms=60_000)


def test_expired_canceling_job_becomes_cancelled_and_is_not_returned(sessions) -> None:
    canceling = add_job(sessions, status="CANCELING", start_ms=1, lease_owner="dead")
    expire(sessions, canceling)
    never_ran = add_job(sessions, status="CANCELING", start_ms=2)  # cancelled while queued
    waiting = add_job(sessions, start_ms=3)
    assert claim_next(sessions, runner_id="r1", lease_ms=10_000) == waiting
    for job_id in (canceling, never_ran):
        job = row(sessions, job_id)
        assert (job.status, job.lease_owner) == ("CANCELLED", None)
        assert job.end_time_ms is not None


def test_job_abandoned_too_often_fails_with_a_message(sessions) -> None:
    job_id = add_job(sessions, status="RUNNING", lease_owner="dead", attempts=MAX_ATTEMPTS)
    expire(sessions, job_id)
    assert claim_next(sessions, runner_id="r1", lease_ms=10_000) is None
    job = row(sessions, job_id)
    assert job.status == "FAILED"
    assert f"interrupted {MAX_ATTEMPTS} times" in job.message


def test_release_with_requeue_puts_the_job_back_at_once(sessions) -> None:
    job_id = add_job(sessions)
    claim_next(sessions, runner_id="r1", lease_ms=60_000)
    assert not release(sessions, job_id, runner_id="r2", requeue=True)
    assert release(sessions, job_id, runner_id="r1", requeue=True)
    job = row(sessions, job_id)
    assert (job.status, job.lease_owner) == ("LAUNCHING", None)
    assert claim_next(sessions, runner_id="r2", lease_ms=60_000) == job_id


def test_ended_jobs_are_never_claimed(sessions) -> None:
    for status in ("FINISHED", "FAILED", "CANCELLED"):
        add_job(sessions, status=status)
    assert claim_next(sessions, runner_id="r1", lease_ms=10_000) is None
    assert leases.MAX_ATTEMPTS >= 2
