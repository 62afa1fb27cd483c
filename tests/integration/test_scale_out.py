"""Jobs on a real Dask cluster started from the command line: a scheduler process and two
``genejobs worker`` processes on loopback. Killing a worker mid-alignment must not lose
the job (Dask reschedules its task on the other worker); losing the scheduler must not
leave it RUNNING. Runners and the API as separate processes: test_processes.py."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from distributed import Client

from genejobs.config import Settings
from genejobs.jobs.run.runner import Runner
from genejobs.jobs.service import JobService
from genejobs.jobs.store.db import make_engine, make_sessionmaker
from genejobs.jobs.store.models import JobRow, SampleStateRow
from genejobs.references.registry import registry_for
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage
from support.runner import sim_request
from support.servers import dask_cluster


@pytest.fixture
def cluster(tmp_path):
    with dask_cluster(tmp_path, n_workers=2) as (address, procs):
        yield address, procs


def _busy_worker(address: str, procs: list) -> subprocess.Popen | None:
    """The process of a worker that holds a running task, as the scheduler sees it
    (``procs`` is the scheduler, then workers named w1, w2...), or None."""
    with Client(address, timeout="5s") as client:
        names = {a: w["name"] for a, w in client.scheduler_info()["workers"].items()}
        processing = client.processing()
    for worker, keys in processing.items():
        if keys and str(names.get(worker, "")).startswith("w"):
            return procs[int(str(names[worker])[1:])]
    return None


def _setup(tmp_path: Path, address: str, *, pairs: int, seed: int):
    """Simulated data, a registered reference, a service and a job request for it."""
    sim = simulate(
        tmp_path / "sim",
        SimConfig(
            n_genes=80,
            pairs_per_sample=pairs,
            samples_per_group=2,
            seed=seed,
        ),
    )
    settings = Settings.from_env(
        env={
            "GENEJOBS_HOME": str(tmp_path / "home"),
            "GENEJOBS_ALLOWED_ROOTS": str(tmp_path),
            "GENEJOBS_DASK_SCHEDULER": address,
            "GENEJOBS_THREADS_PER_WORKER": "1",
            "GENEJOBS_LEASE_SECONDS": "10",
            "GENEJOBS_HEARTBEAT_SECONDS": "1",
        }
    )
    registry = registry_for(settings)
    registry.add("sim", Path(sim.genome), [("a.gtf", Path(sim.gtf))])
    service = JobService(
        settings, storage=Storage.from_settings(settings), references=registry.available
    )
    principal = service.authenticate(
        service.create_token(user="u", projects=["p"], admin=True), "p"
    )
    request = sim_request(sim, ref="sim", gtf="a.gtf", output=str(tmp_path / "out"))
    sessions = make_sessionmaker(make_engine(settings.database_url))
    return settings, service, principal, request, sessions


def test_jobs_finish_on_a_real_cluster_even_when_a_worker_dies(tmp_path, cluster):
    address, procs = cluster
    settings, service, principal, request, sessions = _setup(
        tmp_path, address, pairs=15_000, seed=9
    )
    job_id = service.submit(principal=principal, project_id="p", body=request)
    runner = Runner(settings)
    runner.start()
    killed = False
    try:
        deadline = time.monotonic() + 240
        while True:
            with sessions() as s:
                status = s.get(JobRow, job_id).status
                running = s.query(SampleStateRow).filter_by(job_id=job_id, state="RUNNING").count()
            busy = _busy_worker(address, procs) if not killed and running else None
            if busy is not None:  # a worker the scheduler says is running a sample now
                os.killpg(busy.pid, signal.SIGKILL)
                killed = True
            if status in ("FINISHED", "FAILED", "CANCELLED"):
                break
            assert time.monotonic() < deadline, f"job stuck in {status}"
            time.sleep(0.3)
    finally:
        runner.stop()
        service.close()
    with sessions() as s:
        row = s.get(JobRow, job_id)
        assert killed
        assert row.status == "FINISHED", row.message
        assert row.steps_done == row.steps_total
    assert (tmp_path / "out" / f"{job_id}.csv").exists()


def test_losing_the_scheduler_never_leaves_a_job_running(tmp_path, cluster):
    address, procs = cluster
    settings, service, principal, request, sessions = _setup(
        tmp_path, address, pairs=30_000, seed=4
    )
    job_id = service.submit(principal=principal, project_id="p", body=request)
    runner = Runner(settings)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            with sessions() as s:
                if s.query(SampleStateRow).filter_by(job_id=job_id, state="RUNNING").count():
                    break
            assert time.monotonic() < deadline, "no sample started"
            time.sleep(0.2)
        os.killpg(procs[0].pid, signal.SIGKILL)  # the scheduler
        deadline = time.monotonic() + 90
        while True:
            with sessions() as s:
                row = s.get(JobRow, job_id)
                status, message = row.status, row.message
            if status in ("LAUNCHING", "FAILED"):
                break
            assert time.monotonic() < deadline, f"job stuck in {status}"
            time.sleep(0.5)
    finally:
        runner.stop(timeout_s=20)
        service.close()
    if status == "FAILED":
        assert "cluster" in message.lower() or "scheduler" in message.lower(), message
