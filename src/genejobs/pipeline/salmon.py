"""The transcript-level quantifier: reads → trim → salmon (selective alignment + EM).

Why salmon: its EM shares a fragment that fits several transcripts (isoforms,
paralogs, rRNA copies) by their estimated abundances, where htseq-count's rules
drop every fragment that is not unique; and ``-l A`` detects the library type.
Reads are trimmed here exactly as on the genome path (same adapter rules, same
``ReadStats``) and streamed to salmon through two named pipes (one, ``-r``, for
single-end reads), so trimming and quantification overlap and no FASTQ is written
to disk. A sample's runs (lanes) are one stream, as on the genome path.

The per-sample function returns the same ``SampleResult`` as
``genejobs.pipeline.sample.process_sample``: gene counts (salmon's estimates summed
per gene, rounded; used for the strandedness check, the cache and QC), and the
transcript estimates, from which the job's gene counts are made with
``gene_counts_length_scaled`` once all samples are in.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genejobs.errors import InputError
from genejobs.pipeline.count import infer_library_type
from genejobs.pipeline.reads import SampleReads
from genejobs.pipeline.records import (
    ALL_LIBRARY_TYPES,
    CountStats,
    LibraryType,
    ProgressFn,
    ReadStats,
    SampleParams,
    SampleResult,
    SampleSpec,
    StopCheck,
    TranscriptEstimates,
)
from genejobs.pipeline.trim import ReadTrimmer
from genejobs.references.model import GeneModel
from genejobs.storage import Storage

log = logging.getLogger(__name__)

# The contract's library types as salmon's paired-end formats (inward mates).
SALMON_LIBTYPE = {
    LibraryType.UNSTRANDED: "IU",
    LibraryType.FIRSTSTRAND: "ISR",  # dUTP: read 1 from the antisense strand
    LibraryType.SECONDSTRAND: "ISF",
}
# ... and as its single-end formats: a read from the sense or antisense strand.
SALMON_SE_LIBTYPE = {
    LibraryType.UNSTRANDED: "U",
    LibraryType.FIRSTSTRAND: "SR",
    LibraryType.SECONDSTRAND: "SF",
}
# Single-end reads carry no fragment length; salmon's effective lengths then use this
# prior (salmon's own defaults, stated here so that run.json and Methods record them).
SE_FRAGMENT_MEAN = 250
SE_FRAGMENT_SD = 25


def salmon_formats(paired: bool) -> dict[LibraryType, str]:
    """The contract's library types as salmon's formats, for pairs or single reads."""
    return SALMON_LIBTYPE if paired else SALMON_SE_LIBTYPE


def salmon_libtype(params: SampleParams, paired: bool = True) -> str:
    """The ``-l`` salmon first quantifies with.

    ``auto`` and a stranded declaration both start with ``A`` (salmon detects the
    type): a declared strand that the reads contradict must be seen, and salmon
    counts the formats of incompatible fragments only when it does not discard
    them. ``fr-unstranded`` is ``IU``, which accepts both orientations and still
    counts them, so the "reads look stranded" warning works as on the genome path
    (``U`` for single-end reads).
    """
    if params.detect_library_type or params.library_type is not LibraryType.UNSTRANDED:
        return "A"
    return salmon_formats(paired)[LibraryType.UNSTRANDED]


def cache_tag(params: SampleParams, paired: bool = True) -> str:
    """What a transcripts sample's cache key adds to the genome path's: the ``-l`` salmon
    starts with ("" for the genome path). Salmon's version is not in it (the API, which
    computes keys for a dry run, runs no salmon): the entry records the version that
    made it, and a worker with another one computes the sample again."""
    if params.quantifier != "transcripts":
        return ""
    return f"l={salmon_libtype(params, paired)}"


def _fastq(records: list[tuple[str, str]]) -> bytes:
    return "".join(f"@r\n{s}\n+\n{q}\n" for s, q in records).encode()


class _PipeWriter(threading.Thread):
    """Writes queued FASTQ bytes into one named pipe (one thread per mate: salmon reads
    the two mates in lockstep, so one writer alternating between them could deadlock)."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with open(self.path, "wb", buffering=1 << 20) as fh:
                while (data := self.queue.get()) is not None:
                    fh.write(data)
        except BaseException as exc:  # salmon died and closed its end: reported by the caller
            self.error = exc
            while self.queue.get() is not None:  # drain so the producer never blocks
                pass

    def release(self) -> None:
        """Unblock a writer still waiting for salmon to open the pipe (salmon failed)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
        except OSError:
            pass


def _put(writer: _PipeWriter, data: bytes | None, proc: subprocess.Popen[bytes]) -> None:
    while True:
        try:
            writer.queue.put(data, timeout=0.5)
            return
        except queue.Full:
            if proc.poll() is not None:
                return  # salmon ended early; its exit status tells why


def quantify_sample(
    sample: SampleSpec,
    params: SampleParams,
    *,
    index_dir: Path,
    tx2gene: dict[str, str],
    gene_model: GeneModel,
    storage: Storage,
    progress: ProgressFn | None = None,
    stop: StopCheck | None = None,
    threads: int = 2,
    chunk_pairs: int = 10_000,
) -> SampleResult:
    """Trim one sample's pairs and quantify them against the transcriptome with salmon.

    Counts follow the declared library type, as on the genome path: a stranded
    declaration that salmon's detection confirms is quantified in that one run; reads
    that look unstranded are quantified again with the declared strand; reads that
    look like the opposite strand are left for the job's strandedness check (which
    fails the job with the genome path's message).
    """
    t0 = time.perf_counter()
    formats = salmon_formats(sample.paired)
    libtype = salmon_libtype(params, sample.paired)
    run = _salmon_run(
        sample, params, libtype, index_dir, storage, progress, stop, threads, chunk_pairs
    )
    read_stats, estimates, stats, trim_s = run
    declared = params.library_type
    keys: tuple[LibraryType, ...] = (declared,)
    if libtype == "A":
        # What the fragments' orientations say (the genome path's rule and threshold);
        # salmon's own -l A may settle on IU for a small sample however clear they are.
        evidence, _share = infer_library_type(stats)
        want = evidence if params.detect_library_type else declared
        opposite = {evidence, declared} == {LibraryType.FIRSTSTRAND, LibraryType.SECONDSTRAND}
        if estimates.library_type_used != formats[want] and not opposite:
            log.info("sample %s: quantifying again with -l %s", sample.name, formats[want])
            read_stats, estimates, _, more_s = _salmon_run(
                sample,
                params,
                formats[want],
                index_dir,
                storage,
                progress,
                stop,
                threads,
                chunk_pairs,
            )
            trim_s += more_s
        # Counts in the orientation the reads show serve auto and every stranded
        # declaration (one the reads contradict fails the job's strandedness check before
        # counts are read), so the cache can hand them to a corrected re-submission.
        # Unstranded reads quantified under a stranded declaration serve only that one.
        if params.detect_library_type or evidence is declared or opposite:
            keys = ALL_LIBRARY_TYPES
    timings = {"read_trim": trim_s, "quantify": time.perf_counter() - t0 - trim_s}
    if stop is not None:
        stop()
    gene_counts = gene_counts_of(estimates, tx2gene, gene_model.gene_ids)
    if progress is not None:
        progress(1.0, read_stats.pairs_in)
    log.info(
        "sample %s: %d pairs, salmon mapped %.1f%% (format %s)",
        sample.name,
        read_stats.pairs_in,
        100 * estimates.mapping_rate,
        estimates.library_type_seen,
    )
    return SampleResult(
        sample_name=sample.name,
        gene_ids=list(gene_model.gene_ids),
        counts={lt.value: gene_counts.copy() for lt in keys},
        read_stats=read_stats,
        count_stats=stats,
        timings_ms={k: int(v * 1000) for k, v in timings.items()},
        transcripts=estimates,
    )


def _salmon_run(
    sample: SampleSpec,
    params: SampleParams,
    libtype: str,
    index_dir: Path,
    storage: Storage,
    progress: ProgressFn | None,
    stop: StopCheck | None,
    threads: int,
    chunk_pairs: int,
) -> tuple[ReadStats, TranscriptEstimates, CountStats, float]:
    """One pass: stream trimmed pairs into ``salmon quant -l libtype``; (stats, estimates,
    counters, seconds spent reading and trimming)."""
    trim_s = 0.0
    reads = SampleReads(storage, sample)
    paired = sample.paired
    trimmer = ReadTrimmer(params.adapter, min_length=params.min_length)
    read_stats = ReadStats()
    with tempfile.TemporaryDirectory(prefix="genejobs-salmon-") as tmp:
        work = Path(tmp)
        fifos = [work / "r1.fq", work / "r2.fq"] if paired else [work / "r.fq"]
        for f in fifos:
            os.mkfifo(f)
        cmd = ["salmon", "quant", "-i", str(index_dir), "-l", libtype]
        if paired:
            cmd += ["-1", str(fifos[0]), "-2", str(fifos[1])]
        else:
            cmd += ["-r", str(fifos[0])]
            cmd += ["--fldMean", str(SE_FRAGMENT_MEAN), "--fldSD", str(SE_FRAGMENT_SD)]
        cmd += ["-p", str(max(1, threads))]
        cmd += ["--validateMappings", "-o", str(work / "out")]
        log_path = work / "salmon.log"
        with open(log_path, "wb") as log_fh:
            proc = subprocess.Popen(cmd, stdout=log_fh, stderr=subprocess.STDOUT)
        writers = [_PipeWriter(f) for f in fifos]
        for w in writers:
            w.start()
        try:
            for chunk in reads.chunks(chunk_pairs):
                if stop is not None:
                    stop()
                if proc.poll() is not None:
                    break
                t = time.perf_counter()
                kept = trimmer(chunk, read_stats)
                mates = [kept.r1] if kept.r2 is None else [kept.r1, kept.r2]
                data = [
                    _fastq([(a.sequence, a.qualities or "I" * len(a.sequence)) for a in mate])
                    for mate in mates
                ]
                trim_s += time.perf_counter() - t
                for writer, text in zip(writers, data, strict=True):
                    _put(writer, text, proc)
                if progress is not None:
                    progress(0.95 * reads.fraction_done, reads.pairs_read)
            for w in writers:
                _put(w, None, proc)
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            for w in writers:
                if w.is_alive():
                    w.release()
                    w.join(timeout=2)
        if read_stats.pairs_out == 0:
            raise InputError(
                f"sample '{sample.name}': no {'read pairs' if paired else 'reads'} left after trimming "
                f"(minimum length {params.min_length})"
            )
        if proc.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-5:])
            raise RuntimeError(f"salmon quant failed for sample '{sample.name}': {tail}")
        estimates, stats = read_salmon_output(work / "out", libtype=libtype, paired=paired)
    return read_stats, estimates, stats, trim_s


def read_salmon_output(
    folder: Path, *, libtype: str, paired: bool = True
) -> tuple[TranscriptEstimates, CountStats]:
    """quant.sf, lib_format_counts.json and meta_info.json → estimates and counters.

    The counters say, like the genome path's, how many pairs fit each strand rule:
    fragments salmon saw as ISR support fr-firststrand, ISF fr-secondstrand, and
    every concordant pair fits fr-unstranded; so the same check decides strandedness.
    Single-end reads: SR, SF and U (every mapped read) in their places.
    """
    fmt = salmon_formats(paired)
    first, second = fmt[LibraryType.FIRSTSTRAND], fmt[LibraryType.SECONDSTRAND]
    quant = pd.read_csv(folder / "quant.sf", sep="\t")
    formats = json.loads((folder / "lib_format_counts.json").read_text())
    meta = json.loads((folder / "aux_info" / "meta_info.json").read_text())
    processed = int(meta.get("num_processed", 0))
    mapped = int(meta.get("num_mapped", 0))
    known = {k: int(v) for k, v in formats.items() if k in fmt.values()}
    seen = max(known, key=lambda k: known[k]) if any(known.values()) else ""
    stats = CountStats(
        aligned=mapped,
        not_aligned=max(0, processed - mapped),
        assigned={
            LibraryType.FIRSTSTRAND.value: known.get(first, 0),
            LibraryType.SECONDSTRAND.value: known.get(second, 0),
            LibraryType.UNSTRANDED.value: sum(known.values()),
        },
    )
    estimates = TranscriptEstimates(
        transcript_ids=[str(t) for t in quant["Name"]],
        length=quant["Length"].to_numpy(dtype=np.float64),
        effective_length=quant["EffectiveLength"].to_numpy(dtype=np.float64),
        tpm=quant["TPM"].to_numpy(dtype=np.float64),
        counts=quant["NumReads"].to_numpy(dtype=np.float64),
        mapping_rate=round(mapped / processed, 4) if processed else 0.0,
        library_type_seen=seen,
        library_type_used=str(formats.get("expected_format") or libtype),
        engine=f"salmon {meta.get('salmon_version', '')}".strip(),
    )
    return estimates, stats


def load_tx2gene(path: Path) -> dict[str, str]:
    """transcript_id → gene_id from the reference's ``tx2gene.tsv``."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        tid, _, gid = line.partition("\t")
        out[tid] = gid
    return out


