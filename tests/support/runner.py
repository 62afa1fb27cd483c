"""Shared by the runner tests: stand-in task functions (as rq's ``fails`` and
``sleeps_until_cancelled``), settings, job rows and a small Dask cluster.

The stand-ins really run on Dask workers and use the real worker protocol
(progress events, the cancel Event); only the science is replaced.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from distributed import Client, LocalCluster

from genejobs.config import Settings
from genejobs.errors import InputError
from genejobs.jobs.run.qcstaging import QcRequest
from genejobs.jobs.run.tasks import make_stop_check, report_progress
from genejobs.jobs.store.db import make_engine, make_sessionmaker, now_ms
from genejobs.jobs.store.models import JobRow, SampleStateRow
from genejobs.pipeline.matrix import count_matrix
from genejobs.pipeline.records import (
    CountStats,
    LibraryType,
    ReadStats,
    SampleParams,
    SampleResult,
    SampleSpec,
)
from genejobs.storage import Storage

GENES = [f"G{i}" for i in range(6)]
PAIRS = 1_000


def fake_result(sample: SampleSpec) -> SampleResult:
    """Counts that differ per sample, the same every time for a given name."""
    rng = np.random.default_rng(abs(hash(sample.name)) % 2**32)
    base = rng.integers(5, 50, size=len(GENES)).astype(np.int64)
    counts = {lt.value: base + i for i, lt in enumerate(LibraryType)}
    assigned = {lt.value: int(v.sum()) for lt, v in zip(LibraryType, counts.values(), strict=True)}
    return SampleResult(
        sample_name=sample.name,
        gene_ids=list(GENES),
        counts=counts,
        read_stats=ReadStats(pairs_in=PAIRS, pairs_out=PAIRS),
        count_stats=CountStats(aligned=PAIRS, unique=PAIRS, assigned=assigned),
    )


def quick_counts(
    job_id: str,
    sample: SampleSpec,
    params: SampleParams,
    ref: str,
    gtf: str,
    settings: Settings,
    qc: QcRequest | None = None,
) -> SampleResult:
    """Reports progress twice, then returns made-up counts."""
    report_progress(job_id, sample.name, 0.5, PAIRS // 2, "align")
    time.sleep(0.3)
    report_progress(job_id, sample.name, 1.0, PAIRS, "align")
    return fake_result(sample)


def slow_counts(
    job_id: str,
    sample: SampleSpec,
    params: SampleParams,
    ref: str,
    gtf: str,
    settings: Settings,
    qc: QcRequest | None = None,
) -> SampleResult:
    """Takes ~2 s, checking the stop flag as real stages do between chunks."""
    stop = make_stop_check(job_id)
    for step in range(10):
        stop()
        report_progress(job_id, sample.name, step / 10, step * 100, "align")
        time.sleep(0.2)
    return fake_result(sample)


def fails(
    job_id: str,
    sample: SampleSpec,
    params: SampleParams,
    ref: str,
    gtf: str,
    settings: Settings,
    qc: QcRequest | None = None,
) -> SampleResult:
    """Sample 'bad' has a truncated read 2; the others succeed."""
    if sample.name == "bad":
        raise InputError(
            f"sample 'bad': file '{sample.runs[0].r2}' ends early (truncated gzip stream)"
        )
    return quick_counts(job_id, sample, params, ref, gtf, settings)


def crashes(
    job_id: str,
    sample: SampleSpec,
    params: SampleParams,
    ref: str,
    gtf: str,
    settings: Settings,
    qc: QcRequest | None = None,
) -> SampleResult:
    """A programming error, not a user error: the message must not leak it."""
    raise KeyError("secret internal detail")


def sleeps_until_cancelled(
    job_id: str,
    sample: SampleSpec,
    params: SampleParams,
    ref: str,
    gtf: str,
    settings: Settings,
    qc: QcRequest | None = None,
) -> SampleResult:
    stop = make_stop_check(job_id)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report_progress(job_id, sample.name, 0.1, 10, "align")
        stop()
        time.sleep(0.1)
    raise AssertionError("never cancelled")


def table_stats(
    job_id: str,
    spec: Any,
    sample_results: list[SampleResult],
    run_info: dict[str, Any],
    settings: Settings,
) -> dict[str, Any]:
    """Writes the count matrix of the chosen library type where the DE table would go."""
    matrix = count_matrix(sample_results, LibraryType(run_info["library_type"]))
    storage = Storage.from_settings(settings)
    storage.write_bytes(storage.location(spec.table_uri), matrix.to_csv().encode())
    return {"outputs": {"table": spec.table_uri}, "warnings": ["stand-in statistics"]}


def stats_until_cancelled(
    job_id: str,
    spec: Any,
    sample_results: list[SampleResult],
    run_info: dict[str, Any],
    settings: Settings,
) -> dict[str, Any]:
    """A statistics step that runs until its job is stopped, as a long DE would."""
    stop = make_stop_check(job_id)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stop()
        time.sleep(0.1)
    raise AssertionError("never cancelled")


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    env = {
        "GENEJOBS_HOME": str(tmp / "home"),
        "GENEJOBS_DATABASE_URL": f"sqlite:///{tmp / 'jobs.db'}",
        "GENEJOBS_ALLOWED_ROOTS": str(tmp),
        "GENEJOBS_REFERENCE_ROOT": str(tmp / "refs"),
        "GENEJOBS_THREADS_PER_WORKER": "1",
    }
    defaults: dict[str, Any] = {
        "poll_seconds": 0.1,
        "heartbeat_seconds": 0.5,
        "lease_seconds": 10.0,
    }
    return Settings.from_env(env, **{**defaults, **overrides})


def local_cluster() -> tuple[LocalCluster, Client]:
    """Two in-process Dask workers, one thread each, with the runner's ``align`` resource."""
    # processes=False for speed: the tests check the runner, not process isolation
    # (make_client's processes=True path is covered by test_runner_pipeline).
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        resources={"align": 1},
    )
    return cluster, Client(cluster, set_as_default=False)


