"""QC on real BAMs: RSeQC's strandedness agrees with the simulator; MultiQC sees every sample."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pysam
import pytest

from genejobs.pipeline import qc as qc_module
from genejobs.pipeline.qc import run_multiqc, run_rseqc
from genejobs.pipeline.records import LibraryType, ReadRun, SampleParams, SampleSpec
from genejobs.pipeline.sample import process_sample
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage


def _bams(root: Path, library_type: str, samples_per_group: int = 1) -> tuple[list[Path], Path]:
    manifest = simulate(
        root / "sim",
        SimConfig(
            n_genes=80,
            pairs_per_sample=3000,
            samples_per_group=samples_per_group,
            library_type=library_type,
            seed=5,
        ),
    )
    registry = ReferenceRegistry(root / "refs")
    registry.add("qc", Path(manifest.genome), [("a.gtf", Path(manifest.gtf))])
    ref = registry.resolve("qc", "a.gtf")
    storage = Storage(allowed_roots=(root,))
    bams = []
    for name, (r1, r2) in manifest.reads.items():
        bam = root / f"{name}.bam"
        process_sample(
            SampleSpec(name, "G", (ReadRun(r1, r2),)),
            SampleParams(adapter=manifest.adapter),
            index_path=ref.index_path,
            gene_model=ref.load_gene_model(),
            storage=storage,
            threads=1,
            bam_path=bam,
        )
        assert bam.exists() and Path(f"{bam}.bai").exists()
        bams.append(bam)
    return bams, Path(manifest.bed)


@pytest.mark.parametrize("library_type", [lt.value for lt in LibraryType])
def test_infer_experiment_agrees_with_the_simulated_library_type(tmp_path, library_type):
    bams, bed = _bams(tmp_path, library_type)
    qc = run_rseqc(bams[0], bed, tmp_path / "qc", "S", only={"infer_experiment.py"})
    assert not qc.failed, qc.failed
    assert qc.observed_library_type == LibraryType(library_type), qc.strandedness


def test_every_module_runs_and_multiqc_lists_every_sample(tmp_path):
    bams, bed = _bams(tmp_path, "fr-firststrand", samples_per_group=1)
    qc_dir = tmp_path / "qc"
    for bam in bams:
        result = run_rseqc(bam, bed, qc_dir, bam.stem)
        assert not result.failed, result.failed
    names = {p.name for p in qc_dir.iterdir()}
    for bam in bams:
        for suffix in (
            ".bam_stat.txt",
            ".infer_experiment.txt",
            ".read_distribution.txt",
            ".junction_annotation.log",
            ".inner_distance_freq.txt",
            ".geneBodyCoverage.txt",
        ):
            assert f"{bam.stem}{suffix}" in names
    report = run_multiqc(qc_dir, tmp_path / "multiqc", title="test")
    assert report is not None
    stats = next((tmp_path / "multiqc").glob("*_data")) / "multiqc_general_stats.txt"
    listed = {line.split("\t")[0] for line in stats.read_text().splitlines()[1:]}
    assert {b.stem for b in bams} <= listed


def test_without_r_the_data_files_are_kept_and_the_plot_is_reported_skipped(tmp_path, monkeypatch):
    bams, bed = _bams(tmp_path, "fr-unstranded")
    monkeypatch.setenv("PATH", str(tmp_path / "no-r-here"))
    qc = run_rseqc(bams[0], bed, tmp_path / "qc", "S", only={"inner_distance.py"})
    assert not qc.failed, qc.failed
    assert qc.skipped_plots == ["inner_distance.py"]
    names = {p.name for p in qc.files}
    assert {"S.inner_distance_freq.txt", "S.inner_distance.log"} <= names


def test_the_runner_writes_what_the_scripts_write_on_their_own(tmp_path):
    """Byte for byte, but for the output folder's name (in paths) and timestamps."""
    bams, bed = _bams(tmp_path, "fr-secondstrand")
    alone, runner = tmp_path / "alone", tmp_path / "runner"
    alone.mkdir()
    for script, args in (
        ("geneBody_coverage.py", ["-r", str(bed), "-o", f"{alone}/S", "--skip-plot"]),
        ("inner_distance.py", ["-r", str(bed), "-o", f"{alone}/S", "--skip-plot"]),
        ("junction_annotation.py", ["-r", str(bed), "-o", f"{alone}/S", "--skip-plot"]),
    ):
        cmd = [sys.executable, str(qc_module.BIN / script), "-i", str(bams[0]), *args]
        subprocess.run(cmd, cwd=alone, check=True, capture_output=True)
    stdout = {}
    for script in ("bam_stat.py", "infer_experiment.py", "read_distribution.py"):
        cmd = [sys.executable, str(qc_module.BIN / script), "-i", str(bams[0])]
        cmd += [] if script == "bam_stat.py" else ["-r", str(bed)]
        stdout[script] = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = run_rseqc(bams[0], bed, runner, "S", threads=2)
    assert not result.failed, result.failed
    for name in (
        "S.geneBodyCoverage.txt",
        "S.inner_distance_freq.txt",
        "S.inner_distance.txt",
        "S.junction.xls",
        "S.junction.bed",
    ):
        assert (runner / name).read_bytes() == (alone / name).read_bytes(), name
    assert (runner / "S.bam_stat.txt").read_text() == stdout["bam_stat.py"]
    assert (runner / "S.infer_experiment.txt").read_text() == stdout["infer_experiment.py"]
    assert (runner / "S.read_distribution.txt").read_text() == stdout["read_distribution.py"]


