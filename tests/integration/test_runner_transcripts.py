"""``"quantifier": "transcripts"`` through the runner and real tasks on a local Dask cluster.

What the e2e test does not cover: a QC job (its BAM and RSeQC come from a genome
alignment while counts come from salmon, and the outputs say so), the per-sample
cache of salmon's results, and a reference registered without a transcriptome
getting one on first use.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from genejobs.jobs.run.executor import close_client, make_client
from genejobs.jobs.run.runner import Runner
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim.simulate import SimConfig, simulate
from support.runner import add_job, load_job, make_settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("salmon"),  # skipped locally without it, a failure in CI
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("transcripts")
    manifest = simulate(
        tmp / "sim",
        SimConfig(n_genes=30, samples_per_group=2, pairs_per_sample=3000, seed=7),
    )
    settings = make_settings(tmp, dask_workers=1, threads_per_worker=2)
    # Registered as before transcriptomes existed: the first transcripts job builds it.
    ReferenceRegistry(settings.reference_root).add(
        "mini", Path(manifest.genome), [("mini.gtf", Path(manifest.gtf))], transcriptome=False
    )
    client = make_client(settings)
    runner = Runner(settings, runner_id="transcripts-runner", client=client)
    yield settings, manifest, runner
    close_client(client)


def _job(settings, manifest, **extra) -> str:
    reads = {name: tuple(files) for name, files in manifest.reads.items()}
    return add_job(
        settings,
        manifest.groups,
        library_type=manifest.library_type,
        reads=reads,
        extra={"quantifier": "transcripts", **extra},
    )


def test_first_use_builds_the_transcriptome_then_samples_come_from_the_cache(world) -> None:
    settings, manifest, runner = world
    registry = ReferenceRegistry(settings.reference_root)
    assert registry.resolve("mini", "mini.gtf").transcriptome_path is None
    first = _job(settings, manifest)
    assert runner.run_once() == first
    job, samples = load_job(settings, first)
    assert job.status == "FINISHED", job.message
    built = registry.resolve("mini", "mini.gtf").transcriptome_path
    assert built is not None and (built / "salmon").is_dir() and (built / "tx2gene.tsv").is_file()
    folder = Path(json.loads(job.outputs_json)["table"]).parent / first
    assert (folder / "transcripts.csv").exists()
    again = _job(settings, manifest)
    assert runner.run_once() == again
    job, samples = load_job(settings, again)
    assert job.status == "FINISHED", job.message
    assert all(s.from_cache for s in samples)
    # the cached estimates give the same gene counts
    first_counts = pd.read_csv(folder / "counts.csv", index_col=0)
    again_folder = Path(json.loads(job.outputs_json)["table"]).parent / again
    pd.testing.assert_frame_equal(
        first_counts, pd.read_csv(again_folder / "counts.csv", index_col=0)
    )


def test_a_qc_job_keeps_bam_and_rseqc_from_the_genome_and_says_which_counts(world) -> None:
    settings, manifest, runner = world
    job_id = _job(settings, manifest, is_export_qc=True, bed=manifest.bed)
    assert runner.run_once() == job_id
    job, _ = load_job(settings, job_id)
    assert job.status == "FINISHED", job.message
    folder = Path(json.loads(job.outputs_json)["table"]).parent / job_id
    for name in manifest.reads:
        assert (folder / "bam" / f"{name}.bam").stat().st_size > 0
        assert (folder / "qc" / "rseqc" / f"{name}.infer_experiment.txt").stat().st_size > 0
    assert (folder / "qc" / "multiqc_report.html").exists()
    run = json.loads((folder / "run.json").read_text())
    assert run["quantifier"] == "transcripts"
    assert "salmon" in run["counts_source"] and "genome alignment" in run["counts_source"]
    assignment = pd.read_csv(folder / "assignment.csv")
    assert (assignment["salmon_library_type_used"] == "ISR").all()
    assert (assignment["qc_observed_library_type"] == manifest.library_type).all()
