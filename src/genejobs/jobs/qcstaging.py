"""QC files of a job: a sample's RSeQC run and uploads, and MultiQC over all samples.

Runs on the Dask workers (from ``genejobs.jobs.tasks``). Staging is the part that
knows where things go: each sample's BAM (for IGV), RSeQC and FastQC files land
in the job's artifacts folder, and MultiQC reads them back from there, so a
sample done by one worker is seen by the statistics task on another.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from genejobs.jobs.spec import RnaDiffExprSpec
from genejobs.pipeline.records import (
    LibraryType,
    SampleQc,
    SampleResult,
    StopCheck,
)
from genejobs.references.model import GeneModel
from genejobs.storage import Storage, parse_uri


@dataclass(frozen=True)
class QcRequest:
    """Where a sample's BAM and RSeQC outputs go, and the gene model BED they use."""

    bed_uri: str
    artifacts_uri: str


def sample_qc(
    storage: Storage,
    result: SampleResult,
    bam: Path,
    qc: QcRequest,
    model: GeneModel,
    *,
    threads: int,
    stop: StopCheck | None = None,
) -> SampleResult:
    """RSeQC on the sample's BAM; BAM (for IGV) and QC files go to the artifacts folder.

    Returns a new result carrying the ``SampleQc`` record; ``result`` is unchanged.
    """
    from genejobs.pipeline.qc import run_sample_qc

    sample = result.sample_name
    folder = parse_uri(qc.artifacts_uri)
    bed = storage.location(qc.bed_uri, field="bed")
    with storage.local_copy(bed) as bed_local:
        found = run_sample_qc(
            bam,
            bed_local,
            bam.parent / "qc",
            sample,
            genes=model.genes,
            coverage=result.counts_for(LibraryType.UNSTRANDED),
            threads=threads,
            stop=stop,
        )
    for path in found.files:
        storage.put_file(path, folder.join("qc", "rseqc", path.name))
    for suffix in ("", ".bai"):
        local = bam.with_name(bam.name + suffix)
        if local.exists():
            storage.put_file(local, folder.join("bam", local.name))
    bam_uri = folder.join("bam", bam.name).original if bam.exists() else None
    for name, text in (result.read_qc.fastqc if result.read_qc else {}).items():
        loc = folder.join("qc", "fastqc", f"{name}_fastqc", "fastqc_data.txt")
        storage.write_bytes(loc, text.encode())
    record = SampleQc(
        bam_uri=bam_uri,
        observed_library_type=found.observed_library_type,
        infer_experiment=dict(found.strandedness),
        failed_modules=dict(found.failed),
    )
    return replace(result, qc=record)


def multiqc_files(
    storage: Storage,
    spec: RnaDiffExprSpec,
    results: list[SampleResult],
    library_type: LibraryType,
    *,
    title: str,
) -> dict[str, bytes]:
    """MultiQC over the samples' RSeQC files and htseq-style summaries, as extra outputs;
    ``title`` names the job (its name or id) for the reader."""
    from genejobs.pipeline.outputs import htseq_summary, tool_versions
    from genejobs.pipeline.qc import run_multiqc

    folder = parse_uri(spec.artifacts_uri).join("qc", "rseqc")
    with tempfile.TemporaryDirectory(prefix="genejobs-multiqc-") as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        for name in storage.listdir(folder):
            (inputs / name).write_bytes(storage.read_bytes(folder.join(name)))
        fastqc = parse_uri(spec.artifacts_uri).join("qc", "fastqc")
        for name in storage.listdir(fastqc):
            (inputs / name).mkdir(exist_ok=True)
            mate = fastqc.join(name, "fastqc_data.txt")
            (inputs / name / "fastqc_data.txt").write_bytes(storage.read_bytes(mate))
        for r in results:
            (inputs / f"{r.sample_name}.txt").write_bytes(htseq_summary(r, library_type))
        version = tool_versions()["genejobs"]
        report = run_multiqc(inputs, Path(tmp) / "out", title=title, version=version)
        if report is None:
            return {}
        files = {"qc/multiqc_report.html": report.read_bytes()}
        for data in report.parent.glob("*_data"):
            for path in sorted(p for p in data.rglob("*") if p.is_file()):
                files[f"qc/multiqc_data/{path.relative_to(data)}"] = path.read_bytes()
        return files
