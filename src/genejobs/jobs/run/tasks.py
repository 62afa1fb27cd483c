"""The functions that run on Dask workers, and the small protocol they share with the runner.

Workers never touch the job store. They learn about cancellation from a
``distributed.Event`` named after the job (``Future.cancel()`` cannot stop a task
that is already running, so the pipeline calls a stop check between chunks), and
they report progress as Dask *events* on a per-job topic (``Worker.log_event``);
the runner subscribes to that topic and writes the store. Both are cheap: one
small message to the scheduler at most every ``_THROTTLE_S`` seconds.

The science they call lives in ``genejobs.pipeline`` (a sample's counts, the
count matrix, the statistics); the QC files' places in ``genejobs.jobs.run.qcstaging``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import Event, Variable, get_client, get_worker

from genejobs.config import Settings
from genejobs.errors import CancelledError, InputError, WorkerProcessDied
from genejobs.jobs.request.spec import RnaDiffExprSpec
from genejobs.jobs.run.cache import SampleCache, sample_cache_key
from genejobs.jobs.run.qc_cache import QcCache, qc_cache_key
from genejobs.jobs.run.qcstaging import (
    QcRequest,
    multiqc_files,
    published_from_cache,
    qc_summary,
    sample_qc,
    staged_folder,
)
from genejobs.pipeline.records import (
    LibraryType,
    ProgressFn,
    SampleParams,
    SampleResult,
    SampleSpec,
    StopCheck,
)
from genejobs.storage import Storage

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_THROTTLE_S = 0.5


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
    from genejobs.pipeline.salmon import cache_tag, salmon_libtype
    from genejobs.pipeline.sample import process_sample
    from genejobs.references.registry import registry_for

    registry = registry_for(settings)
    transcripts = params.quantifier == "transcripts"
    # A reference registered before transcriptomes existed gets its one built here, once.
    reference = (
        registry.ensure_transcriptome(reference_name, gtf_name)
        if transcripts
        else registry.resolve(reference_name, gtf_name)
    )
    storage = Storage.from_settings(settings)
    inputs = []
    for which, uri in zip(("read 1", "read 2"), sample.uris, strict=True):
        label = f"sample '{sample.name}' {which}"
        loc = storage.location(uri, field=label)
        inputs.append((loc, storage.info(loc, field=label)))
    # auto and stranded declarations share one -l A run (see quantify_sample).
    quantifier = cache_tag(params)
    key = sample_cache_key(
        inputs=inputs,
        fasta_sha256=reference.fasta_sha256,
        gtf_sha256=reference.gtf_sha256,
        adapter=params.adapter,
        min_length=params.min_length,
        quantifier=quantifier,
    )
    cache = SampleCache(settings.sample_cache_root)
    qc_cache = QcCache(settings.sample_cache_root)
    cached = cache.get(key)
    qc_key = ""
    if qc is not None:
        bed = storage.location(qc.bed_uri, field="bed")
        bed_info = storage.info(bed, field="bed")
        bed_id = f"{bed.original}|{bed_info.size_bytes}|{bed_info.identity}"
        qc_key = qc_cache_key(key, sample_name=sample.name, bed_identity=bed_id)
        # QC wants the BAM and the QC files as well: without them cached, align again.
        if cached is not None:
            cached = published_from_cache(storage, qc_cache, key, qc_key, qc, cached)
    if (
        cached is not None
        and transcripts
        and not params.detect_library_type
        and cached.transcripts is not None
        and cached.transcripts.library_type_used == "IU"
        and params.library_type is not LibraryType.UNSTRANDED
    ):
        cached = None  # unstranded reads under a stranded declaration: quantify as declared
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

        def compute() -> SampleResult:
            return process_sample(
                sample,
                params,
                index_path=reference.index_path,
                gene_model=model,
                storage=storage,
                progress=make_progress(job_id, sample.name),
                stop=stop,
                threads=settings.threads_per_worker,
                bam_path=bam_path,
                strand_check_pairs=settings.strand_check_pairs,
            )

        genome_result: SampleResult | None = None
        retry_note = None
        # The genome path runs for its counts, or (transcripts + QC) for the BAM QC needs.
        if not transcripts or qc is not None:
            genome_result, retry_note = retried_once(compute, job_id, sample.name)
        if transcripts:
            result = _quantify(job_id, sample, params, reference, model, storage, stop, settings)
        else:
            assert genome_result is not None
            result = genome_result
        if result.read_stats.pairs_in == 0:
            raise InputError(
                f"sample '{sample.name}': '{sample.r1}' and '{sample.r2}' contain no read pairs"
            )
        # (not a second, declared-strand salmon run: see quantify_sample)
        cacheable = not (transcripts and salmon_libtype(params) == "A" and len(result.counts) == 1)
        try:  # before QC: the cache keeps what the reads give, not this job's QC
            if cacheable:
                cache.put(key, result)
        except OSError as exc:  # a full or read-only cache must not fail the job
            log.warning("job %s: could not cache sample %s (%s)", job_id, sample.name, exc)
        if retry_note:  # about this run, so not cached
            result = replace(result, notes=[*result.notes, retry_note])
        if qc is not None and bam_path is not None and genome_result is not None:
            report_progress(job_id, sample.name, 1.0, result.read_stats.pairs_in, "qc")
            checked = sample_qc(
                storage,
                genome_result,
                bam_path,
                qc,
                model,
                threads=settings.threads_per_worker,
                stop=stop,
            )
            # With transcripts, QC (BAM, RSeQC, read QC) came from the genome alignment.
            result = replace(result, read_qc=checked.read_qc, qc=checked.qc)
            if result.qc is not None and not result.qc.failed_modules:
                try:  # what was published, for a resubmission of this QC job
                    qc_cache.put(key, qc_key, staged_folder(bam_path), qc_summary(result))
                except OSError as exc:
                    log.warning("job %s: could not cache QC of %s (%s)", job_id, sample.name, exc)
    return result


def _quantify(
    job_id: str,
    sample: SampleSpec,
    params: SampleParams,
    reference: Any,
    model: Any,
    storage: Storage,
    stop: StopCheck,
    settings: Settings,
) -> SampleResult:
    """The transcript-level quantifier (salmon) on one sample."""
    from genejobs.pipeline.salmon import load_tx2gene, quantify_sample

    folder = reference.transcriptome_path
    report_progress(job_id, sample.name, 0.0, 0, "quantify")
    return quantify_sample(
        sample,
        params,
        index_dir=folder / "salmon",
        tx2gene=load_tx2gene(folder / "tx2gene.tsv"),
        gene_model=model,
        storage=storage,
        progress=make_progress(job_id, sample.name, "quantify"),
        stop=stop,
        threads=settings.threads_per_worker,
    )


def retried_once(
    compute: Callable[[], SampleResult], job_id: str, sample: str
) -> tuple[SampleResult, str | None]:
    """``compute()``, once more when a worker-side process died under it (a kill, a
    crash: often transient), with a note saying so; a second death fails the sample,
    naming both."""
    try:
        return compute(), None
    except WorkerProcessDied as first:
        log.warning("job %s: sample %s: %s; trying it once more", job_id, sample, first.message)
        report_progress(job_id, sample, 0.0, 0, "align (retry)")
        try:
            result = compute()
        except WorkerProcessDied as again:
            raise WorkerProcessDied(
                f"{first.message}; tried once more, it failed again: {again.message}"
            ) from again
        return result, f"{first.message}; processed again, successfully"


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


# -- statistics --------------------------------------------------------------


def _read_counts_table(
    storage: Storage, spec: RnaDiffExprSpec
) -> tuple[pd.DataFrame, dict[str, str], list[str], str]:
    """The job's counts table (checked at submit; read again here, where the work runs)."""
    from genejobs.pipeline.counts_table import read_count_table

    assert spec.counts is not None
    loc = storage.location(spec.counts, field="counts")
    table = read_count_table(
        storage.read_bytes(loc), label=loc.original, samples=[s.name for s in spec.samples]
    )
    return table.counts, table.gene_names, table.notes, table.format


