"""The deploy/ set-up as real processes on one machine: PostgreSQL, a Dask scheduler, two
``genejobs worker`` processes, two ``genejobs serve --role runner`` processes and one
``genejobs serve --role api``, all started through the command line as an operator would,
with jobs submitted over HTTP. One runner is killed (SIGKILL) in the middle of a job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genejobs.client import ClientError, GeneJobsClient
from genejobs.jobs.store.db import make_engine, make_sessionmaker
from genejobs.jobs.store.models import JobRow, SampleStateRow
from genejobs.sim import SimConfig, simulate
from support.runner import sim_request
from support.servers import dask_cluster, free_port, kill, start

pytestmark = pytest.mark.integration
ENDED = ("FINISHED", "FAILED", "CANCELLED")


def genejobs(*args: str) -> list[str]:
    return [sys.executable, "-m", "genejobs.cli", *args]


def _wait_for_api(client: GeneJobsClient, api: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            client.list("p")
            return
        except ClientError as exc:
            if exc.error_code != "CONNECTION":
                raise
        assert api.poll() is None, "the API server exited"
        assert time.monotonic() < deadline, "the API server did not come up"
        time.sleep(0.3)


def test_ten_jobs_over_http_on_two_runner_processes_survive_a_killed_runner(
    tmp_path: Path, postgres_url: str
) -> None:
    sim = simulate(
        tmp_path / "sim",
        SimConfig(n_genes=80, pairs_per_sample=8_000, samples_per_group=2, seed=12),
    )
    env = {
        **os.environ,
        "GENEJOBS_HOME": str(tmp_path / "home"),
        "GENEJOBS_DATABASE_URL": postgres_url,
        "GENEJOBS_ALLOWED_ROOTS": str(tmp_path),
        "GENEJOBS_THREADS_PER_WORKER": "1",
        "GENEJOBS_LEASE_SECONDS": "6",
        "GENEJOBS_HEARTBEAT_SECONDS": "1",
        "GENEJOBS_LOG_LEVEL": "INFO",
    }
    run = dict(env=env, check=True, capture_output=True, text=True, timeout=120)
    subprocess.run(genejobs("ref", "add", "sim", "--fasta", sim.genome, "--gtf", sim.gtf), **run)
    token = subprocess.run(
        genejobs("token", "create", "--user", "lab", "--project", "p", "--admin"), **run
    ).stdout.strip()
    request = sim_request(sim, ref="sim", gtf=Path(sim.gtf).name, output=str(tmp_path / "out"))
    sessions = make_sessionmaker(make_engine(postgres_url))
    port = free_port()
    with dask_cluster(tmp_path, n_workers=2) as (address, _):
        env["GENEJOBS_DASK_SCHEDULER"] = address
        api = start(
            genejobs("serve", "--role", "api", "--port", str(port)), tmp_path / "api.log", env
        )
        runners = {
            i: start(genejobs("serve", "--role", "runner"), tmp_path / f"runner{i}.log", env)
            for i in (1, 2)
        }
        client = GeneJobsClient(f"http://127.0.0.1:{port}", token)
        try:
            _wait_for_api(client, api)
            job_ids = [client.submit("p", request) for _ in range(10)]

            # Kill the runner that holds a job once one of its samples is being aligned.
            deadline = time.monotonic() + 120
            victim_job = victim = None
            while victim is None:
                with sessions() as s:
                    busy = (
                        s.query(JobRow)
                        .join(SampleStateRow)
                        .filter(SampleStateRow.state == "RUNNING", JobRow.status == "RUNNING")
                        .first()
                    )
                    if busy is not None and busy.lease_owner:
                        pid = int(busy.lease_owner.split(":")[1])
                        victim_job = busy.job_id
                        victim = next(i for i, p in runners.items() if p.pid == pid)
                assert time.monotonic() < deadline, "no job started aligning"
                time.sleep(0.2)
            kill(runners[victim])
            survivor = 3 - victim

            deadline = time.monotonic() + 300
            while True:
                rows = client.list("p", limit=100)["jobs"]
                if len(rows) == 10 and all(r["status"] in ENDED for r in rows):
                    break
                assert runners[survivor].poll() is None, "the surviving runner exited"
                assert time.monotonic() < deadline, [r["status"] for r in rows]
                time.sleep(1)

            # SIGTERM stops a runner politely (exit code 0), as `docker stop` would.
            runners[survivor].send_signal(signal.SIGTERM)
            assert runners[survivor].wait(60) == 0
        finally:
            client.close()
            for proc in (api, *runners.values()):
                kill(proc)

    assert sorted(r["job_id"] for r in rows) == sorted(job_ids)
    assert [r["status"] for r in rows] == ["FINISHED"] * 10, [r.get("message") for r in rows]
    assert all(r["progress"] == "5/5" for r in rows)
    with sessions() as s:
        attempts = {j: s.get(JobRow, j).attempts for j in job_ids}
    # The killed runner's job was taken over once; every other job was claimed once.
    assert attempts == {j: 2 if j == victim_job else 1 for j in job_ids}
    run_json = json.loads((tmp_path / "out" / victim_job / "run.json").read_text())
    assert run_json["runner_id"].split(":")[1] == str(runners[survivor].pid)
    # No job was run to completion twice: one FINISHED per job across both runners' logs.
    logs = "".join((tmp_path / f"runner{i}.log").read_text() for i in (1, 2))
    assert all(logs.count(f"job {j}: FINISHED") == 1 for j in job_ids), logs[-3000:]
    tables = [(tmp_path / "out" / f"{j}.csv").read_text() for j in job_ids]
    assert all(t == tables[0] for t in tables)  # same inputs, same table
