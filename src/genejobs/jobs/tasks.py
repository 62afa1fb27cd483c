"""The functions that run on Dask workers, and the small protocol they share with the runner.

Workers never touch the job store. They learn about cancellation from a
``distributed.Event`` named after the job (``Future.cancel()`` cannot stop a task
that is already running, so the pipeline calls a stop check between chunks), and
they report progress as Dask *events* on a per-job topic (``Worker.log_event``);
the runner subscribes to that topic and writes the store. Both are cheap: one
small message to the scheduler at most every ``_THROTTLE_S`` seconds.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from distributed import Event, Variable, get_client, get_worker

from genejobs.config import Settings
from genejobs.errors import CancelledError, InputError
from genejobs.jobs.cache import SampleCache, sample_cache_key
from genejobs.jobs.spec import RnaDiffExprSpec
from genejobs.pipeline.records import (
    LibraryType,
    ProgressFn,
    SampleParams,
    SampleResult,
    SampleSpec,
    StopCheck,
)
from genejobs.references.model import GeneModel
from genejobs.storage import Storage, parse_uri

log = logging.getLogger(__name__)

_THROTTLE_S = 0.5
# Below this many pairs assigned under a stranded rule, strandedness is not judged.
MIN_PAIRS_FOR_STRAND_CHECK = 50


def cancel_event_name(job_id: str) -> str:
    return f"genejobs-cancel-{job_id}"


def progress_topic(job_id: str) -> str:
    return f"genejobs-progress-{job_id}"


def attempt_variable_name(job_id: str) -> str:
    return f"genejobs-attempt-{job_id}"


def make_stop_check(job_id: str) -> StopCheck:
    """A stop check for the job's tasks: raises ``CancelledError`` when they must stop.

    Two signals, because a cancel is final but an interruption is not: the job's
    cancel Event (set when the job is cancelled or has failed; never cleared) and
    the job's current *attempt* token (a Variable the runner sets when it starts
    the job). A task of an older attempt, orphaned by a runner that stopped or lost
    its lease, sees a newer token and stops, without a shared flag that the new
    attempt would have to reset (and could reset too early).
    """
    client = get_client()
    event = Event(cancel_event_name(job_id), client=client)
    attempt = Variable(attempt_variable_name(job_id), client=client)
    try:
        token = attempt.get(timeout=0.5)
    except TimeoutError:  # not started by a runner (e.g. a task run by hand)
        token = None
    last_check = 0.0

    def stop() -> None:
        nonlocal last_check
        now = time.monotonic()
        if now - last_check < _THROTTLE_S / 2:
            return
        last_check = now
        if event.is_set():
            raise CancelledError("the job was cancelled")
        if token is not None and attempt.get(timeout=5) != token:
            raise CancelledError("the job was interrupted; a newer attempt runs it")

    return stop


def report_progress(job_id: str, sample_name: str, fraction: float, pairs: int, step: str) -> None:
    """Publish one progress message for the runner (a no-op outside a Dask worker)."""
    try:
        worker = get_worker()
    except ValueError:
        return
    worker.log_event(
        progress_topic(job_id),
        {"sample": sample_name, "fraction": float(fraction), "pairs": int(pairs), "step": step},
    )


def make_progress(job_id: str, sample_name: str, step: str = "align") -> ProgressFn:
    """A throttled progress callback for ``process_sample``."""
    last_sent = 0.0

    def progress(fraction: float, pairs: int) -> None:
        nonlocal last_sent
        now = time.monotonic()
        if now - last_sent >= _THROTTLE_S or fraction >= 1.0:
            last_sent = now
            report_progress(job_id, sample_name, fraction, pairs, step)

    return progress


@dataclass(frozen=True)
class QcRequest:
    """Where a sample's BAM and RSeQC outputs go, and the gene model BED they use."""

    bed_uri: str
    artifacts_uri: str


