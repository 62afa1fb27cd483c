"""The chosen alignments as a coordinate-sorted, indexed BAM, for QC and IGV.

Only written when asked (QC or the user): counting itself streams and never
needs it. The align processes format their share of a chunk as SAM text
(``sam_records``), in parallel; ``BamWriter`` appends it to a SAM file that
samtools (through pysam) sorts into BAM in C. Building one pysam record per
read in the main process cost more than aligning the reads.

mappy reports query coordinates on the read as sequenced, so soft clips swap
ends for reverse-strand hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import mappy
import pysam

from genejobs.pipeline.align import Hit, PairAlignment, concordant

_FLAG_PAIRED, _FLAG_PROPER, _FLAG_UNMAPPED, _FLAG_MATE_UNMAPPED = 0x1, 0x2, 0x4, 0x8
_FLAG_REVERSE, _FLAG_MATE_REVERSE, _FLAG_FIRST, _FLAG_SECOND = 0x10, 0x20, 0x40, 0x80
_CIGAR_OPS = "MIDNSHP=XB"
# samtools sort: deflate level 1 and a buffer that holds a few million reads before
# spilling. Measured on a 2M-pair sample's SAM (bench/bench_qc.py's data): the
# defaults (level 6, 768M) took 19.6 CPU-s, level 1 with 2G a thread 8.2 s, for a BAM
# 23% larger; 1G bounds the sort's memory beside a human-sized align server (~9 GiB).
BAM_COMPRESSION_LEVEL = 1
SORT_MEMORY_PER_THREAD = "1G"


class PairRecord(NamedTuple):
    """What a BAM needs of a read pair besides its alignment (``seq2`` empty: single-end)."""

    name: str
    seq1: str
    qual1: str
    seq2: str
    qual2: str


def pair_record(name: str, seq1: str, qual1: str, seq2: str, qual2: str) -> PairRecord:
    """QNAME is the read name up to the first space, without a ``/1`` suffix."""
    name = name.split(None, 1)[0]
    if name.endswith("/1"):
        name = name[:-2]
    return PairRecord(name, seq1, qual1, seq2, qual2)


def sam_records(records: Sequence[PairRecord], placements: Sequence[PairAlignment]) -> str:
    """Two SAM lines per pair (read 1, read 2), one per single-end read; newline-terminated.

    Written for speed (a QC job formats every read): tuples are unpacked rather than
    read by attribute, and a one-operation CIGAR, most short reads, skips the walk.
    """
    out: list[str] = []
    append = out.append
    for (name, seq1, qual1, seq2, qual2), (hit1, hit2, unique, _) in zip(
        records, placements, strict=True
    ):
        nh = 1 if unique else 2
        if not seq2:  # single-end: no mate, no pairing flags
            append(_line(name, seq1, qual1, hit1, None, 0, nh, False))
            continue
        # proper pair (0x2) only for mates facing each other within reach, as in
        # best_placement; discordant mates keep their TLEN but not the flag
        proper = hit1 is not None and hit2 is not None and concordant(hit1, hit2)
        append(_line(name, seq1, qual1, hit1, hit2, _FLAG_PAIRED | _FLAG_FIRST, nh, proper))
        append(_line(name, seq2, qual2, hit2, hit1, _FLAG_PAIRED | _FLAG_SECOND, nh, proper))
    return "".join(out)


def _cigar(cigar: Sequence[Sequence[int]]) -> str:
    if len(cigar) == 1:
        n, op = cigar[0]
        return f"{n}{_CIGAR_OPS[op]}"
    return "".join([f"{n}{_CIGAR_OPS[op]}" for n, op in cigar])


def _line(
    name: str,
    seq: str,
    qual: str,
    hit: Hit | None,
    mate: Hit | None,
    flag: int,
    nh: int,
    proper: bool,
) -> str:
    rname, pos, mapq, cigar, tags = "*", 0, 0, "*", ""
    if hit is None:
        flag |= _FLAG_UNMAPPED
        if mate is not None:  # SAM convention: an unmapped mate sits at its partner
            rname, pos = mate[0], mate[1] + 1
    else:
        rname, r_st, _, strand, mapq, _, _, ops, q_st, q_en, nm = hit
        pos = r_st + 1
        if strand < 0:
            flag |= _FLAG_REVERSE
            left, right = len(seq) - q_en, q_st
            seq = mappy.revcomp(seq)
            qual = qual[::-1]
        else:
            left, right = q_st, len(seq) - q_en
        cigar = _cigar(ops)
        if left:
            cigar = f"{left}S{cigar}"
        if right:
            cigar = f"{cigar}{right}S"
        tags = f"\tNH:i:{nh}\tNM:i:{nm}"
        if proper:
            flag |= _FLAG_PROPER
    tlen = 0
    if mate is None and not flag & _FLAG_PAIRED:
        rnext, pnext = "*", 0
    elif mate is None:
        flag |= _FLAG_MATE_UNMAPPED
        rnext, pnext = ("=", pos) if hit is not None else ("*", 0)
    else:
        m_ctg, m_st, m_en, m_strand = mate[0], mate[1], mate[2], mate[3]
        rnext = "=" if m_ctg == rname else m_ctg
        pnext = m_st + 1
        if m_strand < 0:
            flag |= _FLAG_MATE_REVERSE
        if hit is not None and hit[0] == m_ctg:
            h_st, h_en = hit[1], hit[2]
            start, end = min(h_st, m_st), max(h_en, m_en)
            # leftmost mate positive; on a tie the forward-strand mate is (SAM spec)
            leftmost = h_st < m_st or (h_st == m_st and hit[3] > 0)
            tlen = (end - start) * (1 if leftmost else -1)
    return (
        f"{name}\t{flag}\t{rname}\t{pos}\t{mapq}\t{cigar}\t{rnext}\t{pnext}\t{tlen}\t"
        f"{seq}\t{qual}{tags}\n"
    )


class BamWriter:
    """Collects SAM text in a file, then sorts it into BAM and indexes it on ``close()``."""

    def __init__(self, path: Path, contigs: Sequence[tuple[str, int]], *, threads: int = 1) -> None:
        """``contigs``: the index's sequence names and lengths, in index order."""
        self.path = Path(path)
        self.threads = max(1, threads)
        self._sam = self.path.with_name(self.path.name + ".unsorted.sam")
        self._out = self._sam.open("w")
        self._out.write("@HD\tVN:1.6\tSO:unsorted\n")
        for name, length in contigs:
            self._out.write(f"@SQ\tSN:{name}\tLN:{length}\n")
        self._out.write("@PG\tID:genejobs\tPN:genejobs\tVN:mappy-splice:sr\n")

    def add_sam(self, text: str) -> None:
        self._out.write(text)

    def close(self) -> None:
        self._out.close()
        try:
            sort_threads = str(self.threads - 1)  # samtools: threads besides its own
            pysam.sort(
                "-@",
                sort_threads,
                "-m",
                SORT_MEMORY_PER_THREAD,
                "-l",
                str(BAM_COMPRESSION_LEVEL),
                "-o",
                str(self.path),
                "-O",
                "bam",
                str(self._sam),
            )
            pysam.index(str(self.path))
        finally:
            self._sam.unlink(missing_ok=True)
