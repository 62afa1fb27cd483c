"""A runner killed mid-job (SIGKILL, no clean-up) loses nothing: another runner takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from genejobs.jobs.run.runner import Runner
from support.runner import (
    add_job,
    load_job,
    local_cluster,
    make_settings,
    slow_counts,
    table_stats,
)

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parents[1]  # where support/ is

# The doomed runner: same database, its own in-process Dask cluster, a 2 s lease.
DOOMED = textwrap.dedent(
    """
    from distributed import Client, LocalCluster
    from support.runner import make_settings, slow_counts, table_stats
    from genejobs.jobs.run.runner import Runner
    from pathlib import Path

    settings = make_settings(Path({tmp!r}), lease_seconds=2.0, heartbeat_seconds=0.3,
                             database_url={db!r})
    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                           dashboard_address=None, resources={{"align": 1}})
    client = Client(cluster, set_as_default=False)
    runner = Runner(settings, runner_id="doomed", client=client,
                    sample_fn=slow_counts, statistics_fn=table_stats)
    runner.run_once()
    """
)


def test_killed_runner_job_is_taken_over_and_finishes(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(
        tmp_path, lease_seconds=2.0, heartbeat_seconds=0.3, database_url=database_url
    )
    job_id = add_job(settings, {"K": ["K1", "K2"], "W": ["W1", "W2"]})
    doomed = subprocess.Popen(
        [sys.executable, "-c", DOOMED.format(tmp=str(tmp_path), db=database_url)],
        # tests/ first (support.runner); the rest kept, so a worktree's source is the one run
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        },
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job, samples = load_job(settings, job_id)
            if job.lease_owner == "doomed" and any(s.state == "RUNNING" for s in samples):
                break
            assert doomed.poll() is None, "the doomed runner exited early"
            time.sleep(0.1)
        else:
            pytest.fail("the doomed runner never started the job")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    job, _ = load_job(settings, job_id)
    assert (job.status, job.lease_owner) == ("RUNNING", "doomed")  # stuck, for now
    first_start = job.run_started_ms

    cluster, client = local_cluster()
    try:
        rescuer = Runner(
            settings,
            runner_id="rescuer",
            client=client,
            sample_fn=slow_counts,
            statistics_fn=table_stats,
        )
        killed_at = time.monotonic()
        claimed = None
        while claimed is None and time.monotonic() - killed_at < 15:
            claimed = rescuer.run_once()  # None until the dead runner's lease expires
            time.sleep(0.2)
        assert claimed == job_id
    finally:
        client.close()
        cluster.close()
    job, samples = load_job(settings, job_id)
    assert job.status == "FINISHED", job.message
    assert job.attempts == 2
    assert job.run_started_ms == first_start
    assert (job.steps_done, job.steps_total) == (5, 5)
    assert [s.state for s in samples] == ["DONE"] * 4
