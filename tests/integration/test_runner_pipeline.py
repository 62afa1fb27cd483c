"""The runner with the real tasks on simulated data, on ``make_client``'s own cluster.

Checks what stand-ins cannot: the sample cache (a resubmission reuses alignments
even with another library type), the strandedness check against real reads, and
the full statistics task. Uses ``make_client`` (processes=True), as production does.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from genejobs.jobs.run.cache import SampleCache, sample_cache_key, sample_inputs
from genejobs.jobs.run.executor import close_client, make_client
from genejobs.jobs.run.runner import Runner
from genejobs.pipeline.records import (
    CountStats,
    LibraryType,
    ReadRun,
    ReadStats,
    SampleParams,
    SampleResult,
    SampleSpec,
)
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim.simulate import SimConfig, simulate
from genejobs.storage import Storage
from support.runner import add_job, load_job, make_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("pipeline")
    manifest = simulate(
        tmp / "sim",
        SimConfig(n_genes=30, samples_per_group=2, pairs_per_sample=3000, seed=7),
    )
    # A stranded declaration is checked after the first chunk (2,000 pairs) of 3,000.
    settings = make_settings(tmp, dask_workers=1, threads_per_worker=2, strand_check_pairs=1000)
    ReferenceRegistry(settings.reference_root).add(
        "mini", Path(manifest.genome), [("mini.gtf", Path(manifest.gtf))]
    )
    client = make_client(settings)
    runner = Runner(settings, runner_id="pipeline-runner", client=client)
    yield settings, manifest, runner
    close_client(client)


def submit(settings, manifest, library_type: str) -> str:
    reads = {name: tuple(files) for name, files in manifest.reads.items()}
    return add_job(settings, manifest.groups, library_type=library_type, reads=reads)


def test_real_job_finishes_then_resubmissions_reuse_the_cache(world) -> None:
    settings, manifest, runner = world
    first = submit(settings, manifest, manifest.library_type)
    assert runner.run_once() == first
    job, samples = load_job(settings, first)
    assert job.status == "FINISHED", job.message
    assert not any(s.from_cache for s in samples)
    outputs = json.loads(job.outputs_json)
    table = pd.read_csv(outputs["table"])
    assert {"gene_id", "log2FoldChange", "padj"} <= set(table.columns)
    counts = json.loads(samples[0].stats_json)["counts"]
    assert counts["assigned"][manifest.library_type] > 0.5 * manifest.config["pairs_per_sample"]

    # Wrong strand declared: fails fast from the cache, naming the sample and the fix.
    wrong = submit(settings, manifest, "fr-secondstrand")
    assert runner.run_once() == wrong
    job, samples = load_job(settings, wrong)
    assert job.status == "FAILED"
    assert job.message.startswith("sample '")
    assert "look fr-firststrand" in job.message
    assert all(s.from_cache for s in samples)

    # Auto: inferred from the reads, and said so.
    auto = submit(settings, manifest, "auto")
    assert runner.run_once() == auto
    job, samples = load_job(settings, auto)
    assert job.status == "FINISHED", job.message
    assert all(s.from_cache for s in samples)
    assert any("look fr-firststrand" in w for w in json.loads(job.warnings_json))


def test_qc_job_writes_bams_rseqc_fastqc_and_a_multiqc_report(world) -> None:
    settings, manifest, runner = world
    reads = {name: tuple(files) for name, files in manifest.reads.items()}
    job_id = add_job(
        settings,
        manifest.groups,
        library_type=manifest.library_type,
        reads=reads,
        extra={"is_export_qc": True, "bed": manifest.bed},
    )
    assert runner.run_once() == job_id
    job, samples = load_job(settings, job_id)
    assert job.status == "FINISHED", job.message
    assert not any(s.from_cache for s in samples)  # QC needs this run's BAMs
    folder = Path(json.loads(job.outputs_json)["table"]).parent / job_id
    rseqc = folder / "qc" / "rseqc"
    for name in manifest.reads:
        assert (folder / "bam" / f"{name}.bam").stat().st_size > 0
        assert (folder / "bam" / f"{name}.bam.bai").exists()
        for suffix in ("bam_stat.txt", "infer_experiment.txt", "geneBodyCoverage.txt"):
            assert (rseqc / f"{name}.{suffix}").stat().st_size > 0, suffix
        assert (folder / "qc" / "fastqc" / f"{name}_R1_fastqc" / "fastqc_data.txt").exists()
    # geneBody_coverage covered the sample's best-covered genes, one transcript each.
    curve = (rseqc / f"{samples[0].sample_name}.geneBodyCoverage.txt").read_text()
    assert len(curve.splitlines()) == 2 and float(curve.split()[-1]) > 0
    assert (folder / "qc" / "multiqc_report.html").exists()
    stats = folder / "qc" / "multiqc_data" / "multiqc_general_stats.txt"
    listed = {line.split("\t")[0] for line in stats.read_text().splitlines()[1:]}
    assert set(manifest.reads) <= listed
    assert (folder / "report.html").exists()

    # The same QC job again: every sample, its BAM and its QC come from the cache.
    again = add_job(
        settings,
        manifest.groups,
        library_type="auto",
        reads=reads,
        extra={"is_export_qc": True, "bed": manifest.bed},
    )
    assert runner.run_once() == again
    job, samples = load_job(settings, again)
    assert job.status == "FINISHED", job.message
    assert all(s.from_cache for s in samples)
    second = Path(json.loads(job.outputs_json)["table"]).parent / again
    for name in manifest.reads:
        for rel in (f"bam/{name}.bam", f"bam/{name}.bam.bai", f"qc/rseqc/{name}.bam_stat.txt"):
            assert (second / rel).read_bytes() == (folder / rel).read_bytes(), rel
        assert (second / "qc" / "fastqc" / f"{name}_R2_fastqc" / "fastqc_data.txt").exists()
    assert (second / "qc" / "multiqc_report.html").exists()
    table = pd.read_csv(second / "assignment.csv")
    assert set(table["qc_observed_library_type"]) == {manifest.library_type}


def test_contradicted_strand_fails_during_the_first_sample(world, tmp_path: Path) -> None:
    settings, manifest, runner = world
    # Fresh copies of the reads: nothing of them is cached yet.
    reads = {}
    for name, files in manifest.reads.items():
        copies = []
        for f in files:
            dest = Path(settings.allowed_roots[0]) / "fresh" / Path(f).name
            dest.parent.mkdir(exist_ok=True)
            shutil.copyfile(f, dest)
            copies.append(str(dest))
        reads[name] = tuple(copies)
    job_id = add_job(settings, manifest.groups, library_type="fr-secondstrand", reads=reads)
    assert runner.run_once() == job_id
    job, samples = load_job(settings, job_id)
    assert job.status == "FAILED"
    failed = job.message.split("'")[1]
    assert failed in manifest.reads
    assert job.message.startswith(f"sample '{failed}': library_type is fr-secondstrand")
    assert "look fr-firststrand" in job.message
    # It stopped after the first chunk: that many pairs counted, of 3,000.
    assert "after its first 2,000 read pairs" in job.message
    assert manifest.config["pairs_per_sample"] == 3000
    assert not any(s.state == "DONE" for s in samples)
    # Neither the failed sample nor any other reached the cache.
    cache = SampleCache(settings.sample_cache_root)
    storage = Storage(allowed_roots=settings.allowed_roots)
    ref = ReferenceRegistry(settings.reference_root).resolve("mini", "mini.gtf")
    for name, files in reads.items():
        sample = SampleSpec(name, "g", (ReadRun(*files),))
        key = sample_cache_key(
            sample,
            sample_inputs(storage, sample),
            fasta_sha256=ref.fasta_sha256,
            gtf_sha256=ref.gtf_sha256,
            params=SampleParams(),
        )
        assert cache.get(key) is None, name


def test_missing_reference_fails_with_the_field_and_choices(world) -> None:
    settings, manifest, runner = world
    reads = {name: tuple(files) for name, files in manifest.reads.items()}
    job_id = add_job(settings, manifest.groups, reads=reads, ref="hg38")
    assert runner.run_once() == job_id
    job, _ = load_job(settings, job_id)
    assert job.status == "FAILED"
    assert "ref: 'hg38' is not a registered reference (available: mini)" in job.message


def test_s3_inputs_and_outputs_run_and_are_cached_by_etag(world, s3_server) -> None:
    settings, manifest, _ = world
    s3_server.create_bucket("diff-expr")
    s3_settings = replace(
        settings,
        s3_endpoint_url=s3_server.endpoint_url,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
    )
    storage = Storage.from_settings(s3_settings)
    reads = {}
    for name, files in manifest.reads.items():
        uris = []
        for path in files:
            uri = f"s3a://diff-expr/reads/{Path(path).name}"
            storage.put_file(Path(path), storage.location(uri))
            uris.append(uri)
        reads[name] = tuple(uris)
    # Settings travel with each task, so the module's cluster serves this S3 runner too.
    runner = Runner(s3_settings, runner_id="s3-runner", client=world[2].client)
    job_id = add_job(
        s3_settings,
        manifest.groups,
        library_type="auto",
        reads=reads,
        output_folder="s3a://diff-expr/out",
    )
    assert runner.run_once() == job_id
    job, samples = load_job(s3_settings, job_id)
    assert job.status == "FINISHED", job.message
    # New objects (new ETag/identity, different place): not taken from the local-file cache.
    assert not any(s.from_cache for s in samples)
    outputs = json.loads(job.outputs_json)
    assert outputs["table"] == f"s3a://diff-expr/out/{job_id}.csv"
    assert b"log2FoldChange" in storage.read_bytes(storage.location(outputs["table"]))
    assert all(
        uri.startswith(f"s3a://diff-expr/out/{job_id}/")
        for uri in outputs.values()
        if uri != outputs["table"]
    )


def test_cache_key_follows_the_inputs_and_settings_not_the_library_type(tmp_path: Path) -> None:
    storage = Storage(allowed_roots=(tmp_path,))
    r1, r2 = tmp_path / "a_R1.fastq.gz", tmp_path / "a_R2.fastq.gz"
    r1.write_bytes(b"one")
    r2.write_bytes(b"two")

    def key(
        adapter: str | None = None,
        min_length: int = 20,
        gtf: str = "g",
        runs: tuple[ReadRun, ...] = (ReadRun(str(r1), str(r2)),),
        quantifier: str = "genome",
    ) -> str:
        sample = SampleSpec("a", "g", runs)
        params = SampleParams(adapter=adapter, min_length=min_length, quantifier=quantifier)
        return sample_cache_key(
            sample,
            sample_inputs(storage, sample),
            fasta_sha256="f",
            gtf_sha256=gtf,
            params=params,
        )

    base = key()
    assert key() == base
    assert len({base, key(adapter="ACGT"), key(min_length=30), key(gtf="other")}) == 4
    # every run's identity, their order and single-end vs paired are in it
    as_lanes = (ReadRun(str(r1), str(r2)), ReadRun(str(r2), str(r1)))
    single = (ReadRun(str(r1)),)
    variants = {base, key(runs=as_lanes), key(runs=as_lanes[::-1]), key(runs=single)}
    variants |= {key(runs=(ReadRun(str(r1)), ReadRun(str(r2)))), key(quantifier="transcripts")}
    assert len(variants) == 6
    r2.write_bytes(b"two, longer")  # content (size, mtime) changed
    assert key() != base


def test_cache_round_trip_keeps_every_number(tmp_path: Path) -> None:
    counts = {lt.value: np.arange(5, dtype=np.int64) * (i + 1) for i, lt in enumerate(LibraryType)}
    stats = CountStats(aligned=9, unique=8, multimapped=1, assigned={"fr-unstranded": 7})
    result = SampleResult(
        "S1",
        [f"G{i}" for i in range(5)],
        counts,
        ReadStats(pairs_in=10, pairs_out=9),
        stats,
        timings_ms={"align": 12},
        notes=["n"],
    )
    cache = SampleCache(tmp_path)
    key = "ab" * 32
    assert cache.get(key) is None
    cache.put(key, result)
    cache.put(key, result)  # a second writer of the same key is harmless
    back = cache.get(key)
    assert back is not None and back.from_cache
    assert (back.gene_ids, back.read_stats, back.count_stats) == (
        result.gene_ids,
        result.read_stats,
        result.count_stats,
    )
    assert all(np.array_equal(back.counts[k], v) for k, v in counts.items())
    (tmp_path / "ab" / key / "counts.npz").write_bytes(b"damaged")
    assert cache.get(key) is None  # a damaged entry is a miss, not a failed job


# -- an align process killed mid-job (run inside the Dask worker by client.run) -------


def _start_killing_align_children(limit: int, dask_worker: Any) -> None:
    """Kill up to ``limit`` align processes (children of an align server) of this worker."""
    import os as os_
    import threading
    import time as time_

    import psutil

    done = threading.Event()
    killer: dict[str, Any] = {"done": done, "killed": []}
    dask_worker.genejobs_test_killer = killer  # kept on the worker for _stop_killing

    def kill() -> None:
        me = psutil.Process(os_.getpid())
        while not done.is_set() and len(killer["killed"]) < limit:
            for proc in me.children(recursive=True):
                try:
                    parent = proc.parent()
                    serving = parent is not None and parent.pid != me.pid
                    if serving and "genejobs.pipeline.alignserver" in parent.cmdline():
                        proc.kill()
                        killer["killed"].append(proc.pid)
                        break
                except psutil.Error:
                    continue
            time_.sleep(0.005)

    threading.Thread(target=kill, daemon=True).start()


def _stop_killing(dask_worker: Any) -> list[int]:
    killer = dask_worker.genejobs_test_killer
    killer["done"].set()
    return list(killer["killed"])


def _job_with_kills(world, tmp_path: Path, limit: int) -> tuple[Any, list[Any], list[int]]:
    settings, manifest, runner = world
    # A fresh sample cache, so that every sample is aligned again.
    fresh = replace(settings, cache_root=tmp_path / "cache")
    job_runner = Runner(fresh, runner_id="kill-runner", client=runner.client)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        runner.client.run(_start_killing_align_children, limit)
        job_id = submit(fresh, manifest, manifest.library_type)
        assert job_runner.run_once() == job_id
    finally:
        killed = next(iter(runner.client.run(_stop_killing).values()))
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    job, samples = load_job(fresh, job_id)
    return job, samples, killed


def test_an_align_process_killed_once_is_retried_and_the_job_finishes(world, tmp_path) -> None:
    job, samples, killed = _job_with_kills(world, tmp_path, limit=1)
    assert len(killed) == 1
    assert job.status == "FINISHED", job.message
    notes = [n for s in samples for n in json.loads(s.stats_json)["notes"]]
    assert any(
        f"align process (pid {killed[0]}) exited unexpectedly: it was killed by SIGKILL" in n
        and "processed again, successfully" in n
        for n in notes
    ), notes


def test_an_align_process_killed_on_both_tries_fails_the_job_naming_the_cause(
    world, tmp_path
) -> None:
    job, samples, killed = _job_with_kills(world, tmp_path, limit=1000)
    assert len(killed) >= 2
    assert job.status == "FAILED"
    assert job.message.startswith("sample '"), job.message
    assert "an align process (pid " in job.message
    assert "killed by SIGKILL (signal 9), possibly out of memory" in job.message
    assert "tried once more, it failed again" in job.message
    assert "internal error" not in job.message
    assert [s.state for s in samples].count("FAILED") == 1