def test_distribution_modules_read_a_fixed_subsample_the_others_every_read(tmp_path):
    bams, bed = _bams(tmp_path, "fr-firststrand")
    bam = bams[0]
    aligned = qc_module.count_pairs(bam)  # every pair in the BAM has an aligned mate or none
    genes = ReferenceRegistry(tmp_path / "refs").resolve("qc", "a.gtf").load_gene_model().genes
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}"
        result = qc_module.run_sample_qc(
            bam,
            bed,
            out,
            "S",
            genes=genes,
            coverage=np.ones(len(genes)),
            aligned_pairs=aligned,
            threads=2,
            max_pairs=1000,
        )
        assert not result.failed, result.failed
        runs.append((out, result))
    (out0, first), (out1, second) = runs
    assert first.aligned_pairs == aligned > 2000
    assert 800 < first.distribution_pairs <= 1000
    # The subsample is gone once the modules read it; the same selection made again
    # holds exactly the pairs the result reports.
    assert not bam.with_name("S.subsample.bam").exists()
    again = tmp_path / "again.bam"
    qc_module.subsample_bam(bam, again, aligned_pairs=aligned, max_pairs=1000)
    sub = qc_module.count_pairs(again)
    assert sub == first.distribution_pairs == second.distribution_pairs
    # inner_distance writes one line per pair it read: only the subsample's pairs.
    lines = (out0 / "S.inner_distance.txt").read_text().splitlines()
    assert 0 < len(lines) <= first.distribution_pairs
    # The same pairs every run: identical outputs.
    for name in ("S.inner_distance.txt", "S.geneBodyCoverage.txt"):
        assert (out0 / name).read_bytes() == (out1 / name).read_bytes(), name
    # bam_stat read every record of the full BAM.
    total = int(re.search(r"Total records:\s+(\d+)", (out0 / "S.bam_stat.txt").read_text())[1])
    assert total == 2 * sum(1 for r in pysam.AlignmentFile(str(bam)) if r.is_read1)
    table = (out0 / "S.qc_subsample.txt").read_text()
    assert f"inner_distance.py\t{sub}\t{aligned}\t" in table
    assert f"bam_stat.py\t{aligned}\t{aligned}\tevery read" in table
