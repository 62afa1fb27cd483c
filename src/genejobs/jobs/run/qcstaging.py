"""QC files of a job: a sample's RSeQC run and uploads, and MultiQC over all samples.

Runs on the Dask workers (from ``genejobs.jobs.run.tasks``). Staging is the part that
knows where things go: each sample's BAM (for IGV), RSeQC and FastQC files land
in the job's artifacts folder, and MultiQC reads them back from there, so a
sample done by one worker is seen by the statistics task on another.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from genejobs.jobs.request.spec import RnaDiffExprSpec
from genejobs.jobs.run.qc_cache import QcCache
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


def staged_folder(bam: Path) -> Path:
    """Where ``sample_qc`` lays out what it publishes (``bam/``, ``qc/rseqc/``,
    ``qc/fastqc/``), as under the job's artifacts folder; kept for the QC cache."""
    return bam.parent / "artifacts"


def sample_qc(
    storage: Storage,
    result: SampleResult,
    bam: Path,
    qc: QcRequest,
    model: GeneModel,
    *,
    threads: int,
    stop: StopCheck | None = None,
    paired: bool = True,
) -> SampleResult:
    """RSeQC on the sample's BAM; BAM (for IGV) and QC files go to the artifacts folder.

    Returns a new result carrying the ``SampleQc`` record; ``result`` is unchanged.
    The files are staged in ``staged_folder(bam)`` first and uploaded from there.
    """
    from genejobs.pipeline.qc import run_sample_qc

    sample = result.sample_name
    staged = staged_folder(bam)
    bed = storage.location(qc.bed_uri, field="bed")
    with storage.local_copy(bed) as bed_local:
        found = run_sample_qc(
            bam,
            bed_local,
            staged / "qc" / "rseqc",
            sample,
            genes=model.genes,
            coverage=result.counts_for(LibraryType.UNSTRANDED),
            aligned_pairs=result.count_stats.aligned,
            threads=threads,
            stop=stop,
            paired=paired,
        )
    (staged / "bam").mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".bai"):
        local = bam.with_name(bam.name + suffix)
        if local.exists():
            os.replace(local, staged / "bam" / local.name)
    for name, text in (result.read_qc.fastqc if result.read_qc else {}).items():
        path = staged / "qc" / "fastqc" / f"{name}_fastqc" / "fastqc_data.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    published = _publish(storage, staged, qc.artifacts_uri)
    has_bam = (staged / "bam" / bam.name).exists()
    record = SampleQc(
        bam_uri=parse_uri(qc.artifacts_uri).join("bam", bam.name).original if has_bam else None,
        observed_library_type=found.observed_library_type,
        infer_experiment=dict(found.strandedness),
        failed_modules=dict(found.failed),
        distribution_pairs=found.distribution_pairs,
        files=published,
        skipped_modules=dict(found.skipped),
    )
    return replace(result, qc=record)


def _publish(storage: Storage, files: Path, artifacts_uri: str) -> tuple[tuple[str, int], ...]:
    """Upload a staged tree (``bam/``, ``qc/…``) under the job's artifacts folder; what
    was written (URI, bytes), for the job's manifest. A failed upload removes what it
    had written, so no half-published sample is left behind unrecorded."""
    folder = parse_uri(artifacts_uri)
    written: list[tuple[str, int]] = []
    try:
        for path in sorted(p for p in files.rglob("*") if p.is_file()):
            loc = folder.join(*path.relative_to(files).parts)
            storage.put_file(path, loc)
            written.append((loc.original, path.stat().st_size))
    except BaseException:
        forget(storage, [uri for uri, _ in written])
        raise
    return tuple(written)


def forget(storage: Storage, uris: list[str]) -> None:
    """Best-effort removal of files this step wrote before it failed."""
    for uri in uris:
        try:
            storage.remove_file(parse_uri(uri))
        except Exception:  # already failing: the first error is the one to report
            continue


def qc_summary(result: SampleResult) -> dict[str, Any]:
    """What the QC cache keeps of a sample's ``SampleQc`` (JSON), besides its files."""
    assert result.qc is not None
    q = result.qc
    return {
        "bam_name": parse_uri(q.bam_uri).name if q.bam_uri else None,
        "observed_library_type": q.observed_library_type.value if q.observed_library_type else None,
        "infer_experiment": q.infer_experiment,
        "failed_modules": q.failed_modules,
        "distribution_pairs": q.distribution_pairs,
        "skipped_modules": q.skipped_modules,
    }


def published_from_cache(
    storage: Storage,
    qc_cache: QcCache,
    key: str,
    qc_key: str,
    qc: QcRequest,
    cached: SampleResult,
) -> SampleResult | None:
    """The cached counts with their cached BAM and QC files published for this job, or
    None when the QC is not cached (the sample is then aligned again)."""
    hit = qc_cache.get(key, qc_key)
    if hit is None:
        return None
    files, summary = hit
    published = _publish(storage, files, qc.artifacts_uri)
    observed = summary.get("observed_library_type")
    bam_name = summary.get("bam_name")
    record = SampleQc(
        bam_uri=parse_uri(qc.artifacts_uri).join("bam", bam_name).original if bam_name else None,
        observed_library_type=LibraryType(observed) if observed else None,
        infer_experiment=dict(summary.get("infer_experiment", {})),
        failed_modules=dict(summary.get("failed_modules", {})),
        distribution_pairs=summary.get("distribution_pairs"),
        files=published,
        skipped_modules=dict(summary.get("skipped_modules", {})),
    )
    return replace(cached, qc=record)


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