def run_sample_task(
    job_id: str,
    sample: SampleSpec,
    params: SampleParams,
    reference_name: str,
    gtf_name: str,
    settings: Settings,
    qc: QcRequest | None = None,
) -> SampleResult:
    """One sample from FASTQ to counts, or straight from the cache when it was done before."""
    # Imported here: the pipeline and the references are heavy and only workers need them.
    from genejobs.pipeline.sample import process_sample
    from genejobs.references.registry import registry_for

    reference = registry_for(settings).resolve(reference_name, gtf_name)
    storage = Storage.from_settings(settings)
    inputs = []
    for which, uri in (("read 1", sample.r1), ("read 2", sample.r2)):
        label = f"sample '{sample.name}' {which}"
        loc = storage.location(uri, field=label)
        inputs.append((loc, storage.info(loc, field=label)))
    key = sample_cache_key(
        inputs=inputs,
        fasta_sha256=reference.fasta_sha256,
        gtf_sha256=reference.gtf_sha256,
        adapter=params.adapter,
        min_length=params.min_length,
    )
    cache = SampleCache(settings.sample_cache_root)
    # QC needs this run's BAM, which the cache does not keep: align again then.
    cached = cache.get(key) if qc is None else None
    if cached is not None:
        log.info("job %s: sample %s from the cache (%s)", job_id, sample.name, key[:12])
        report_progress(job_id, sample.name, 1.0, cached.read_stats.pairs_in, "cache")
        return SampleCache.renamed(cached, sample.name)
    stop = make_stop_check(job_id)
    stop()
    report_progress(job_id, sample.name, 0.0, 0, "align")
    model = reference.load_gene_model()
    with tempfile.TemporaryDirectory(prefix="genejobs-sample-") as tmp:
        bam_path = Path(tmp) / f"{sample.name}.bam" if qc is not None else None
        result = process_sample(
            sample,
            params,
            index_path=reference.index_path,
            gene_model=model,
            storage=storage,
            progress=make_progress(job_id, sample.name),
            stop=stop,
            threads=settings.threads_per_worker,
            bam_path=bam_path,
        )
        if qc is not None and bam_path is not None and result.read_stats.pairs_in:
            report_progress(job_id, sample.name, 1.0, result.read_stats.pairs_in, "qc")
            _sample_qc(storage, sample.name, bam_path, qc, result, model, settings)
    if result.read_stats.pairs_in == 0:
        raise InputError(
            f"sample '{sample.name}': '{sample.r1}' and '{sample.r2}' contain no read pairs"
        )
    try:
        cache.put(key, result)
    except OSError as exc:  # a full or read-only cache must not fail the job
        log.warning("job %s: could not cache sample %s (%s)", job_id, sample.name, exc)
    return result


def _sample_qc(
    storage: Storage,
    sample: str,
    bam: Path,
    qc: QcRequest,
    result: SampleResult,
    model: GeneModel,
    settings: Settings,
) -> None:
    """RSeQC on the sample's BAM; the BAM (for IGV) and QC files go to the artifacts folder."""
    from genejobs.pipeline.qc import run_sample_qc

    folder = parse_uri(qc.artifacts_uri)
    bed = storage.location(qc.bed_uri, field="bed")
    with storage.local_copy(bed) as bed_local:
        qc_result = run_sample_qc(
            bam,
            bed_local,
            bam.parent / "qc",
            sample,
            genes=model.genes,
            coverage=result.counts_for(LibraryType.UNSTRANDED),
            threads=settings.threads_per_worker,
        )
    for path in qc_result.files:
        storage.put_file(path, folder.join("qc", "rseqc", path.name))
    for suffix in ("", ".bai"):
        local = bam.with_name(bam.name + suffix)
        if local.exists():
            storage.put_file(local, folder.join("bam", local.name))
    result.bam_uri = folder.join("bam", bam.name).original
    for name, text in dict(result.qc.get("fastqc", {})).items():  # type: ignore[call-overload]
        loc = folder.join("qc", "fastqc", f"{name}_fastqc", "fastqc_data.txt")
        storage.write_bytes(loc, str(text).encode())
    observed = qc_result.observed_library_type
    result.qc = {
        "infer_experiment": qc_result.strandedness,
        "observed_library_type": observed.value if observed else None,
        "failed_modules": qc_result.failed,
    }
    result.notes += [
        f"sample '{sample}': QC {m} failed: {why}" for m, why in qc_result.failed.items()
    ]


def _enrichment(storage: Storage, spec: RnaDiffExprSpec, de: Any) -> Any:
    """ORA and preranked GSEA per comparison with the request's GMT file."""
    from genejobs.pipeline.enrichment import EnrichmentResult, read_gmt, run_enrichment

    assert spec.gene_sets is not None
    loc = storage.location(spec.gene_sets, field="gene_sets")
    with storage.local_copy(loc) as path:
        sets = read_gmt(path, label=loc.original)
    total = EnrichmentResult()
    for label in de.comparisons:
        part = run_enrichment(de.table_for(label), sets, label=label)
        total.tables.update(part.tables)
        total.notes.extend(part.notes)
    return total


