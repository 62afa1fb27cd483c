"""One sample from FASTQ to gene counts: read → trim → align → count, streamed in chunks.

A sample's runs (lanes) are one stream (``SampleReads``); single-end reads go through
the same steps, each read a fragment of its own."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genejobs.errors import InputError
from genejobs.pipeline.alignserver import ServedChunk, align_processes
from genejobs.pipeline.bam import BamWriter, pair_record
from genejobs.pipeline.count import (
    STRAND_CHECK_PAIRS,
    GeneIndex,
    PairCounter,
    strand_contradiction,
)
from genejobs.pipeline.readqc import MateQC
from genejobs.pipeline.reads import ReadChunk, SampleReads
from genejobs.pipeline.records import (
    ProgressFn,
    ReadQc,
    ReadStats,
    SampleParams,
    SampleResult,
    SampleSpec,
    StopCheck,
)
from genejobs.pipeline.trim import ReadTrimmer
from genejobs.references.model import GeneModel
from genejobs.storage import Storage

log = logging.getLogger(__name__)
# The last annotation's overlap index, by the checksum of its GTF: samples of one
# job in one worker process share it.
_INDEXES: dict[str, GeneIndex] = {}


def gene_index(model: GeneModel) -> GeneIndex:
    """The overlap index of ``model``, built once per annotation and process.

    Keyed by the GTF's checksum, not the model object: another model parsed from
    the same file shares the index, and one from another file never gets it. A
    model without a checksum (built in memory) gets a fresh index.
    """
    key = model.source_checksum
    if not key:
        return GeneIndex(model)
    index = _INDEXES.get(key)
    if index is None:  # (a sample in another thread may swap the entry meanwhile)
        index = GeneIndex(model)
        _INDEXES.clear()
        _INDEXES[key] = index
    return index


def _count_aligned(aligned: ServedChunk, counter: PairCounter, bam: BamWriter | None) -> None:
    """Count an aligned chunk; its SAM text goes to the BAM when one is written."""
    counter.add_flat(aligned.flat)
    if bam is not None and aligned.sam is not None:
        bam.add_sam(aligned.sam)


def _trimmed_pairs(
    chunk: ReadChunk,
    trimmer: ReadTrimmer,
    read_stats: ReadStats,
    read_qc: tuple[MateQC, ...] | None,
    *,
    sam: bool,
) -> list[Any]:
    """Trim a chunk (read QC sees the reads as sequenced) and shape its fragments for
    the aligner: whole records when a BAM is written, the two sequences otherwise (a
    single-end read has ``""`` as its read 2)."""
    kept = trimmer(chunk, read_stats)
    if read_qc is not None:
        mates = (chunk.r1,) if chunk.r2 is None else (chunk.r1, chunk.r2)
        for mate, records, lengths in zip(read_qc, mates, trimmer.last_lengths, strict=False):
            mate.add([r.sequence for r in records], [r.qualities or "" for r in records], lengths)
    if kept.r2 is None:
        if sam:
            return [pair_record(a.name, a.sequence, a.qualities or "", "", "") for a in kept.r1]
        return [(a.sequence, "") for a in kept.r1]
    if sam:
        return [
            pair_record(a.name, a.sequence, a.qualities or "", b.sequence, b.qualities or "")
            for a, b in zip(kept.r1, kept.r2, strict=True)
        ]
    return [(a.sequence, b.sequence) for a, b in zip(kept.r1, kept.r2, strict=True)]


def read_qc_names(sample: SampleSpec) -> list[str]:
    """Read QC's report names: ``<sample>_R1``/``_R2`` for pairs, ``<sample>`` single-end."""
    return [f"{sample.name}_R1", f"{sample.name}_R2"] if sample.paired else [sample.name]


def _report(progress: ProgressFn | None, reads: SampleReads) -> None:
    if progress is not None:
        progress(reads.fraction_done, reads.pairs_read)


