"""List-call latency with jobs running vs without (issue 23: p99 <= 500 ms while 2 jobs run).

Starts ``genejobs serve`` (the default ``--role all``: the API, and its runner with the
local Dask cluster in a niced process of its own) and a second runner (``serve --role
runner --nice 10``, so two jobs run at once) on a simulated reference, stores
``--stored`` ended jobs, then sends ``--calls`` list calls from ``--clients``
concurrent clients twice: with no job running (the reference), and while two real
jobs run. Prints p50/p99 of each run and the ratios.

    .venv/bin/python bench/bench_api_latency.py --clients 100 --calls 500 --pairs 40000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from genejobs.config import Settings
from genejobs.references.registry import registry_for
from genejobs.sim.simulate import SimConfig, simulate

CLI = [sys.executable, "-m", "genejobs.cli"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def job_request(manifest, data_root: Path, output: Path, name: str) -> dict:  # type: ignore[no-untyped-def]
    return {
        "job_type": "RNA_DIFF_EXPR",
        "name": name,
        "inputs": [
            {
                "group_name": group,
                "group_inputs": [
                    {"sample_name": s, "files": list(manifest.reads[s])} for s in samples
                ],
            }
            for group, samples in manifest.groups.items()
        ],
        "ref": "sim1",
        "gtf": "sim1.gtf",
        "library_type": manifest.library_type,
        "output": str(output),
    }


async def measure(url: str, token: str, clients: int, calls: int) -> list[float]:
    """``calls`` list calls from ``clients`` concurrent clients; each call's seconds."""
    times: list[float] = []
    errors: list[str] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(calls):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def one_client() -> None:
            while True:
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    r = await client.get(
                        "/v2.0/default/gene/jobs",
                        params={"limit": 20},
                        headers={"X-Auth-Token": token},
                    )
                except httpx.TransportError as exc:  # counted, and shown: not hidden
                    errors.append(
                        f"{type(exc).__name__} after {time.perf_counter() - started:.1f} s"
                    )
                    continue
                times.append(time.perf_counter() - started)
                assert r.status_code == 200, r.text

        await asyncio.gather(*(one_client() for _ in range(clients)))
    if errors:
        print(f"{len(errors)} calls failed: {', '.join(errors[:5])}")
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(label: str, times: list[float]) -> tuple[float, float]:
    p50, p99 = statistics.median(times), pct(times, 0.99)
    print(f"{label}: {len(times)} calls, p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    return p50, p99


def running(url: str, token: str) -> int:
    r = httpx.get(
        f"{url}/v2.0/default/gene/jobs",
        params={"status": "RUNNING", "limit": 1},
        headers={"X-Auth-Token": token},
    )
    return int(r.json()["job_count"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--stored", type=int, default=500, help="ended jobs in the store")
    parser.add_argument("--pairs", type=int, default=40_000, help="read pairs per sample")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        root = Path(tmp)
        manifest = simulate(
            root / "sim",
            SimConfig(n_genes=200, samples_per_group=3, pairs_per_sample=args.pairs, seed=5),
        )
        env = dict(
            os.environ,
            GENEJOBS_HOME=str(root / "home"),
            GENEJOBS_ALLOWED_ROOTS=str(root),
            GENEJOBS_DASK_WORKERS="1",
            GENEJOBS_THREADS_PER_WORKER="2",
        )
        settings = Settings.from_env(env=env)
        registry_for(settings).add(
            "sim1", Path(manifest.genome), [("sim1.gtf", Path(manifest.gtf))]
        )
        port = free_port()
        log = open(root / "serve.log", "wb")  # noqa: SIM115 - the server's life
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log
        )
        # a second runner, as an operator adds one, so that two jobs run at once
        runner_log = open(root / "runner.log", "wb")  # noqa: SIM115 - the runner's life
        extra = subprocess.Popen(
            [*CLI, "serve", "--role", "runner", "--nice", "10"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=runner_log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.3)
            token = (root / "home" / "token").read_text().strip()
            _store_ended_jobs(settings, manifest, root, args.stored)
            quiet = asyncio.run(measure(url, token, args.clients, args.calls))
            for i in range(2):
                body = job_request(manifest, root, root / f"out{i}", f"bench {i}")
                r = httpx.post(
                    f"{url}/v2.0/default/gene/jobs", json=body, headers={"X-Auth-Token": token}
                )
                assert r.status_code == 201, r.text
            deadline = time.monotonic() + 120
            while running(url, token) < 2:
                assert time.monotonic() < deadline, "the two jobs did not start"
                time.sleep(0.5)
            busy = asyncio.run(measure(url, token, args.clients, args.calls))
            still = running(url, token)
        finally:
            for p in (extra, proc):
                p.terminate()
                p.wait(60)
            log.close()
            runner_log.close()
    print(
        f"conditions: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
        f"{args.stored} stored jobs, {args.clients} clients, {args.pairs} pairs a sample"
    )
    q50, q99 = report("without running jobs", quiet)
    b50, b99 = report(f"with 2 jobs running ({still} still running at the end)", busy)
    print(f"ratio with/without: p50 {b50 / q50:.2f}x, p99 {b99 / q99:.2f}x (target p99 <= 500 ms)")


def _store_ended_jobs(settings: Settings, manifest, root: Path, n: int) -> None:  # type: ignore[no-untyped-def]
    """``n`` FINISHED jobs written straight into the store (the list's cost is the rows)."""
    import uuid

    from genejobs.jobs.store.db import make_engine, make_sessionmaker
    from genejobs.jobs.store.models import JobRow

    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    request = json.dumps(job_request(manifest, root, root / "old", "stored"))
    now = int(time.time() * 1000)
    with sessions.begin() as s:
        for i in range(n):
            s.add(
                JobRow(
                    job_id=str(uuid.uuid4()),
                    project_id="default",
                    owner="admin",
                    job_type="RNA_DIFF_EXPR",
                    status="FINISHED",
                    request_json=request,
                    start_time_ms=now - 10_000 - i,
                    run_started_ms=now - 9_000 - i,
                    end_time_ms=now - i,
                    steps_total=7,
                    steps_done=7,
                    message="",
                    warnings_json="[]",
                    input_size_bytes=1000,
                    outputs_json="{}",
                    attempts=1,
                )
            )
    engine.dispose()


if __name__ == "__main__":
    main()