def _multiqc_files(
    storage: Storage, spec: RnaDiffExprSpec, results: list[SampleResult], library_type: LibraryType
) -> dict[str, bytes]:
    """MultiQC over the samples' RSeQC files and htseq-style summaries, as extra outputs."""
    from genejobs.pipeline.outputs import htseq_summary
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
            data = fastqc.join(name, "fastqc_data.txt")
            (inputs / name / "fastqc_data.txt").write_bytes(storage.read_bytes(data))
        for r in results:
            (inputs / f"{r.sample_name}.txt").write_bytes(htseq_summary(r, library_type))
        report = run_multiqc(inputs, Path(tmp) / "out", title=f"genejobs {spec.table_uri}")
        if report is None:
            return {}
        files = {"qc/multiqc_report.html": report.read_bytes()}
        for data in report.parent.glob("*_data"):
            for path in sorted(p for p in data.rglob("*") if p.is_file()):
                files[f"qc/multiqc_data/{path.relative_to(data)}"] = path.read_bytes()
        return files


# -- strandedness ------------------------------------------------------------


@dataclass
class LibraryChoice:
    """The library type the statistics use, with what the runner must tell the user."""

    library_type: LibraryType
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # set when the declared type contradicts the reads


_OPPOSITE = {
    LibraryType.FIRSTSTRAND: LibraryType.SECONDSTRAND,
    LibraryType.SECONDSTRAND: LibraryType.FIRSTSTRAND,
}


def _observed(result: SampleResult) -> tuple[LibraryType, float, int] | None:
    """(type the reads support, its share, stranded pairs), or None when too few pairs."""
    from genejobs.pipeline.count import infer_library_type

    stats = result.count_stats
    stranded_pairs = stats.assigned.get(LibraryType.FIRSTSTRAND.value, 0) + stats.assigned.get(
        LibraryType.SECONDSTRAND.value, 0
    )
    if stranded_pairs < MIN_PAIRS_FOR_STRAND_CHECK:
        return None
    observed, share = infer_library_type(stats)
    return observed, share, stranded_pairs


def choose_library_type(declared: LibraryType | None, results: list[SampleResult]) -> LibraryChoice:
    """Check the declared library type against the reads, or infer it (``None`` = auto).

    A stranded declaration contradicted by the reads fails the job: its counts would
    be mostly ``__no_feature`` and its statistics meaningless. An unstranded
    declaration on stranded reads is valid (just less precise), so only a warning.
    """
    observed = {r.sample_name: _observed(r) for r in results}
    if declared is None:
        votes = Counter(o[0] for o in observed.values() if o is not None)
        if not votes:
            return LibraryChoice(
                LibraryType.UNSTRANDED,
                ["library_type auto: too few assigned pairs to infer it; counted as fr-unstranded"],
            )
        chosen = votes.most_common(1)[0][0]
        choice = LibraryChoice(chosen, [f"library_type auto: the reads look {chosen.value}"])
        disagree = sorted(n for n, o in observed.items() if o is not None and o[0] is not chosen)
        if disagree:
            choice.warnings.append(
                f"library_type auto: samples {', '.join(disagree)} look different from the "
                f"majority ({chosen.value}); check how they were prepared"
            )
        return choice
    choice = LibraryChoice(declared)
    for name, o in observed.items():
        if o is None:
            continue
        seen, share, pairs = o
        if declared in _OPPOSITE and seen is _OPPOSITE[declared]:
            choice.error = (
                f"sample '{name}': library_type is {declared.value} but the reads look "
                f"{seen.value} ({share:.0%} of {pairs} strand-specific pairs agree with "
                f"{seen.value}); resubmit with library_type '{seen.value}' "
                "(the alignments are cached, so it will be quick)"
            )
            return choice
        if declared is LibraryType.UNSTRANDED and seen is not LibraryType.UNSTRANDED:
            choice.warnings.append(
                f"sample '{name}': the reads look {seen.value} ({share:.0%} of {pairs} "
                "strand-specific pairs), but fr-unstranded was declared; counts include "
                "reads from the opposite strand"
            )
    return choice


# -- statistics --------------------------------------------------------------