def _check_strand(
    sample: SampleSpec, params: SampleParams, counter: PairCounter, done: float
) -> None:
    """Fail now when the fragments counted so far contradict a stranded declaration."""
    name, unit = sample.name, "read pairs" if sample.paired else "reads"
    problem = strand_contradiction(
        name, params.declared_library_type, counter.stats, unit=unit.split()[-1]
    )
    if problem:
        log.info("sample %s: strandedness contradicted after %d %s", name, counter.pairs, unit)
        raise InputError(
            f"{problem} (found after its first {counter.pairs:,} {unit}, "
            f"{done:.0%} of the sample, so the job stopped there; nothing of this sample "
            "is cached, the resubmit aligns it from the start and takes samples that had "
            "finished from the cache)"
        )


def process_sample(
    sample: SampleSpec,
    params: SampleParams,
    *,
    index_path: Path,
    gene_model: GeneModel,
    storage: Storage,
    progress: ProgressFn | None = None,
    stop: StopCheck | None = None,
    threads: int = 2,
    chunk_pairs: int = 10_000,
    bam_path: Path | None = None,
    strand_check_pairs: int = STRAND_CHECK_PAIRS,
) -> SampleResult:
    """Count one sample's fragments (pairs, or single reads) per gene under the three
    strand rules. A stranded ``params.declared_library_type`` is checked once ``strand_check_pairs`` pairs
    are counted: reads that contradict it raise ``InputError`` there, instead of
    after the whole sample (and every other one) has been aligned.
    """
    timings = {"read_trim": 0.0, "align": 0.0, "count": 0.0}
    reads = SampleReads(storage, sample)
    trimmer = ReadTrimmer(params.adapter, min_length=params.min_length)
    counter = PairCounter(gene_index(gene_model))
    read_stats = ReadStats()
    # Read-level QC rides along with alignment QC: both are what is_export_qc asks for.
    qc_names = read_qc_names(sample)
    read_qc = tuple(MateQC() for _ in qc_names) if bam_path is not None else None
    with align_processes(index_path, threads, stop) as aligners:  # a new one loads meanwhile
        bam = BamWriter(bam_path, aligners.contigs(), threads=threads) if bam_path else None
        try:
            # A small first chunk, so that the align processes start early.
            chunks = reads.chunks(chunk_pairs, first=min(chunk_pairs, 2_000))
            # The aligner processes map chunk i while chunk i+1 is read and trimmed here.
            pending: Callable[[], ServedChunk] | None = None
            strand_checked = False
            while True:
                if stop is not None:
                    stop()
                t = time.perf_counter()
                chunk = next(chunks, None)
                if chunk is not None:
                    pairs = _trimmed_pairs(chunk, trimmer, read_stats, read_qc, sam=bam is not None)
                t2 = time.perf_counter()
                timings["read_trim"] += t2 - t
                aligned = None
                if pending is not None:
                    aligned = pending()
                t3 = time.perf_counter()
                timings["align"] += t3 - t2
                pending = None
                if chunk is not None:
                    pending = aligners.submit(pairs, sam=bam is not None)
                if aligned is not None:
                    _count_aligned(aligned, counter, bam)
                    if not strand_checked and counter.pairs >= strand_check_pairs:
                        strand_checked = True
                        _check_strand(sample, params, counter, reads.fraction_done)
                    _report(progress, reads)
                timings["count"] += time.perf_counter() - t3
                if pending is None:
                    break
        finally:
            if bam is not None:
                bam.close()
    log.info(
        "sample %s: %d fragments, %d aligned, %d assigned (unstranded)",
        sample.name,
        read_stats.pairs_in,
        counter.stats.aligned,
        counter.stats.assigned["fr-unstranded"],
    )
    return SampleResult(
        sample_name=sample.name,
        gene_ids=list(gene_model.gene_ids),
        counts=counter.counts,
        read_stats=read_stats,
        count_stats=counter.stats,
        timings_ms={k: int(v * 1000) for k, v in timings.items()},
        read_qc=_read_qc_result(qc_names, read_qc),
    )


def _read_qc_result(names: list[str], mates: tuple[MateQC, ...] | None) -> ReadQc | None:
    """Read QC as FastQC data files, one per read of the sample (None: QC not asked)."""
    if mates is None:
        return None
    return ReadQc(
        {
            name: mate.fastqc_data(f"{name}.fastq.gz")
            for name, mate in zip(names, mates, strict=True)
        }
    )
