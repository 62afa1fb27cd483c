"""Spliced alignment of read pairs with mappy (minimap2, ``splice:sr`` preset).

Mates are mapped one by one and paired here. Measured with mappy 2.31: in a
paired ``map(r1, r2)`` call under ``splice:sr`` both mates' hits carry
``read_num == 1`` (the ``sr`` preset says 1 and 2), so mate identity would be
lost; single-end calls keep it, and the pairing rule below is the product's own
(it also decides uniqueness, see ``best_placement``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import mappy
import numpy as np

from genejobs.references.index import ALIGNER_PRESET

MAX_INSERT_BP = 500_000  # spliced fragments can span long introns


def load_aligner(index_path: Path) -> mappy.Aligner:
    """Load a minimap2 index; a missing file or one without sequences is an error
    (mappy itself reads a non-index file as an empty FASTA)."""
    aligner = mappy.Aligner(str(index_path), preset=ALIGNER_PRESET)
    if not aligner or not aligner.seq_names:
        raise RuntimeError(f"cannot load the minimap2 index {index_path} (missing or empty)")
    return aligner


class Hit(NamedTuple):
    """One mate's alignment: reference blocks (M ops) and a score for ranking placements.

    A NamedTuple, not a dataclass: one is built per hit in the hot loop, and a
    tuple is several times cheaper to create.
    """

    ctg: str
    r_st: int
    r_en: int
    strand: int  # +1 / -1 relative to the reference
    mapq: int
    score: int
    blocks: tuple[tuple[int, int], ...]
    cigar: Sequence[Sequence[int]]  # (length, op) as mappy gives it
    q_st: int
    q_en: int
    nm: int


class PairAlignment(NamedTuple):
    """The chosen placement of a pair; ``unique`` is False when placements tie.

    A NamedTuple for the same reason as ``Hit``: one is built per pair.
    """

    hit1: Hit | None
    hit2: Hit | None
    unique: bool
    n_placements: int

    @property
    def aligned(self) -> bool:
        return self.hit1 is not None or self.hit2 is not None


def _blocks(r_st: int, cigar: Sequence[Sequence[int]]) -> tuple[tuple[int, int], ...]:
    """Reference intervals of M/=/X operations, as htseq-count takes them (not D or N)."""
    pos = r_st
    out = []
    for length, op in cigar:
        if op in (0, 7, 8):  # M, =, X
            out.append((pos, pos + length))
            pos += length
        elif op in (2, 3):  # D, N consume the reference but are not counted
            pos += length
    return tuple(out)


def _hit(h: mappy.Alignment) -> Hit:
    # A score close to minimap2's: +1 per match, −2 per edit. Used only to rank
    # placements of the same read, where the paralog with fewer edits must win.
    nm = h.NM
    r_st, r_en, cigar = h.r_st, h.r_en, h.cigar
    # Most short reads align without a gap: their one block needs no CIGAR walk.
    blocks = ((r_st, r_en),) if len(cigar) == 1 else _blocks(r_st, cigar)
    return Hit(
        h.ctg, r_st, r_en, h.strand, h.mapq, h.mlen - 2 * nm, blocks, cigar, h.q_st, h.q_en, nm
    )


def concordant(a: Hit, b: Hit) -> bool:
    """Mates facing each other (forward mate leftmost) on one contig, within reach."""
    if a.ctg != b.ctg or a.strand == b.strand:
        return False
    fwd, rev = (a, b) if a.strand > 0 else (b, a)
    return fwd.r_st <= rev.r_en and rev.r_en - fwd.r_st <= MAX_INSERT_BP


def _span_class(a: Hit, b: Hit) -> int:
    """0 for a fragment-sized span, growing with log2 of longer spans.

    Breaks ties only: when two placements score the same, the pair whose mates
    sit a fragment apart beats one that needs kilobases between them (a nearby
    paralog copy), as an aligner's insert-size model would decide.
    """
    span = max(a.r_en, b.r_en) - min(a.r_st, b.r_st)
    return 0 if span <= 1000 else 1 + int(math.log2(span / 1000))


def best_placement(hits1: list[Hit], hits2: list[Hit]) -> PairAlignment:
    """Pick the best-scoring concordant placement; a tie means not unique.

    minimap2 gives reads of near-identical paralogs a low MAPQ even when one copy
    matches better, so MAPQ is not used: placements are ranked by alignment
    score, and only truly tied pairs are called multi-mapped.
    """
    if len(hits1) == 1 and len(hits2) == 1:
        # The common case: one hit per mate is one placement, concordant or not.
        return PairAlignment(hits1[0], hits2[0], True, 1)
    if len(hits1) == 1 and not hits2:  # a single-end read (or a lone read 1) with one hit
        return PairAlignment(hits1[0], None, True, 1)
    if not hits1 and not hits2:
        return PairAlignment(None, None, False, 0)
    if not hits1 or not hits2:
        hits = sorted(hits1 or hits2, key=lambda h: -h.score)
        unique = len(hits) == 1 or hits[0].score > hits[1].score
        chosen = hits[0]
        return PairAlignment(
            chosen if hits1 else None, chosen if hits2 else None, unique, len(hits)
        )
    pairs: list[tuple[int, int, Hit, Hit]] = []
    for a in hits1:
        for b in hits2:
            if concordant(a, b):
                pairs.append((a.score + b.score, -_span_class(a, b), a, b))
    if not pairs:
        # Discordant mates: keep the best hit of each, counted as one fragment.
        a = max(hits1, key=lambda h: h.score)
        b = max(hits2, key=lambda h: h.score)
        unique = (len(hits1) == 1 or sorted(h.score for h in hits1)[-2] < a.score) and (
            len(hits2) == 1 or sorted(h.score for h in hits2)[-2] < b.score
        )
        return PairAlignment(a, b, unique, 1)
    pairs.sort(key=lambda p: (p[0], p[1]), reverse=True)
    unique = len(pairs) == 1 or pairs[0][:2] > pairs[1][:2]
    return PairAlignment(pairs[0][2], pairs[0][3], unique, len(pairs))


NOT_ALIGNED, MULTIMAPPED, UNIQUE = 0, 1, 2


class FlatPlacements(NamedTuple):
    """A chunk's placements reduced to what counting needs, as arrays: a status per
    pair and the reference blocks (with read 1's strand) of unique pairs.

    Why flat: keeping one small object per hit alive until a chunk was counted
    made Python's cyclic garbage collector cost as much as minimap2 itself, and
    arrays cross from an align process to the counter at the cost of a copy.
    """

    status: np.ndarray  # per pair: NOT_ALIGNED, MULTIMAPPED or UNIQUE
    blk_pair: np.ndarray  # per block: the pair's index in the chunk
    contigs: tuple[str, ...]  # the names blk_contig points into
    blk_contig: np.ndarray
    blk_start: np.ndarray
    blk_end: np.ndarray
    blk_strand: np.ndarray  # +1 / -1: read 1's strand (read 2's blocks are flipped)

    @classmethod
    def concat(cls, parts: Sequence[FlatPlacements]) -> FlatPlacements:
        """Chunks one after the other (pair indices and contig codes renumbered)."""
        if not parts:
            return FlatBuilder().build()
        names: dict[str, int] = {}
        pair_offsets = np.cumsum([0] + [len(p.status) for p in parts[:-1]])
        codes = []
        for part in parts:
            remap = np.array([names.setdefault(c, len(names)) for c in part.contigs], np.int32)
            codes.append(remap[part.blk_contig] if len(part.contigs) else part.blk_contig)
        return cls(
            np.concatenate([p.status for p in parts]),
            np.concatenate([p.blk_pair + off for p, off in zip(parts, pair_offsets, strict=True)]),
            tuple(names),
            np.concatenate(codes),
            np.concatenate([p.blk_start for p in parts]),
            np.concatenate([p.blk_end for p in parts]),
            np.concatenate([p.blk_strand for p in parts]),
        )


class FlatBuilder:
    """Collects placements pair by pair into plain lists, then ``build()``s the arrays."""

    __slots__ = (
        "status",
        "blk_pair",
        "contig_codes",
        "blk_contig",
        "blk_start",
        "blk_end",
        "blk_strand",
    )

    def __init__(self) -> None:
        self.status: list[int] = []
        self.blk_pair: list[int] = []
        self.contig_codes: dict[str, int] = {}
        self.blk_contig: list[int] = []
        self.blk_start: list[int] = []
        self.blk_end: list[int] = []
        self.blk_strand: list[int] = []

    def add(self, pair: PairAlignment) -> None:
        hit1, hit2 = pair.hit1, pair.hit2
        if hit1 is None and hit2 is None:
            self.status.append(NOT_ALIGNED)
            return
        if not pair.unique:
            self.status.append(MULTIMAPPED)
            return
        index = len(self.status)
        self.status.append(UNIQUE)
        codes = self.contig_codes
        # htseq-count for pairs: read 1's blocks keep its strand, read 2's are flipped.
        for hit, flip in ((hit1, 1), (hit2, -1)):
            if hit is None:
                continue
            strand = hit.strand * flip
            code = codes.setdefault(hit.ctg, len(codes))
            for s, e in hit.blocks:
                self.blk_pair.append(index)
                self.blk_contig.append(code)
                self.blk_start.append(s)
                self.blk_end.append(e)
                self.blk_strand.append(strand)

    def build(self) -> FlatPlacements:
        return FlatPlacements(
            np.array(self.status, dtype=np.int8),
            np.array(self.blk_pair, dtype=np.int64),
            tuple(self.contig_codes),
            np.array(self.blk_contig, dtype=np.int32),
            np.array(self.blk_start, dtype=np.int64),
            np.array(self.blk_end, dtype=np.int64),
            np.array(self.blk_strand, dtype=np.int8),
        )


class AlignedChunk(NamedTuple):
    """A chunk's alignment: flat placements for counting, the placements themselves
    only when a BAM is written."""

    flat: FlatPlacements
    placements: list[PairAlignment] | None


def align_pairs(
    aligner: mappy.Aligner,
    seqs: Sequence[tuple[str, str]],
    *,
    keep_placements: bool = False,
    buf: mappy.ThreadBuffer | None = None,
) -> AlignedChunk:
    """Map both mates of each pair, choose each pair's placement and flatten it.

    A single-end read comes as ``(sequence, "")``: no read 2, so its placement is
    read 1's best hit (unique when no other hit scores as well), as htseq-count
    takes a single read.
    """
    buf = buf or mappy.ThreadBuffer()
    map_read = aligner.map
    flat = FlatBuilder()
    kept: list[PairAlignment] | None = [] if keep_placements else None
    for s1, s2 in seqs:
        placement = best_placement(
            [_hit(h) for h in map_read(s1, buf=buf)],
            [_hit(h) for h in map_read(s2, buf=buf)] if s2 else [],
        )
        flat.add(placement)
        if kept is not None:
            kept.append(placement)
    return AlignedChunk(flat.build(), kept)
