"""Gene counting with htseq-count's semantics, under all three strand rules at once.

Union mode, ``--nonunique none``: a pair's reference blocks (M/=/X operations of
both mates) are matched against gene exons; one gene → counted, several →
``__ambiguous``, none → ``__no_feature``. Read 1 blocks carry read 1's strand and
read 2 blocks the opposite of read 2's (as htseq-count does for paired reads).
Counting the three rules in one pass costs little (the overlaps are shared) and
lets a job with the wrong ``library_type`` be re-run from the cache.
"""

from __future__ import annotations

import numpy as np

from genejobs.pipeline.align import (
    MULTIMAPPED,
    NOT_ALIGNED,
    UNIQUE,
    FlatPlacements,
)
from genejobs.pipeline.records import ALL_LIBRARY_TYPES, CountStats, LibraryType
from genejobs.references.model import GeneModel

_CHROM_SHIFT = 32  # a genome-wide coordinate is chrom_id << 32 | position


def _expand(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])`` without the loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.asarray(np.repeat(starts, lengths) + offsets)


class GeneIndex:
    """The genome cut into steps (intervals with a constant set of genes), as HTSeq's
    ``GenomicArrayOfSets`` does, stored flat so that a whole chunk is looked up at once.

    Hand-written: counting under three strand rules in one pass is the product's
    own edge, and HTSeq's structure answers one read at a time from Python.
    Step ``k`` spans ``[bounds[k], bounds[k + 1])`` in genome-wide coordinates and
    holds genes ``step_genes[step_ptr[k]:step_ptr[k + 1]]``.
    """

    def __init__(self, model: GeneModel) -> None:
        self.gene_ids = model.gene_ids
        self.strand = np.array([1 if g.strand == "+" else -1 for g in model.genes], dtype=np.int8)
        self.chrom_ids: dict[str, int] = {}
        ex_start, ex_end, ex_gene = [], [], []
        for i, gene in enumerate(model.genes):
            base = self.chrom_ids.setdefault(gene.chrom, len(self.chrom_ids)) << _CHROM_SHIFT
            for s, e in gene.exons:
                if e > s:
                    ex_start.append(base + s)
                    ex_end.append(base + e)
                    ex_gene.append(i)
        starts = np.array(ex_start, dtype=np.int64)
        ends = np.array(ex_end, dtype=np.int64)
        genes = np.array(ex_gene, dtype=np.int64)
        # A leading -1 makes step 0 the empty stretch before the first exon.
        self.bounds = np.unique(np.concatenate([[-1], starts, ends]))
        first = np.searchsorted(self.bounds, starts)
        n_steps = np.searchsorted(self.bounds, ends) - first
        step = _expand(first, n_steps)
        pairs = np.unique(step * len(self.gene_ids) + np.repeat(genes, n_steps))
        step_of_pair = pairs // max(1, len(self.gene_ids))
        self.step_genes = pairs % max(1, len(self.gene_ids))
        self.step_ptr = np.zeros(len(self.bounds) + 1, dtype=np.int64)
        np.cumsum(np.bincount(step_of_pair, minlength=len(self.bounds)), out=self.step_ptr[1:])

    def hits(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All (block, gene) pairs where the gene has an exon overlapping the block.

        ``starts``/``ends`` are genome-wide coordinates of half-open blocks. A gene
        may appear more than once per block (once per step it covers).
        """
        k0 = np.searchsorted(self.bounds, starts, side="right") - 1
        k1 = np.searchsorted(self.bounds, ends, side="left")
        n = np.maximum(k1 - k0, 0)
        block = np.repeat(np.arange(len(starts)), n)
        step = _expand(k0, n)
        m = self.step_ptr[step + 1] - self.step_ptr[step]
        return np.repeat(block, m), self.step_genes[_expand(self.step_ptr[step], m)]


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

    @property
    def pairs(self) -> int:
        """Pairs counted so far, aligned or not."""
        return self.stats.aligned + self.stats.not_aligned

    def add_flat(self, flat: FlatPlacements) -> None:
        """Count a chunk of placements: all its blocks are looked up at once."""
        st = self.stats
        per_status = np.bincount(flat.status, minlength=3)
        n_pairs = len(flat.status)
        n_unique = int(per_status[UNIQUE])
        st.not_aligned += int(per_status[NOT_ALIGNED])
        st.aligned += n_pairs - int(per_status[NOT_ALIGNED])
        st.multimapped += int(per_status[MULTIMAPPED])
        st.unique += n_unique
        if n_unique == 0:
            return
        chrom_of_contig = np.array(
            [self.index.chrom_ids.get(c, -1) for c in flat.contigs], dtype=np.int64
        )
        cid = chrom_of_contig[flat.blk_contig]
        on_genes = cid >= 0  # blocks on a contig without genes overlap nothing
        base = cid[on_genes] << _CHROM_SHIFT
        block, gene = self.index.hits(
            base + flat.blk_start[on_genes], base + flat.blk_end[on_genes]
        )
        pair_of_row = flat.blk_pair[on_genes][block]
        strand_of_row = flat.blk_strand[on_genes][block]
        sense = self.index.strand[gene] == strand_of_row
        # The unstranded rule sees every gene; secondstrand (-s yes) only genes on
        # read 1's strand; firststrand (-s reverse) only those on the other one.
        for lt, keep in (
            (LibraryType.UNSTRANDED, None),
            (LibraryType.SECONDSTRAND, sense),
            (LibraryType.FIRSTSTRAND, ~sense),
        ):
            p, g = (pair_of_row, gene) if keep is None else (pair_of_row[keep], gene[keep])
            self._assign(lt, p, g, n_pairs, n_unique)

    def _assign(
        self, lt: LibraryType, pair: np.ndarray, gene: np.ndarray, n_pairs: int, n_unique: int
    ) -> None:
        n_genes = len(self.index.gene_ids)
        keys = np.unique(pair * n_genes + gene)
        pair_u, gene_u = keys // n_genes, keys % n_genes
        genes_per_pair = np.bincount(pair_u, minlength=n_pairs)
        single = genes_per_pair[pair_u] == 1
        key = lt.value
        self.counts[key] += np.bincount(gene_u[single], minlength=n_genes)
        n_single = int(single.sum())
        self.stats.assigned[key] += n_single
        self.stats.ambiguous[key] += int((genes_per_pair > 1).sum())
        self.stats.no_feature[key] += n_unique - int((genes_per_pair > 0).sum())


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


# Below this many pairs assigned under a stranded rule, strandedness is not judged.
MIN_PAIRS_FOR_STRAND_CHECK = 50
# A stranded declaration is checked once this many pairs of a sample are counted, so
# a contradicted one fails the job within minutes rather than after every sample.
STRAND_CHECK_PAIRS = 200_000

_OPPOSITE = {
    LibraryType.FIRSTSTRAND: LibraryType.SECONDSTRAND,
    LibraryType.SECONDSTRAND: LibraryType.FIRSTSTRAND,
}


def observed_library_type(
    stats: CountStats, *, min_pairs: int = MIN_PAIRS_FOR_STRAND_CHECK
) -> tuple[LibraryType, float, int] | None:
    """(type the reads support, its share, stranded pairs), or None when too few pairs."""
    stranded_pairs = stats.assigned.get(LibraryType.FIRSTSTRAND.value, 0) + stats.assigned.get(
        LibraryType.SECONDSTRAND.value, 0
    )
    if stranded_pairs < min_pairs:
        return None
    observed, share = infer_library_type(stats)
    return observed, share, stranded_pairs


def strand_contradiction(
    sample_name: str, declared: LibraryType | None, stats: CountStats, *, unit: str = "pairs"
) -> str:
    """The start of the failure message when the reads contradict a stranded
    declaration (the caller says what a resubmit reuses), or "" when they do not.
    ``unit`` names a fragment: "pairs", or "reads" for single-end."""
    if declared is None or declared not in _OPPOSITE:
        return ""
    seen = observed_library_type(stats)
    if seen is None or seen[0] is not _OPPOSITE[declared]:
        return ""
    observed, share, pairs = seen
    return (
        f"sample '{sample_name}': library_type is {declared.value} but the reads look "
        f"{observed.value} ({share:.0%} of {pairs} strand-specific {unit} agree with "
        f"{observed.value}); resubmit with library_type '{observed.value}'"
    )