def _report_fields(spec: RnaDiffExprSpec) -> dict[str, Any]:
    """What the report shows beyond run_info: the job's name and settings, table file name."""
    return {
        "name": spec.name,
        "is_export_qc": spec.is_export_qc,
        "gene_sets": spec.gene_sets,
        "table_file": spec.table_uri.rstrip("/").rsplit("/", 1)[-1],
    }


def _transcript_counts(
    spec: RnaDiffExprSpec, reference: Any, model: Any, sample_results: list[SampleResult]
) -> tuple[Any, dict[str, bytes], str]:
    """Gene counts from the transcript estimates (tximport's lengthScaledTPM), and
    ``transcripts.csv``; pydeseq2 takes no per-gene offsets, hence scaled counts."""
    from genejobs.pipeline.salmon import gene_counts_length_scaled, load_tx2gene, transcripts_table

    assert reference.transcriptome_path is not None
    tx2gene = load_tx2gene(reference.transcriptome_path / "tx2gene.tsv")
    counts = gene_counts_length_scaled(sample_results, tx2gene, model.gene_ids)
    table = transcripts_table(sample_results, tx2gene)
    engines = sorted({r.transcripts.engine for r in sample_results if r.transcripts})
    source = (
        f"transcripts: {', '.join(engines)} estimates summed per gene "
        "by tximport (pytximport, countsFromAbundance=lengthScaledTPM)"
        + ("; the BAM and RSeQC QC come from a genome alignment" if spec.is_export_qc else "")
    )
    return counts, {"transcripts.csv": table.to_csv(index=False).encode()}, source


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
    from genejobs.pipeline.matrix import count_matrix
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
    extra_transcripts: dict[str, bytes] = {}
    if spec.counts:
        counts, table_names, table_notes, table_format = _read_counts_table(storage, spec)
        gene_names = {**table_names, **gene_names} if gene_names else table_names
        counts_source = f"a counts table: {spec.counts}"
        # No reads were read: no strand rule, quantifier or adapter applies.
        run_info = {
            **run_info,
            "reads_processed": False,
            "library_type": None,
            "library_type_declared": None,
            "quantifier": None,
            "adapter": None,
            "counts_table_format": table_format,
        }
    elif spec.quantifier == "transcripts":
        assert model is not None and spec.ref and spec.gtf  # reads need ref and gtf
        reference = registry_for(settings).ensure_transcriptome(spec.ref, spec.gtf)
        counts, extra_transcripts, counts_source = _transcript_counts(
            spec, reference, model, sample_results
        )
    else:
        counts = count_matrix(sample_results, library_type)
        counts_source = "genome: minimap2 alignments counted with htseq-count's rules"
    run_info = {**run_info, "counts_source": counts_source}
    de = run_differential_expression(
        counts,
        {s.name: s.group for s in spec.samples},
        gene_names,
        [(c.control, c.treatment) for c in spec.comparisons],
        n_cpus=max(1, settings.threads_per_worker),
        covariates=spec.covariate_levels(),
        shrink=spec.shrink,
        lfc_threshold=spec.lfc_threshold,
        interactions=spec.interactions,
        test=spec.test,
        reduced=spec.reduced,
        coefficient=spec.coefficient,
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
        | ({"files": list(s.uris)} if not spec.counts else {})
        for s in spec.samples
    }
    job = {"job_id": job_id, **run_info, **_report_fields(spec)}
    genes = model.genes if model is not None else []
    rrna = frozenset(g.gene_id for g in genes if g.gene_type in RRNA_TYPES)
    enrichment = _enrichment(storage, spec, de) if spec.gene_sets else None
    title = f"genejobs: {spec.name or 'job ' + job_id}"
    qc_files = (
        multiqc_files(storage, spec, sample_results, library_type, title=title)
        if spec.is_export_qc
        else {}
    )
    extra_files = render_report(
        de,
        sample_results,
        job=job,
        library_type=library_type,
        rrna_genes=rrna,
        enrichment=enrichment.tables if enrichment else None,
        multiqc="qc/multiqc_report.html" in qc_files,
    )
    if enrichment is not None:
        for stem, res in enrichment.tables.items():
            extra_files[f"enrichment/{stem}.csv"] = res.to_csv(index=False).encode()
        de.notes.extend(enrichment.notes)
    extra_files.update(qc_files)
    extra_files.update(extra_transcripts)
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
