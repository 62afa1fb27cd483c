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


class PairRecord(NamedTuple):
    """What a BAM needs of a read pair besides its alignment."""

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
    """Two SAM lines per pair (read 1, read 2), newline-terminated."""
    out = []
    for rec, pa in zip(records, placements, strict=True):
        nh = 1 if pa.unique else 2
        # proper pair (0x2) only for mates facing each other within reach, as in
        # best_placement; discordant mates keep their TLEN but not the flag
        proper = pa.hit1 is not None and pa.hit2 is not None and concordant(pa.hit1, pa.hit2)
        out.append(_line(rec.name, rec.seq1, rec.qual1, pa.hit1, pa.hit2, True, nh, proper))
        out.append(_line(rec.name, rec.seq2, rec.qual2, pa.hit2, pa.hit1, False, nh, proper))
    return "".join(out)


def _line(
    name: str,
    seq: str,
    qual: str,
    hit: Hit | None,
    mate: Hit | None,
    first: bool,
    nh: int,
    proper: bool,
) -> str:
    flag = _FLAG_PAIRED | (_FLAG_FIRST if first else _FLAG_SECOND)
    rname, pos, mapq, cigar, tags = "*", 0, 0, "*", ""
    if hit is None:
        flag |= _FLAG_UNMAPPED
        if mate is not None:  # SAM convention: an unmapped mate sits at its partner
            rname, pos = mate.ctg, mate.r_st + 1
    else:
        rname, pos, mapq = hit.ctg, hit.r_st + 1, hit.mapq
        length = len(seq)
        if hit.strand < 0:
            flag |= _FLAG_REVERSE
            seq = mappy.revcomp(seq)
            qual = qual[::-1]
            left, right = length - hit.q_en, hit.q_st
        else:
            left, right = hit.q_st, length - hit.q_en
        ops = "".join(f"{n}{_CIGAR_OPS[op]}" for n, op in hit.cigar)
        cigar = (f"{left}S" if left else "") + ops + (f"{right}S" if right else "")
        tags = f"\tNH:i:{nh}\tNM:i:{hit.nm}"
        if proper:
            flag |= _FLAG_PROPER
    tlen = 0
    if mate is None:
        flag |= _FLAG_MATE_UNMAPPED
        rnext, pnext = ("=", pos) if hit is not None else ("*", 0)
    else:
        rnext = "=" if mate.ctg == rname else mate.ctg
        pnext = mate.r_st + 1
        if mate.strand < 0:
            flag |= _FLAG_MATE_REVERSE
        if hit is not None and hit.ctg == mate.ctg:
            start, end = min(hit.r_st, mate.r_st), max(hit.r_en, mate.r_en)
            # leftmost mate positive; on a tie the forward-strand mate is (SAM spec)
            leftmost = hit.r_st < mate.r_st or (hit.r_st == mate.r_st and hit.strand > 0)
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
            pysam.sort("-@", sort_threads, "-o", str(self.path), "-O", "bam", str(self._sam))
            pysam.index(str(self.path))
        finally:
            self._sam.unlink(missing_ok=True)
