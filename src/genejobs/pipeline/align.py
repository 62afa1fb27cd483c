"""Spliced alignment of read pairs with mappy (minimap2, ``splice:sr`` preset).

Mates are mapped one by one and paired here. Measured with mappy 2.31: in a
paired ``map(r1, r2)`` call under ``splice:sr`` both mates' hits carry
``read_num == 1`` (the ``sr`` preset says 1 and 2), so mate identity would be
lost; single-end calls keep it, and the pairing rule below is the product's own
(it also decides uniqueness, see ``best_placement``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import mappy

from genejobs.references.index import ALIGNER_PRESET

MAX_INSERT_BP = 500_000  # spliced fragments can span long introns
_ALIGNERS: dict[str, mappy.Aligner] = {}
_ALIGNERS_LOCK = threading.Lock()


def get_aligner(index_path: Path) -> mappy.Aligner:
    """Load an index once per process: a human index is GBs and takes tens of seconds."""
    key = str(index_path)
    with _ALIGNERS_LOCK:
        aligner = _ALIGNERS.get(key)
        if aligner is None:
            aligner = mappy.Aligner(key, preset=ALIGNER_PRESET)
            if not aligner:
                raise RuntimeError(f"cannot load the minimap2 index {index_path}")
            _ALIGNERS[key] = aligner
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
    cigar: tuple[tuple[int, int], ...]
    q_st: int
    q_en: int
    nm: int


@dataclass(frozen=True)
class PairAlignment:
    """The chosen placement of a pair; ``unique`` is False when placements tie."""

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
    score = int(h.mlen) - 2 * int(h.NM)
    cigar = tuple(map(tuple, h.cigar))
    return Hit(
        h.ctg,
        h.r_st,
        h.r_en,
        h.strand,
        h.mapq,
        score,
        _blocks(h.r_st, cigar),
        cigar,
        h.q_st,
        h.q_en,
        h.NM,
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


class PairAligner:
    """Align chunks of pairs on a thread pool (mappy releases the GIL)."""

    def __init__(self, aligner: mappy.Aligner, *, threads: int) -> None:
        self.aligner = aligner
        self.threads = max(1, threads)
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="genejobs-align")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _buffer(self) -> mappy.ThreadBuffer:
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = mappy.ThreadBuffer()
        return buf

    def _align_slice(self, seqs: list[tuple[str, str]]) -> list[PairAlignment]:
        buf = self._buffer()
        out = []
        for s1, s2 in seqs:
            h1 = [_hit(h) for h in self.aligner.map(s1, buf=buf)]
            h2 = [_hit(h) for h in self.aligner.map(s2, buf=buf)]
            out.append(best_placement(h1, h2))
        return out

    def align(self, seqs: list[tuple[str, str]]) -> list[PairAlignment]:
        if self.threads == 1 or len(seqs) < 64:
            return self._align_slice(seqs)
        step = (len(seqs) + self.threads - 1) // self.threads
        parts = [seqs[i : i + step] for i in range(0, len(seqs), step)]
        out: list[PairAlignment] = []
        for part in self._pool.map(self._align_slice, parts):
            out.extend(part)
        return out
