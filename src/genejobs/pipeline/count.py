"""Gene counting with htseq-count's semantics, under all three strand rules at once.

Union mode, ``--nonunique none``: a pair's reference blocks (M/=/X operations of
both mates) are matched against gene exons; one gene → counted, several →
``__ambiguous``, none → ``__no_feature``. Read 1 blocks carry read 1's strand and
read 2 blocks the opposite of read 2's (as htseq-count does for paired reads).
Counting the three rules in one pass costs little (the overlaps are shared) and
lets a job with the wrong ``library_type`` be re-run from the cache.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

from genejobs.pipeline.align import PairAlignment
from genejobs.pipeline.records import ALL_LIBRARY_TYPES, CountStats, LibraryType
from genejobs.references.model import GeneModel


@dataclass
class _ChromExons:
    starts: list[int]
    ends: list[int]
    genes: list[int]
    max_len: int


class GeneIndex:
    """Exons per chromosome sorted by start, for overlap queries by binary search.

    Hand-written: a sorted list with a max-exon-length window is all union
    counting needs, and it keeps the counter free of an interval-tree dependency.
    Plain lists and ``bisect`` because queries come one block at a time, where
    numpy's per-call overhead costs more than the search itself.
    """

    def __init__(self, model: GeneModel) -> None:
        self.gene_ids = model.gene_ids
        self.strand = [1 if g.strand == "+" else -1 for g in model.genes]
        per_chrom: dict[str, list[tuple[int, int, int]]] = {}
        for i, gene in enumerate(model.genes):
            for s, e in gene.exons:
                per_chrom.setdefault(gene.chrom, []).append((s, e, i))
        self._chroms: dict[str, _ChromExons] = {}
        for chrom, rows in per_chrom.items():
            rows.sort()
            self._chroms[chrom] = _ChromExons(
                [r[0] for r in rows],
                [r[1] for r in rows],
                [r[2] for r in rows],
                max(e - s for s, e, _ in rows),
            )

    def overlapping(self, chrom: str, start: int, end: int) -> list[int]:
        """Indices of genes with an exon overlapping [start, end)."""
        ex = self._chroms.get(chrom)
        if ex is None:
            return []
        lo = bisect_left(ex.starts, start - ex.max_len)
        hi = bisect_left(ex.starts, end, lo)
        ends, genes = ex.ends, ex.genes
        return [genes[i] for i in range(lo, hi) if ends[i] > start]


class PairCounter:
    """Accumulates per-gene counts for the three library types, plus htseq's counters."""

    def __init__(self, index: GeneIndex) -> None:
        self.index = index
        n = len(index.gene_ids)
        self.counts = {lt.value: np.zeros(n, dtype=np.int64) for lt in ALL_LIBRARY_TYPES}
        self.stats = CountStats(
            no_feature={lt.value: 0 for lt in ALL_LIBRARY_TYPES},
            ambiguous={lt.value: 0 for lt in ALL_LIBRARY_TYPES},
            assigned={lt.value: 0 for lt in ALL_LIBRARY_TYPES},
        )

    def add(self, pair: PairAlignment) -> None:
        st = self.stats
        if not pair.aligned:
            st.not_aligned += 1
            return
        st.aligned += 1
        if not pair.unique:
            st.multimapped += 1
            return
        st.unique += 1
        # (gene, does the gene lie on the fragment's "read 1 sense" strand)
        sense: set[int] = set()
        anti: set[int] = set()
        for hit, flip in ((pair.hit1, 1), (pair.hit2, -1)):
            if hit is None:
                continue
            read_strand = hit.strand * flip
            for s, e in hit.blocks:
                for g in self.index.overlapping(hit.ctg, s, e):
                    (sense if self.index.strand[g] == read_strand else anti).add(g)
        self._assign(LibraryType.UNSTRANDED, sense | anti)
        self._assign(LibraryType.SECONDSTRAND, sense)
        self._assign(LibraryType.FIRSTSTRAND, anti)

    def _assign(self, lt: LibraryType, genes: set[int]) -> None:
        key = lt.value
        if not genes:
            self.stats.no_feature[key] += 1
        elif len(genes) > 1:
            self.stats.ambiguous[key] += 1
        else:
            self.counts[key][next(iter(genes))] += 1
            self.stats.assigned[key] += 1


def infer_library_type(stats: CountStats, *, threshold: float = 0.75) -> tuple[LibraryType, float]:
    """The library type the reads support, and the share of stranded assignments behind it.

    Compares pairs assigned under the two stranded rules: a clear majority (above
    ``threshold``) for one means that type; otherwise the library is unstranded.
    """
    first = stats.assigned.get(LibraryType.FIRSTSTRAND.value, 0)
    second = stats.assigned.get(LibraryType.SECONDSTRAND.value, 0)
    total = first + second
    if total == 0:
        return LibraryType.UNSTRANDED, 0.0
    share_first = first / total
    if share_first >= threshold:
        return LibraryType.FIRSTSTRAND, share_first
    if 1 - share_first >= threshold:
        return LibraryType.SECONDSTRAND, 1 - share_first
    return LibraryType.UNSTRANDED, max(share_first, 1 - share_first)
