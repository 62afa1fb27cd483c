"""One sample from FASTQ to gene counts: read → trim → align → count, streamed in chunks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genejobs.pipeline.alignserver import ServedChunk, align_processes
from genejobs.pipeline.bam import BamWriter, pair_record
from genejobs.pipeline.count import GeneIndex, PairCounter
from genejobs.pipeline.readqc import MateQC
from genejobs.pipeline.reads import PairedReads
from genejobs.pipeline.records import (
    ProgressFn,
    ReadQc,
    ReadStats,
    SampleParams,
    SampleResult,
    SampleSpec,
    StopCheck,
)
from genejobs.pipeline.trim import PairTrimmer
from genejobs.references.model import GeneModel
from genejobs.storage import Storage

log = logging.getLogger(__name__)
_INDEXES: dict[int, GeneIndex] = {}


def gene_index(model: GeneModel) -> GeneIndex:
    """One overlap index per gene model and process (the model itself is memoised)."""
    key = id(model)
    if key not in _INDEXES:
        _INDEXES.clear()
        _INDEXES[key] = GeneIndex(model)
    return _INDEXES[key]


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
) -> SampleResult:
    """Count one sample's pairs per gene under the three strand rules."""
    timings = {"read_trim": 0.0, "align": 0.0, "count": 0.0}
    reads = PairedReads(
        storage,
        sample.name,
        storage.location(sample.r1, field=f"sample '{sample.name}' read 1"),
        storage.location(sample.r2, field=f"sample '{sample.name}' read 2"),
    )
    trimmer = PairTrimmer(params.adapter, min_length=params.min_length)
    counter = PairCounter(gene_index(gene_model))
    read_stats = ReadStats()
    # Read-level QC rides along with alignment QC: both are what is_export_qc asks for.
    read_qc = (MateQC(), MateQC()) if bam_path is not None else None
    with align_processes(index_path, threads, stop) as aligners:  # a new one loads meanwhile
        bam = None
        if bam_path is not None:
            bam = BamWriter(bam_path, aligners.contigs(), threads=threads)
        try:
            # A small first chunk, so that the align processes start early.
            chunks = reads.chunks(chunk_pairs, first=min(chunk_pairs, 2_000))
            # The aligner processes map chunk i while chunk i+1 is read and trimmed here.
            pending: Callable[[], ServedChunk] | None = None
            while True:
                if stop is not None:
                    stop()
                t = time.perf_counter()
                chunk = next(chunks, None)
                if chunk is not None:
                    kept = trimmer(chunk, read_stats)
                    if read_qc is not None:
                        for mate, records, lengths in zip(
                            read_qc, (chunk.r1, chunk.r2), trimmer.last_lengths, strict=True
                        ):
                            mate.add(
                                [r.sequence for r in records],
                                [r.qualities for r in records],
                                lengths,
                            )
                    pairs: list[Any] = (
                        [
                            pair_record(a.name, a.sequence, a.qualities, b.sequence, b.qualities)
                            for a, b in zip(kept.r1, kept.r2, strict=True)
                        ]
                        if bam is not None
                        else [
                            (a.sequence, b.sequence) for a, b in zip(kept.r1, kept.r2, strict=True)
                        ]
                    )
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
                    counter.add_flat(aligned.flat)
                    if bam is not None and aligned.sam is not None:
                        bam.add_sam(aligned.sam)
                    if progress is not None:
                        progress(reads.fraction_done, reads.pairs_read)
                timings["count"] += time.perf_counter() - t3
                if pending is None:
                    break
        finally:
            if bam is not None:
                bam.close()
    log.info(
        "sample %s: %d pairs, %d aligned, %d assigned (unstranded)",
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
        read_qc=ReadQc(
            {
                f"{sample.name}_R{i}": mate.fastqc_data(f"{sample.name}_R{i}.fastq.gz")
                for i, mate in enumerate(read_qc, start=1)
            }
        )
        if read_qc is not None
        else None,
    )
