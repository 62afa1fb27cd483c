"""The per-project cap holds when many submits arrive at once through several API replicas.

Each replica is an app with its own service and its own connection pool on one shared
database (SQLite file or PostgreSQL), as separate ``genejobs serve --role api`` processes
would be; the submits start together behind a barrier.
"""

from __future__ import annotations

import gzip
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi.testclient import TestClient

from genejobs.api.app import create_app
from genejobs.config import Settings
from genejobs.jobs.service import JobService
from genejobs.storage import Storage

REFS = {"hg19": ["gencode.v17.annotation.gtf"]}
CAP = 20
SUBMITS = 30
REPLICAS = 3


def _request(data: Path) -> dict:
    def files(s: str) -> list[str]:
        return [f"file://{data}/{s}_R1.fastq.gz", f"file://{data}/{s}_R2.fastq.gz"]

    groups = [("K", ("K1", "K2")), ("W", ("W1", "W2"))]
    return {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {"group_name": g, "group_inputs": [{"sample_name": s, "files": files(s)} for s in ss]}
            for g, ss in groups
        ],
        "ref": "hg19",
        "gtf": "gencode.v17.annotation.gtf",
        "output": f"file://{data}/out",
    }


def test_concurrent_submits_through_several_replicas_stop_exactly_at_the_cap(
    database_url, tmp_path
):
    data = tmp_path / "data"
    data.mkdir()
    for sample in ("K1", "K2", "W1", "W2"):
        for mate in (1, 2):
            with gzip.open(data / f"{sample}_R{mate}.fastq.gz", "wt") as fh:
                fh.write(f"@{sample}.1/{mate}\nACGTACGTAC\n+\nIIIIIIIIII\n")
    settings = Settings.from_env(
        env={"GENEJOBS_HOME": str(tmp_path / "home"), "GENEJOBS_ALLOWED_ROOTS": str(data)},
        database_url=database_url,
        max_running_jobs_per_project=CAP,
    )
    services = [
        JobService(settings, storage=Storage.from_settings(settings), references=lambda: REFS)
        for _ in range(REPLICAS)
    ]
    token = services[0].create_token(user="alice", projects=["P"], admin=True)
    clients = [TestClient(create_app(settings, service=s)) for s in services]
    barrier = threading.Barrier(SUBMITS)
    req = _request(data)

    def submit(i: int):
        client = clients[i % REPLICAS]
        barrier.wait(30)
        return client.post("/v2.0/P/gene/jobs", json=req, headers={"X-Auth-Token": token})

    try:
        with ThreadPoolExecutor(SUBMITS) as pool:
            answers = list(pool.map(submit, range(SUBMITS)))
        statuses = sorted(r.status_code for r in answers)
        assert statuses.count(201) == CAP, [r.text for r in answers if r.status_code != 201]
        refused = [r for r in answers if r.status_code != 201]
        assert len(refused) == SUBMITS - CAP
        for r in refused:
            assert r.status_code == 400, r.text
            assert r.json()["error_code"] == "DLI.0009", r.text
            assert f"limit {CAP}" in r.json()["error_msg"]
        listing = (
            clients[0]
            .get("/v2.0/P/gene/jobs", params={"limit": 100}, headers={"X-Auth-Token": token})
            .json()
        )
        assert listing["job_count"] == CAP
        assert {j["status"] for j in listing["jobs"]} == {"LAUNCHING"}
    finally:
        for s in services:
            s.close()