def add_job(
    settings: Settings,
    samples: dict[str, list[str]],
    *,
    library_type: str = "fr-unstranded",
    reads: dict[str, tuple[str, str]] | None = None,
    ref: str = "mini",
    gtf: str = "mini.gtf",
    output_folder: str | None = None,
    extra: dict[str, Any] | None = None,
    runs: dict[str, list[list[str]]] | None = None,
) -> str:
    """Insert a LAUNCHING job as the service would: groups -> sample names.

    ``extra`` adds request fields (``is_export_qc``, ``bed``, ``gene_sets``...);
    ``runs`` gives a sample its ``runs`` ([[R1, R2], ...] or [[R], ...]) instead of files.
    """
    job_id = str(uuid.uuid4())
    out = output_folder or f"{settings.allowed_roots[0]}/out"
    folder = Path(settings.allowed_roots[0]) / "reads"
    inputs = []
    for group, names in samples.items():
        members = []
        for name in names:
            r1, r2 = (reads or {}).get(
                name, (f"{folder}/{name}_R1.fastq.gz", f"{folder}/{name}_R2.fastq.gz")
            )
            if runs and name in runs:
                members.append({"sample_name": name, "runs": runs[name]})
            else:
                members.append({"sample_name": name, "files": [r1, r2]})
        inputs.append({"group_name": group, "group_inputs": members})
    request = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": inputs,
        "output": f"{out}/{job_id}.csv",
        "ref": ref,
        "gtf": gtf,
        "library_type": library_type,
        **(extra or {}),
    }
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as s, s.begin():
        job = JobRow(
            job_id=job_id,
            project_id="p1",
            owner="alice",
            job_type="RNA_DIFF_EXPR",
            status="LAUNCHING",
            request_json=json.dumps(request),
            start_time_ms=now_ms(),
            steps_total=sum(len(v) for v in samples.values()) + 1,
        )
        position = 0
        for group, names in samples.items():
            for name in names:
                job.samples.append(
                    SampleStateRow(sample_name=name, position=position, group_name=group)
                )
                position += 1
        s.add(job)
    engine.dispose()
    return job_id


def set_status(settings: Settings, job_id: str, status: str) -> None:
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as s, s.begin():
        s.get(JobRow, job_id).status = status
    engine.dispose()


def load_job(settings: Settings, job_id: str) -> tuple[JobRow, list[SampleStateRow]]:
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as s:
        job = s.get(JobRow, job_id)
        samples = list(job.samples)
    engine.dispose()
    return job, samples


def sim_request(sim: Any, *, ref: str, gtf: str, output: str) -> dict[str, Any]:
    """The contract's request for a simulated dataset (its groups, reads and library)."""
    return {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {
                "group_name": g,
                "group_inputs": [{"sample_name": s, "files": sim.reads[s]} for s in samples],
            }
            for g, samples in sim.groups.items()
        ],
        "adapt": sim.adapter,
        "ref": ref,
        "gtf": gtf,
        "library_type": sim.library_type,
        "output": output,
    }
