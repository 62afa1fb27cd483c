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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import Event, Variable, get_client, get_worker

from genejobs.config import Settings
from genejobs.errors import CancelledError, InputError, WorkerProcessDied
from genejobs.jobs.request.spec import RnaDiffExprSpec
from genejobs.jobs.run.cache import (
    SampleCache,
    made_by_this_salmon,
    sample_cache_key,
    sample_inputs,
)
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

    from genejobs.pipeline.de import DEResult
    from genejobs.references.model import GeneModel
    from genejobs.references.registry import ResolvedReference

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


@dataclass(frozen=True)
class _SampleJob:
    """What a sample's steps share: the job, the sample, its settings and where things are."""

    job_id: str
    sample: SampleSpec
    params: SampleParams
    settings: Settings
    storage: Storage
    reference: ResolvedReference
    qc: QcRequest | None

    @property
    def transcripts(self) -> bool:
        return self.params.quantifier == "transcripts"


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
    job = _SampleJob(
        job_id,
        sample,
        params,
        settings,
        Storage.from_settings(settings),
        _reference_for(settings, params, reference_name, gtf_name),
        qc,
    )
    key = _cache_key(job)
    qc_key = _qc_key(job, key)
    cached = _usable_cached(job, key, qc_key)
    if cached is not None:
        log.info("job %s: sample %s from the cache (%s)", job_id, sample.name, key[:12])
        report_progress(job_id, sample.name, 1.0, cached.read_stats.pairs_in, "cache")
        return SampleCache.renamed(cached, sample.name)
    stop = make_stop_check(job_id)
    stop()
    report_progress(job_id, sample.name, 0.0, 0, "align")
    return _compute_sample(job, key, qc_key, stop)


def _reference_for(
    settings: Settings, params: SampleParams, reference_name: str, gtf_name: str
) -> ResolvedReference:
    """The reference; one registered before transcriptomes existed gets its one built here."""
    from genejobs.references.registry import registry_for

    registry = registry_for(settings)
    if params.quantifier == "transcripts":
        return registry.ensure_transcriptome(reference_name, gtf_name)
    return registry.resolve(reference_name, gtf_name)


def _cache_key(job: _SampleJob) -> str:
    """The sample's cache key, made by the one function the dry run calls too."""
    return sample_cache_key(
        job.sample,
        sample_inputs(job.storage, job.sample),
        fasta_sha256=job.reference.fasta_sha256,
        gtf_sha256=job.reference.gtf_sha256,
        params=job.params,
    )


def _qc_key(job: _SampleJob, key: str) -> str:
    """The QC cache key (the BED's identity on top of the sample's), "" without QC."""
    if job.qc is None:
        return ""
    bed = job.storage.location(job.qc.bed_uri, field="bed")
    bed_info = job.storage.info(bed, field="bed")
    bed_id = f"{bed.original}|{bed_info.size_bytes}|{bed_info.identity}"
    return qc_cache_key(key, sample_name=job.sample.name, bed_identity=bed_id)


def _usable_cached(job: _SampleJob, key: str, qc_key: str) -> SampleResult | None:
    """The cached result when it serves this job as it is, else None (compute again).

    Not usable: an entry from another salmon version; with QC, one whose BAM and QC
    files are not cached too; unstranded reads quantified as such when this job
    declares a strand (salmon then quantifies as declared).
    """
    cached = SampleCache(job.settings.sample_cache_root).get(key)
    if cached is None:
        return None
    if job.transcripts and not made_by_this_salmon(cached, _salmon_version()):
        return None
    if job.qc is not None:
        qc_cache = QcCache(job.settings.sample_cache_root)
        found = published_from_cache(job.storage, qc_cache, key, qc_key, job.qc, cached)
        if found is None:
            return None
        cached = found
    params = job.params
    if (
        job.transcripts
        and not params.detect_library_type
        and cached.transcripts is not None
        and cached.transcripts.library_type_used
        == _salmon_formats(job.sample.paired)[LibraryType.UNSTRANDED]
        and params.library_type is not LibraryType.UNSTRANDED
    ):
        return None
    return cached