def count_matrix(results: list[SampleResult], library_type: LibraryType) -> pd.DataFrame:
    """Genes x samples integer counts for one strand rule (the DE module's orientation)."""
    gene_ids = results[0].gene_ids
    for r in results[1:]:
        if r.gene_ids != gene_ids:
            raise InputError(
                f"sample '{r.sample_name}' was counted against a different gene list than "
                f"'{results[0].sample_name}'; resubmit the job"
            )
    data = np.column_stack([r.counts_for(library_type) for r in results]).astype(np.int64)
    frame = pd.DataFrame(data, index=list(gene_ids), columns=[r.sample_name for r in results])
    return frame.rename_axis("gene_id")


def _read_counts_table(
    storage: Storage, spec: RnaDiffExprSpec
) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """The job's counts table (checked at submit; read again here, where the work runs)."""
    from genejobs.pipeline.counts_table import read_count_table

    assert spec.counts is not None
    loc = storage.location(spec.counts, field="counts")
    table = read_count_table(
        storage.read_bytes(loc), label=loc.original, samples=[s.name for s in spec.samples]
    )
    return table.counts, table.gene_names, table.notes


def run_statistics_task(
    job_id: str,
    spec: RnaDiffExprSpec,
    sample_results: list[SampleResult],
    run_info: dict[str, Any],
    settings: Settings,
) -> dict[str, Any]:
    """Count matrix → DE statistics → report → files; returns ``{"outputs", "warnings"}``.

    ``run_info`` carries the chosen ``library_type`` (a ``LibraryType`` value) and
    what the report shows about the run (reference, declared type, warnings...).
    """
    from genejobs.pipeline.de import run_differential_expression
    from genejobs.pipeline.outputs import RRNA_TYPES, write_job_outputs
    from genejobs.references.registry import registry_for
    from genejobs.report import render_report

    library_type = LibraryType(run_info["library_type"])
    storage = Storage.from_settings(settings)
    reference = (
        registry_for(settings).resolve(spec.ref, spec.gtf) if spec.ref and spec.gtf else None
    )
    model = reference.load_gene_model() if reference is not None else None
    gene_names = {g.gene_id: g.gene_name for g in model.genes} if model is not None else {}
    table_notes: list[str] = []
    if spec.counts:
        counts, table_names, table_notes = _read_counts_table(storage, spec)
        gene_names = {**table_names, **gene_names} if gene_names else table_names
    else:
        counts = count_matrix(sample_results, library_type)
    de = run_differential_expression(
        counts,
        {s.name: s.group for s in spec.samples},
        gene_names,
        [(c.control, c.treatment) for c in spec.comparisons],
        n_cpus=max(1, settings.threads_per_worker),
        covariates=spec.covariate_levels(),
        shrink=spec.shrink,
        lfc_threshold=spec.lfc_threshold,
    )
    de.notes[:0] = table_notes
    # DE cannot be interrupted, but a job cancelled meanwhile must not write its outputs.
    make_stop_check(job_id)()
    run_info = {**run_info, **de.design_info()}
    if reference is not None:
        run_info["reference"] = {"name": reference.name, "fasta_sha256": reference.fasta_sha256}
        run_info["annotation"] = {"name": reference.gtf_name, "gtf_sha256": reference.gtf_sha256}
    run_info["samples"] = {
        s.name: {"group": s.group, "covariates": dict(s.covariates)}
        | ({"files": [s.r1, s.r2]} if not spec.counts else {})
        for s in spec.samples
    }
    job = {"job_id": job_id, **run_info}
    genes = model.genes if model is not None else []
    rrna = frozenset(g.gene_id for g in genes if g.gene_type in RRNA_TYPES)
    enrichment = _enrichment(storage, spec, de) if spec.gene_sets else None
    extra_files = render_report(
        de,
        sample_results,
        job=job,
        library_type=library_type,
        rrna_genes=rrna,
        enrichment=enrichment.tables if enrichment else None,
    )
    if enrichment is not None:
        for stem, res in enrichment.tables.items():
            extra_files[f"enrichment/{stem}.csv"] = res.to_csv(index=False).encode()
        de.notes.extend(enrichment.notes)
    if spec.is_export_qc:
        extra_files.update(_multiqc_files(storage, spec, sample_results, library_type))
    outputs = write_job_outputs(
        storage,
        table_uri=spec.table_uri,
        artifacts_uri=spec.artifacts_uri,
        de=de,
        sample_results=sample_results,
        library_type=library_type,
        run_info=job,
        extra_files=extra_files,
        rrna_genes=rrna,
    )
    return {"outputs": dict(outputs), "warnings": [str(n) for n in de.notes]}
