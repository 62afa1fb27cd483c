"""The chosen alignments as a coordinate-sorted, indexed BAM (pysam), for QC and IGV.

Only written when asked (QC or the user): counting itself streams and never
needs it. mappy reports query coordinates on the read as sequenced, so soft
clips swap ends for reverse-strand hits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mappy
import pysam

from genejobs.pipeline.align import Hit, PairAlignment, concordant
from genejobs.pipeline.reads import PairChunk

_FLAG_PAIRED, _FLAG_PROPER, _FLAG_UNMAPPED, _FLAG_MATE_UNMAPPED = 0x1, 0x2, 0x4, 0x8
_FLAG_REVERSE, _FLAG_MATE_REVERSE, _FLAG_FIRST, _FLAG_SECOND = 0x10, 0x20, 0x40, 0x80


class BamWriter:
    """Collects records in an unsorted BAM, then sorts and indexes it on ``close()``."""

    def __init__(self, path: Path, contigs: Sequence[tuple[str, int]]) -> None:
        """``contigs``: the index's sequence names and lengths, in index order."""
        self.path = Path(path)
        names = [name for name, _ in contigs]
        header = {
            "HD": {"VN": "1.6", "SO": "unsorted"},
            "SQ": [{"SN": n, "LN": length} for n, length in contigs],
            "PG": [{"ID": "genejobs", "PN": "genejobs", "VN": "mappy-splice:sr"}],
        }
        self._tid = {n: i for i, n in enumerate(names)}
        self._unsorted = self.path.with_name(self.path.name + ".unsorted.bam")
        # Uncompressed: the file lives only until it is sorted, and deflating it
        # would cost as much as the sort itself.
        self._out = pysam.AlignmentFile(str(self._unsorted), "wbu", header=header)

    def add(self, chunk: PairChunk, placements: list[PairAlignment]) -> None:
        for r1, r2, pa in zip(chunk.r1, chunk.r2, placements, strict=True):
            name = r1.name.split(None, 1)[0]
            if name.endswith("/1"):
                name = name[:-2]
            nh = 1 if pa.unique else 2
            # proper pair (0x2) only for mates facing each other within reach, as in
            # best_placement; discordant mates keep their TLEN but not the flag
            proper = pa.hit1 is not None and pa.hit2 is not None and concordant(pa.hit1, pa.hit2)
            self._out.write(self._segment(name, r1, pa.hit1, pa.hit2, True, nh, proper))
            self._out.write(self._segment(name, r2, pa.hit2, pa.hit1, False, nh, proper))

    def _segment(
        self, name, read, hit: Hit | None, mate: Hit | None, first: bool, nh: int, proper: bool
    ):  # type: ignore[no-untyped-def]
        seg = pysam.AlignedSegment(self._out.header)
        seg.query_name = name
        flag = _FLAG_PAIRED | (_FLAG_FIRST if first else _FLAG_SECOND)
        seq, qual = read.sequence, read.qualities
        if hit is None:
            flag |= _FLAG_UNMAPPED
            if mate is not None:  # SAM convention: an unmapped mate sits at its partner
                seg.reference_id = self._tid[mate.ctg]
                seg.reference_start = mate.r_st
        else:
            seg.reference_id = self._tid[hit.ctg]
            seg.reference_start = hit.r_st
            seg.mapping_quality = hit.mapq
            length = len(seq)
            if hit.strand < 0:
                flag |= _FLAG_REVERSE
                seq = mappy.revcomp(seq)
                qual = qual[::-1]
                left, right = length - hit.q_en, hit.q_st
            else:
                left, right = hit.q_st, length - hit.q_en
            cigar = ([(4, left)] if left else []) + [(op, n) for n, op in hit.cigar]
            cigar += [(4, right)] if right else []
            seg.cigartuples = cigar
            seg.set_tag("NH", nh)
            seg.set_tag("NM", hit.nm)
            if proper:
                flag |= _FLAG_PROPER
        if mate is None:
            flag |= _FLAG_MATE_UNMAPPED
            if hit is not None:
                seg.next_reference_id = self._tid[hit.ctg]
                seg.next_reference_start = hit.r_st
        else:
            seg.next_reference_id = self._tid[mate.ctg]
            seg.next_reference_start = mate.r_st
            if mate.strand < 0:
                flag |= _FLAG_MATE_REVERSE
            if hit is not None and hit.ctg == mate.ctg:
                start, end = min(hit.r_st, mate.r_st), max(hit.r_en, mate.r_en)
                # leftmost mate positive; on a tie the forward-strand mate is (SAM spec)
                leftmost = hit.r_st < mate.r_st or (hit.r_st == mate.r_st and hit.strand > 0)
                seg.template_length = (end - start) * (1 if leftmost else -1)
        seg.flag = flag
        seg.query_sequence = seq
        seg.query_qualities = pysam.qualitystring_to_array(qual)
        return seg

    def close(self) -> None:
        self._out.close()
        pysam.sort("-o", str(self.path), str(self._unsorted))
        pysam.index(str(self.path))
        self._unsorted.unlink(missing_ok=True)