def _salmon_version() -> str:
    from genejobs.references.transcriptome import salmon_version

    return salmon_version()


def _salmon_formats(paired: bool) -> dict[LibraryType, str]:
    from genejobs.pipeline.salmon import salmon_formats

    return salmon_formats(paired)


def _compute_sample(job: _SampleJob, key: str, qc_key: str, stop: StopCheck) -> SampleResult:
    """Align (genome path, or for the BAM QC needs) and/or quantify, cache, then QC."""
    sample = job.sample
    model = job.reference.load_gene_model()
    with tempfile.TemporaryDirectory(prefix="genejobs-sample-") as tmp:
        bam_path = Path(tmp) / f"{sample.name}.bam" if job.qc is not None else None
        genome_result: SampleResult | None = None
        retry_note = None
        # The genome path runs for its counts, or (transcripts + QC) for the BAM QC needs.
        if not job.transcripts or job.qc is not None:
            genome_result, retry_note = retried_once(
                lambda: _align(job, model, stop, bam_path), job.job_id, sample.name
            )
        if job.transcripts:
            result = _quantify(job, model, stop)
        else:
            assert genome_result is not None
            result = genome_result
        if result.read_stats.pairs_in == 0:
            raise InputError(
                f"sample '{sample.name}': {', '.join(repr(u) for u in sample.uris)} "
                "contain no reads"
            )
        _cache_counts(job, key, result)
        if retry_note:  # about this run, so not cached
            result = replace(result, notes=[*result.notes, retry_note])
        if bam_path is not None and genome_result is not None:
            result = _with_qc(job, key, qc_key, result, genome_result, bam_path, model, stop)
    return result


def _align(
    job: _SampleJob, model: GeneModel, stop: StopCheck, bam_path: Path | None
) -> SampleResult:
    """The genome path: reads → trim → minimap2 → htseq-count's rules (and a BAM for QC)."""
    from genejobs.pipeline.sample import process_sample

    return process_sample(
        job.sample,
        job.params,
        index_path=job.reference.index_path,
        gene_model=model,
        storage=job.storage,
        progress=make_progress(job.job_id, job.sample.name),
        stop=stop,
        threads=job.settings.threads_per_worker,
        bam_path=bam_path,
        strand_check_pairs=job.settings.strand_check_pairs,
    )


def _cache_counts(job: _SampleJob, key: str, result: SampleResult) -> None:
    """Cache what the reads gave (before QC, which is this job's, not the reads').

    Not cached: a salmon ``-l A`` run that served one declared type only (see
    ``quantify_sample``). A full or read-only cache must not fail the job.
    """
    from genejobs.pipeline.salmon import salmon_libtype

    if job.transcripts and salmon_libtype(job.params, job.sample.paired) == "A":
        if len(result.counts) == 1:
            return
    try:
        SampleCache(job.settings.sample_cache_root).put(key, result, replace_entry=job.transcripts)
    except OSError as exc:
        log.warning("job %s: could not cache sample %s (%s)", job.job_id, job.sample.name, exc)


def _with_qc(
    job: _SampleJob,
    key: str,
    qc_key: str,
    result: SampleResult,
    genome_result: SampleResult,
    bam_path: Path,
    model: GeneModel,
    stop: StopCheck,
) -> SampleResult:
    """RSeQC and read QC on the genome alignment's BAM; a clean QC goes to the QC cache.

    With transcripts, QC (BAM, RSeQC, read QC) comes from the genome alignment too.
    """
    assert job.qc is not None
    report_progress(job.job_id, job.sample.name, 1.0, result.read_stats.pairs_in, "qc")
    checked = sample_qc(
        job.storage,
        genome_result,
        bam_path,
        job.qc,
        model,
        threads=job.settings.threads_per_worker,
        stop=stop,
        paired=job.sample.paired,
    )
    result = replace(result, read_qc=checked.read_qc, qc=checked.qc)
    if result.qc is not None and not result.qc.failed_modules:
        try:  # what was published, for a resubmission of this QC job
            QcCache(job.settings.sample_cache_root).put(
                key, qc_key, staged_folder(bam_path), qc_summary(result)
            )
        except OSError as exc:
            log.warning("job %s: could not cache QC of %s (%s)", job.job_id, job.sample.name, exc)
    return result