def gene_counts_of(
    estimates: TranscriptEstimates, tx2gene: dict[str, str], gene_ids: list[str]
) -> np.ndarray:
    """Salmon's estimated fragments summed per gene, rounded, in ``gene_ids`` order."""
    where = {g: i for i, g in enumerate(gene_ids)}
    idx = np.array([where.get(tx2gene.get(t, ""), -1) for t in estimates.transcript_ids])
    ok = idx >= 0
    sums = np.bincount(idx[ok], weights=estimates.counts[ok], minlength=len(gene_ids))
    return np.rint(sums).astype(np.int64)


def gene_counts_length_scaled(
    results: list[SampleResult], tx2gene: dict[str, str], gene_ids: list[str]
) -> pd.DataFrame:
    """Genes × samples counts for DESeq2 with tximport's ``countsFromAbundance="lengthScaledTPM"``.

    pydeseq2 takes no per-gene offsets, so tximport's other route (raw estimated
    counts plus an average-transcript-length offset) is not open; lengthScaledTPM
    folds the length correction into the counts instead: per-gene TPM, scaled by
    the gene's average effective length across samples, then to each sample's
    library size. Rounded to integers, as DESeq2 wants.
    """
    from pytximport import tximport

    missing = [r.sample_name for r in results if r.transcripts is None]
    if missing:
        raise InputError(
            f"samples {', '.join(missing)} have no transcript estimates; resubmit the job"
        )
    with tempfile.TemporaryDirectory(prefix="genejobs-tximport-") as tmp:
        paths: list[Path] = []
        for r in results:
            est = r.transcripts
            assert est is not None
            path = Path(tmp) / f"{len(paths)}.sf"
            pd.DataFrame(
                {
                    "Name": est.transcript_ids,
                    "Length": est.length,
                    "EffectiveLength": est.effective_length,
                    "TPM": est.tpm,
                    "NumReads": est.counts,
                }
            ).to_csv(path, sep="\t", index=False)
            paths.append(path)
        mapping = pd.DataFrame({"transcript_id": list(tx2gene), "gene_id": list(tx2gene.values())})
        data = tximport(
            paths,
            data_type="salmon",
            transcript_gene_map=mapping,
            counts_from_abundance="length_scaled_tpm",
            ignore_transcript_version=False,
            output_type="xarray",
            return_data=True,
        )
    counts = data["counts"].to_pandas()  # genes x samples
    if counts.shape[0] != len(gene_ids) and counts.shape[1] == len(gene_ids):
        counts = counts.T
    counts.columns = [r.sample_name for r in results]
    frame = counts.reindex(gene_ids).fillna(0.0)
    return frame.round().astype(np.int64).rename_axis("gene_id")


def transcripts_table(results: list[SampleResult], tx2gene: dict[str, str]) -> pd.DataFrame:
    """transcripts.csv: per transcript, each sample's estimated count, TPM and effective length."""
    first = results[0].transcripts
    assert first is not None
    table = pd.DataFrame(
        {
            "transcript_id": first.transcript_ids,
            "gene_id": [tx2gene.get(t, "") for t in first.transcript_ids],
            "length": first.length.astype(np.int64),
        }
    )
    for r in results:
        est = r.transcripts
        if est is None or est.transcript_ids != first.transcript_ids:
            raise InputError(f"sample '{r.sample_name}' was quantified against another index")
        table[f"{r.sample_name}.count"] = np.round(est.counts, 3)
        table[f"{r.sample_name}.tpm"] = np.round(est.tpm, 4)
        table[f"{r.sample_name}.effective_length"] = np.round(est.effective_length, 2)
    return table
