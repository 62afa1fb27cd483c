"""Leases on a real PostgreSQL (the ``FOR UPDATE SKIP LOCKED`` path): many runners, one db."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import update

from genejobs.jobs.store.db import make_engine, make_sessionmaker, now_ms
from genejobs.jobs.store.leases import claim_next, heartbeat
from genejobs.jobs.store.models import JobRow
from support.servers import pg_database
from support.tools import PG_HOW, missing

pytestmark = pytest.mark.integration


def _as_postgres(*cmd: str) -> list[str]:
    # initdb refuses to run as root; the image has a 'postgres' user for this.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture(scope="module")
def server_url():
    """``GENEJOBS_TEST_PG_URL`` (``make test`` starts one), else a private throwaway server."""
    if os.environ.get("GENEJOBS_TEST_PG_URL"):
        yield os.environ["GENEJOBS_TEST_PG_URL"]
        return
    if not shutil.which("initdb") or not shutil.which("pg_ctl"):
        missing("PostgreSQL", f"{PG_HOW}, or install initdb and pg_ctl")
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="genejobs-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres")
    data, port = base / "data", 20000 + os.getpid() % 20000
    run = dict(check=True, capture_output=True, timeout=60)
    subprocess.run(_as_postgres("initdb", "-D", str(data), "-A", "trust", "-U", "genejobs"), **run)
    options = f"-p {port} -k {base} -c listen_addresses='' -c fsync=off"
    # -l: the server must not inherit our pipes, or capturing pg_ctl's output never ends.
    log_file = str(base / "server.log")
    start = ("pg_ctl", "-D", str(data), "-o", options, "-l", log_file, "-w", "start")
    subprocess.run(_as_postgres(*start), **run)
    try:
        yield f"postgresql://genejobs@/postgres?host={base}&port={port}"
    finally:
        subprocess.run(_as_postgres("pg_ctl", "-D", str(data), "-m", "immediate", "stop"), **run)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def sessions(server_url: str):
    """A database of our own on that server, so other tests' jobs are never claimed here."""
    with pg_database(server_url, prefix="gj_leases") as url:
        engine = make_engine(url)
        try:
            yield make_sessionmaker(engine)
        finally:
            engine.dispose()


def _add(
    sessions, n: int, *, project_id: str = "p1", keep: bool = False, later_ms: int = 0
) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    with sessions() as s, s.begin():
        if not keep:  # isolate from the previous test
            s.execute(update(JobRow).values(status="FINISHED"))
        for i, job_id in enumerate(ids):
            s.add(
                JobRow(
                    job_id=job_id,
                    project_id=project_id,
                    owner="alice",
                    job_type="RNA_DIFF_EXPR",
                    status="LAUNCHING",
                    request_json="{}",
                    start_time_ms=now_ms() + later_ms + i,
                )
            )
    return ids


def test_concurrent_runners_claim_each_job_exactly_once(sessions: Path) -> None:
    ids = _add(sessions, 6)
    claimed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def runner(runner_id: str) -> None:
        barrier.wait()
        while (job_id := claim_next(sessions, runner_id=runner_id, lease_ms=60_000)) is not None:
            with lock:
                claimed.append(job_id)

    threads = [threading.Thread(target=runner, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(claimed) == sorted(ids)
    with sessions() as s:
        rows = [s.get(JobRow, job_id) for job_id in ids]
    assert all(r.status == "RUNNING" and r.attempts == 1 for r in rows)


def test_expired_lease_is_taken_over_and_the_old_owner_loses_it(sessions) -> None:
    (job_id,) = _add(sessions, 1)
    assert claim_next(sessions, runner_id="old", lease_ms=60_000) == job_id
    assert claim_next(sessions, runner_id="new", lease_ms=60_000) is None
    with sessions() as s, s.begin():
        s.execute(update(JobRow).where(JobRow.job_id == job_id).values(lease_expires_ms=1))
    assert claim_next(sessions, runner_id="new", lease_ms=60_000) == job_id
    assert not heartbeat(sessions, job_id, runner_id="old", lease_ms=60_000)
    assert heartbeat(sessions, job_id, runner_id="new", lease_ms=60_000)
    with sessions() as s:
        assert s.get(JobRow, job_id).attempts == 2


def test_claims_share_runners_between_projects(sessions) -> None:
    busy = _add(sessions, 4, project_id="big")
    (late,) = _add(sessions, 1, project_id="small", keep=True, later_ms=60_000)
    claimed = [claim_next(sessions, runner_id=f"r{i}", lease_ms=60_000) for i in range(3)]
    assert claimed == [busy[0], late, busy[1]]