def _quantify(job: _SampleJob, model: GeneModel, stop: StopCheck) -> SampleResult:
    """The transcript-level quantifier (salmon) on one sample."""
    from genejobs.pipeline.salmon import load_tx2gene, quantify_sample

    folder = job.reference.transcriptome_path
    assert folder is not None
    report_progress(job.job_id, job.sample.name, 0.0, 0, "quantify")
    return quantify_sample(
        job.sample,
        job.params,
        index_dir=folder / "salmon",
        tx2gene=load_tx2gene(folder / "tx2gene.tsv"),
        gene_model=model,
        storage=job.storage,
        progress=make_progress(job.job_id, job.sample.name, "quantify"),
        stop=stop,
        threads=job.settings.threads_per_worker,
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


def _enrichment(
    storage: Storage, spec: RnaDiffExprSpec, de: Any, reference: Any, settings: Settings
) -> Any:
    """ORA and preranked GSEA per comparison: the request's GMT (labelled "user GMT")
    and, by default, the gene sets kept with a fetched reference (GO, Reactome)."""
    from genejobs.pipeline.enrichment import GeneSetCollection, read_gmt, run_collections

    collections = []
    if spec.gene_sets:
        loc = storage.location(spec.gene_sets, field="gene_sets")
        with storage.local_copy(loc) as path:
            sets = read_gmt(path, label=loc.original)
        collections.append(GeneSetCollection("user GMT", sets, origin=loc.original))
    for entry in getattr(reference, "gene_sets", ()) or ():
        path = reference.gene_set_path(entry)
        collections.append(
            GeneSetCollection(
                str(entry["name"]),
                read_gmt(path, label=f"{reference.name}/{entry['file']}"),
                key=str(entry.get("key", "gene_name")),
                release=str(entry.get("release", "")),
                stem=str(entry["name"]),
                origin=f"reference {reference.name}",
                # A bounded GSEA (issue 25: <= 30 s on 2 cores): Reactome fits, GO
                # (~10k testable sets) gets ORA only, with a note.
                min_size=5,
                max_size=500,
                permutations=100,
                gsea_max_sets=2500,
            )
        )
    if not collections:
        return None
    return run_collections(
        {c: de.table_for(c) for c in de.comparisons},
        collections,
        threads=max(1, settings.threads_per_worker),
    )


# -- statistics --------------------------------------------------------------


def _read_counts_table(
    storage: Storage, spec: RnaDiffExprSpec
) -> tuple[pd.DataFrame, dict[str, str], list[str], str]:
    """The job's counts table (checked at submit; read again here, where the work runs)."""
    from genejobs.pipeline.counts_table import read_count_table

    assert spec.counts is not None
    loc = storage.location(spec.counts, field="counts")
    with storage.open_read(loc, field="counts") as stream:  # streamed, bounded while read
        table = read_count_table(stream, label=loc.original, samples=[s.name for s in spec.samples])
    return table.counts, table.gene_names, table.notes, table.format


def _layout_info(spec: RnaDiffExprSpec) -> dict[str, Any]:
    """run.json's record of the reads' layout, and salmon's fragment-length prior for
    single-end reads (they carry no fragment length of their own)."""
    if spec.counts or not spec.samples:
        return {}
    from genejobs.pipeline.salmon import SE_FRAGMENT_MEAN, SE_FRAGMENT_SD

    paired = all(s.paired for s in spec.samples)
    info: dict[str, Any] = {"read_layout": "paired-end" if paired else "single-end"}
    if not paired and spec.quantifier == "transcripts":
        info["salmon_single_end_fragment_length"] = {"mean": SE_FRAGMENT_MEAN, "sd": SE_FRAGMENT_SD}
    return info


def _skipped_qc_notes(results: list[SampleResult]) -> list[str]:
    """One note per QC module that did not run, with why (e.g. inner_distance, single-end)."""
    skipped: dict[str, str] = {}
    for r in results:
        if r.qc is not None:
            skipped.update(r.qc.skipped_modules)
    return [f"QC {module} {why}" for module, why in sorted(skipped.items())]


def _provenance_summary(p: dict[str, Any]) -> dict[str, Any]:
    """What run.json and the report say about a fetched reference's origin."""
    return {
        k: p.get(k)
        for k in ("catalogue_name", "source", "release", "checksums_verified", "fetched", "mirror")
    } | {
        "files": [
            {k: f.get(k) for k in ("role", "url", "algorithm", "checksum")}
            for f in p.get("files", [])
        ]
    }


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


@dataclass
class _StatisticsInput:
    """The count matrix and what travels with it into the statistics and the report."""

    counts: pd.DataFrame
    source: str  # run.json's ``counts_source``: where the counts came from
    gene_names: dict[str, str]
    reference: ResolvedReference | None  # the transcriptome's, when counted from transcripts
    notes: list[str] = field(default_factory=list)  # the counts table's notes
    extra_files: dict[str, bytes] = field(default_factory=dict)  # transcripts.csv
    run_info: dict[str, Any] = field(default_factory=dict)  # what run.json changes


def _resolve_reference(
    spec: RnaDiffExprSpec, settings: Settings
) -> tuple[ResolvedReference | None, GeneModel | None]:
    """The job's reference and gene model; a counts table without ``ref``/``gtf`` has none."""
    from genejobs.references.registry import registry_for

    reference = (
        registry_for(settings).resolve(spec.ref, spec.gtf) if spec.ref and spec.gtf else None
    )
    model = reference.load_gene_model() if reference is not None else None
    return reference, model


def _statistics_input(
    storage: Storage,
    spec: RnaDiffExprSpec,
    sample_results: list[SampleResult],
    library_type: LibraryType,
    settings: Settings,
) -> tuple[_StatisticsInput, GeneModel | None]:
    """The gene counts from one of three sources: a counts table, transcript estimates or
    genome alignments; and the gene model the report's rRNA genes come from."""
    from genejobs.pipeline.matrix import count_matrix
    from genejobs.references.registry import registry_for

    reference, model = _resolve_reference(spec, settings)
    gene_names = {g.gene_id: g.gene_name for g in model.genes} if model is not None else {}
    if spec.counts:
        counts, table_names, table_notes, table_format = _read_counts_table(storage, spec)
        # No reads were read: no strand rule, quantifier or adapter applies.
        no_reads = {
            "reads_processed": False,
            "library_type": None,
            "library_type_declared": None,
            "quantifier": None,
            "adapter": None,
            "counts_table_format": table_format,
        }
        return _StatisticsInput(
            counts=counts,
            source=f"a counts table: {spec.counts}",
            gene_names={**table_names, **gene_names} if gene_names else table_names,
            reference=reference,
            notes=table_notes,
            run_info=no_reads,
        ), model
    if spec.quantifier == "transcripts":
        assert model is not None and spec.ref and spec.gtf  # reads need ref and gtf
        reference = registry_for(settings).ensure_transcriptome(spec.ref, spec.gtf)
        counts, extra_transcripts, source = _transcript_counts(
            spec, reference, model, sample_results
        )
        return _StatisticsInput(
            counts, source, gene_names, reference, extra_files=extra_transcripts
        ), model
    return _StatisticsInput(
        count_matrix(sample_results, library_type),
        "genome: minimap2 alignments counted with htseq-count's rules",
        gene_names,
        reference,
    ), model


def _differential_expression(
    spec: RnaDiffExprSpec, data: _StatisticsInput, settings: Settings
) -> DEResult:
    """The request's design, comparisons and test, run on the count matrix."""
    from genejobs.pipeline.de import run_differential_expression

    return run_differential_expression(
        data.counts,
        {s.name: s.group for s in spec.samples},
        data.gene_names,
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


def _described_run(
    run_info: dict[str, Any],
    spec: RnaDiffExprSpec,
    de: DEResult,
    reference: ResolvedReference | None,
) -> dict[str, Any]:
    """run_info with the design, the reference and annotation used, and the samples."""
    run_info = {**run_info, **de.design_info()}
    if reference is not None:
        run_info["reference"] = {"name": reference.name, "fasta_sha256": reference.fasta_sha256}
        if reference.provenance:  # fetched by name: where it came from
            run_info["reference"]["provenance"] = _provenance_summary(reference.provenance)
        run_info["annotation"] = {"name": reference.gtf_name, "gtf_sha256": reference.gtf_sha256}
    run_info["samples"] = {
        s.name: {"group": s.group, "covariates": dict(s.covariates)}
        | ({"files": list(s.uris)} if not spec.counts else {})
        for s in spec.samples
    }
    return run_info


def _rrna_genes(reference: ResolvedReference | None, model: GeneModel | None) -> frozenset[str]:
    """The rRNA genes the QC counts: a fetched reference names its rRNA gene types in the
    catalogue; others: the default types."""
    from genejobs.pipeline.outputs import RRNA_TYPES

    genes = model.genes if model is not None else []
    qc = (reference.provenance.get("qc") or {}) if reference is not None else {}
    rrna_types = frozenset(qc.get("rrna_gene_types") or RRNA_TYPES)
    return frozenset(g.gene_id for g in genes if g.gene_type in rrna_types)


def _report_and_files(
    storage: Storage,
    spec: RnaDiffExprSpec,
    de: DEResult,
    sample_results: list[SampleResult],
    library_type: LibraryType,
    *,
    job: dict[str, Any],
    rrna: frozenset[str],
    enrichment: Any,
) -> dict[str, bytes]:
    """The report, the enrichment tables and the MultiQC files, by artifact path; the
    enrichment's notes join the job's after the report is drawn."""
    from genejobs.report import render_report

    title = f"genejobs: {spec.name or 'job ' + job['job_id']}"
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
    return extra_files


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
    from genejobs.pipeline.outputs import write_job_outputs

    library_type = LibraryType(run_info["library_type"])
    storage = Storage.from_settings(settings)
    data, model = _statistics_input(storage, spec, sample_results, library_type, settings)
    run_info = {
        **run_info,
        **data.run_info,
        "counts_source": data.source,
        **_layout_info(spec),
    }
    de = _differential_expression(spec, data, settings)
    de.notes[:0] = data.notes + _skipped_qc_notes(sample_results)
    # DE cannot be interrupted, but a job cancelled meanwhile must not write its outputs.
    make_stop_check(job_id)()
    run_info = _described_run(run_info, spec, de, data.reference)
    job = {"job_id": job_id, **run_info, **_report_fields(spec)}
    rrna = _rrna_genes(data.reference, model)
    enrichment = _enrichment(storage, spec, de, data.reference, settings)
    if enrichment is not None:
        job["gene_set_collections"] = enrichment.collections
    extra_files = _report_and_files(
        storage, spec, de, sample_results, library_type, job=job, rrna=rrna, enrichment=enrichment
    )
    extra_files.update(data.extra_files)
    written = [f for r in sample_results if r.qc is not None for f in r.qc.files]
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
        record=written,
    )
    return {
        "outputs": dict(outputs),
        "warnings": [str(n) for n in de.notes],
        "written": [[uri, size] for uri, size in written],
    }
