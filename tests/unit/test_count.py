"""htseq-count's union rules on hand-built genes and placements, and pair placement.

Expected outcomes are written from htseq-count's documented semantics (union mode,
``--nonunique none``; for pairs read 1 keeps its strand and read 2 is flipped; only
M/=/X operations touch features), not from running our code.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import numpy as np
import pytest

from genejobs.pipeline.align import (
    MAX_INSERT_BP,
    FlatBuilder,
    Hit,
    PairAlignment,
    _blocks,
    best_placement,
    concordant,
)
from genejobs.pipeline.count import _CHROM_SHIFT, GeneIndex, PairCounter
from genejobs.pipeline.records import LibraryType
from genejobs.references.model import Gene, GeneModel

UN, FIRST, SECOND = LibraryType.UNSTRANDED, LibraryType.FIRSTSTRAND, LibraryType.SECONDSTRAND

MODEL = GeneModel(
    genes=[
        Gene("A", "A", "protein_coding", "chr1", "+", ((100, 200), (300, 400))),
        Gene("B", "B", "lncRNA", "chr1", "-", ((350, 450),)),  # antisense to A's exon 2
        Gene("C", "C", "protein_coding", "chr1", "+", ((1000, 1100),)),
        Gene("D", "D", "protein_coding", "chr1", "+", ((1050, 1150),)),  # same strand as C
        Gene("E", "E", "protein_coding", "chr1", "-", ((2000, 2100), (2500, 2600))),
        Gene("F", "F", "protein_coding", "chr2", "+", ((100, 200),)),
    ]
)


def hit(
    start: int,
    end: int,
    strand: int,
    *,
    ctg: str = "chr1",
    score: int = 100,
    cigar: tuple[tuple[int, int], ...] | None = None,
) -> Hit:
    """A hit from a CIGAR (mappy order: length, op); blocks as align.py derives them."""
    cigar = cigar or ((end - start, 0),)
    qlen = sum(n for n, op in cigar if op in (0, 1, 7, 8))
    return Hit(ctg, start, end, strand, 60, score, _blocks(start, cigar), cigar, 0, qlen, 0)


def count_chunk(counter: PairCounter, pairs: Iterable[PairAlignment]) -> None:
    """Count ``pairs`` as one chunk, flattened as ``align_pairs`` flattens a chunk."""
    builder = FlatBuilder()
    for pair in pairs:
        builder.add(pair)
    counter.add_flat(builder.build())


def overlapping(index: GeneIndex, chrom: str, start: int, end: int) -> set[int]:
    """Indices of genes with an exon overlapping [start, end) on ``chrom``: one block."""
    base = index.chrom_ids[chrom] << _CHROM_SHIFT
    _, genes = index.hits(np.array([base + start]), np.array([base + end]))
    return set(genes.tolist())


def outcome(pair: PairAlignment) -> dict[str, str]:
    """What htseq-count would print for this one pair under each strand rule."""
    counter = PairCounter(GeneIndex(MODEL))
    count_chunk(counter, [pair])
    out = {}
    for lt in LibraryType:
        genes = [MODEL.genes[i].gene_id for i, n in enumerate(counter.counts[lt.value]) if n]
        if counter.stats.no_feature[lt.value]:
            out[lt.value] = "__no_feature"
        elif counter.stats.ambiguous[lt.value]:
            out[lt.value] = "__ambiguous"
        else:
            assert len(genes) == 1
            out[lt.value] = genes[0]
        assert counter.stats.assigned[lt.value] == (len(genes) == 1)
    return out


def expect(unstranded: str, first: str, second: str) -> dict[str, str]:
    return {UN.value: unstranded, FIRST.value: first, SECOND.value: second}


NF, AMB = "__no_feature", "__ambiguous"
SPLICED_OVER_C = ((50, 0), (200, 3), (50, 0))  # 900-950, intron 950-1150, 1150-1200
DELETION_OVER_C = ((50, 0), (200, 2), (50, 0))  # D: consumes the reference, not counted

CASES = {
    # fr-secondstrand: read 1 on the gene's strand; fr-firststrand: read 1 opposite
    "read1 sense, plus gene": (hit(120, 190, 1), hit(150, 199, -1), expect("A", NF, "A")),
    "read1 antisense, plus gene": (hit(120, 190, -1), hit(150, 199, 1), expect("A", "A", NF)),
    "read1 antisense, minus gene": (hit(2010, 2090, 1), hit(2020, 2099, -1), expect("E", "E", NF)),
    "read1 sense, minus gene": (hit(2010, 2090, -1), hit(2020, 2099, 1), expect("E", NF, "E")),
    # antisense overlap: ambiguous unless the strand rule separates the genes
    "antisense overlap, read1 +": (hit(360, 395, 1), hit(370, 398, -1), expect(AMB, "B", "A")),
    "antisense overlap, read1 -": (hit(360, 395, -1), hit(370, 398, 1), expect(AMB, "A", "B")),
    # two same-strand genes: ambiguous under every rule that sees them
    "same-strand overlap": (hit(1060, 1090, 1), hit(1070, 1095, -1), expect(AMB, NF, AMB)),
    # union over both mates: each mate in one gene only, together two genes
    "mates in two genes": (hit(1000, 1040, 1), hit(1110, 1150, -1), expect(AMB, NF, AMB)),
    # positions outside every feature are ignored in union mode
    "half in exon, half intergenic": (hit(170, 230, 1), hit(180, 240, -1), expect("A", NF, "A")),
    "half in intron of A": (hit(180, 260, 1), hit(200, 290, -1), expect("A", NF, "A")),
    "intron only": (hit(210, 290, 1), hit(220, 295, -1), expect(NF, NF, NF)),
    # intervals are half-open: a block ending where an exon starts does not touch it
    "ends at exon start": (hit(20, 100, 1), hit(30, 100, -1), expect(NF, NF, NF)),
    "one base into the exon": (hit(21, 101, 1), hit(30, 100, -1), expect("A", NF, "A")),
    # N (intron) and D (deletion) do not count: the gap spans C and D's exons
    "intron spans genes": (
        hit(900, 1200, 1, cigar=SPLICED_OVER_C),
        hit(1160, 1199, -1),
        expect(NF, NF, NF),
    ),
    "deletion spans genes": (
        hit(900, 1200, 1, cigar=DELETION_OVER_C),
        hit(1160, 1199, -1),
        expect(NF, NF, NF),
    ),
    # only one mate aligned: the pair counts by that mate, read 2 flipped
    "only read 1, sense": (hit(1010, 1040, 1), None, expect("C", NF, "C")),
    "only read 2, reverse": (None, hit(1010, 1040, -1), expect("C", NF, "C")),
    "only read 2, forward": (None, hit(1010, 1040, 1), expect("C", "C", NF)),
    # unknown contig and other chromosomes
    "contig without genes": (hit(100, 150, 1, ctg="chrM"), None, expect(NF, NF, NF)),
    "same coordinates, other chromosome": (
        hit(120, 190, 1, ctg="chr2"),
        hit(150, 199, -1, ctg="chr2"),
        expect("F", NF, "F"),
    ),
    "discordant mates on two chromosomes": (
        hit(120, 190, 1),
        hit(150, 199, -1, ctg="chr2"),
        expect(AMB, NF, AMB),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_counting_rules(case):
    h1, h2, expected = CASES[case]
    assert outcome(PairAlignment(h1, h2, True, 1)) == expected


def test_spliced_read_counts_the_exon_after_the_intron():
    # 150-200 and 300-350 lie in A; B starts at 350, so one more base reaches it
    spliced = hit(150, 350, 1, cigar=((50, 0), (100, 3), (50, 0)))
    assert spliced.blocks == ((150, 200), (300, 350))
    assert outcome(PairAlignment(spliced, None, True, 1)) == expect("A", NF, "A")
    longer = hit(150, 351, 1, cigar=((50, 0), (100, 3), (51, 0)))
    assert outcome(PairAlignment(longer, None, True, 1)) == expect(AMB, "B", "A")


def test_blocks_follow_the_cigar():
    # 10M 2I 5M 3D 7M 100N 4M (insertions consume the read only)
    cigar = ((10, 0), (2, 1), (5, 0), (3, 2), (7, 0), (100, 3), (4, 0))
    assert _blocks(1000, cigar) == ((1000, 1010), (1010, 1015), (1018, 1025), (1125, 1129))


def test_multimapped_and_unaligned_pairs_only_touch_their_counters():
    counter = PairCounter(GeneIndex(MODEL))
    placements = [
        PairAlignment(hit(120, 190, 1), hit(150, 199, -1), False, 2),  # tie → not unique
        PairAlignment(hit(120, 190, 1), None, False, 3),
        PairAlignment(None, None, False, 0),
        PairAlignment(hit(120, 190, 1), hit(150, 199, -1), True, 1),
        PairAlignment(hit(360, 395, 1), hit(370, 398, -1), True, 1),
        PairAlignment(hit(5000, 5100, 1), None, True, 1),
    ]
    for p in placements:
        count_chunk(counter, [p])
    st = counter.stats
    assert (st.aligned, st.unique, st.multimapped, st.not_aligned) == (5, 3, 2, 1)
    for lt in LibraryType:
        total = st.assigned[lt.value] + st.ambiguous[lt.value] + st.no_feature[lt.value]
        assert total == st.unique  # every unique pair lands in exactly one bucket
        assert counter.counts[lt.value].sum() == st.assigned[lt.value]
    assert counter.counts[UN.value].tolist() == [1, 0, 0, 0, 0, 0]
    assert counter.counts[FIRST.value].tolist() == [0, 1, 0, 0, 0, 0]
    assert counter.counts[SECOND.value].tolist() == [2, 0, 0, 0, 0, 0]


def test_overlap_index_agrees_with_a_brute_force_scan():
    rng = random.Random(7)
    genes = []
    for i in range(60):
        start = rng.randrange(0, 20_000)
        exons = []
        for _ in range(rng.randint(1, 4)):
            length = rng.choice([5, 50, 300, 3000])  # a few long exons stress the window
            exons.append((start, start + length))
            start += length + rng.randint(1, 400)
        genes.append(Gene(f"G{i}", f"G{i}", "protein_coding", "chr1", "+-"[i % 2], tuple(exons)))
    index = GeneIndex(GeneModel(genes=genes))
    for _ in range(3000):
        s = rng.randrange(0, 26_000)
        e = s + rng.randint(1, 200)
        brute = {i for i, g in enumerate(genes) for a, b in g.exons if a < e and s < b}
        assert overlapping(index, "chr1", s, e) == brute


# ---- placement ---------------------------------------------------------------------------


def test_the_paralog_with_fewer_edits_wins_and_is_unique():
    true = (hit(100, 200, 1, score=100), hit(250, 350, -1, score=100))
    # the paralog copy on another chromosome, so only the two copies pair concordantly
    paralog = (hit(8100, 8200, 1, score=96, ctg="chr2"), hit(8250, 8350, -1, ctg="chr2"))
    placed = best_placement([paralog[0], true[0]], [paralog[1], true[1]])
    assert placed.unique and (placed.hit1, placed.hit2) == true
    assert placed.n_placements == 2


def test_equal_scores_prefer_the_fragment_sized_span():
    r1 = hit(100, 200, 1)
    near, far = hit(250, 350, -1), hit(40_000, 40_100, -1)
    placed = best_placement([r1], [far, near])
    assert placed.unique and placed.hit2 == near
    # spans of the same size class are a true tie: multimapped
    other = (hit(9100, 9200, 1, ctg="chr2"), hit(9250, 9350, -1, ctg="chr2"))
    placed = best_placement([r1, other[0]], [near, other[1]])
    assert not placed.unique and placed.n_placements == 2


def test_discordant_mates_are_kept_and_a_tied_mate_makes_them_not_unique():
    same_strand = (hit(100, 200, 1), hit(300, 400, 1))
    placed = best_placement([same_strand[0]], [same_strand[1]])
    assert placed.unique and placed.n_placements == 1
    assert (placed.hit1, placed.hit2) == same_strand
    facing_away = (hit(5000, 5100, 1), hit(100, 200, -1))
    assert not concordant(*facing_away)
    placed = best_placement([facing_away[0]], [facing_away[1]])
    assert placed.unique and placed.hit1 == facing_away[0]
    other_chrom = hit(100, 200, -1, ctg="chr2")
    assert not concordant(same_strand[0], other_chrom)
    placed = best_placement([same_strand[0]], [other_chrom, hit(900, 1000, 1, ctg="chr2")])
    assert not placed.unique  # read 2's two hits tie


def test_concordance_reach_and_overlapping_mates():
    fwd = hit(1000, 1100, 1)
    assert concordant(fwd, hit(1050, 1150, -1))  # overlapping mates
    assert concordant(hit(1000, 1100, -1), hit(990, 1090, 1))  # short fragment, order swapped
    assert not concordant(fwd, hit(900, 999, -1))  # reverse mate ends before forward starts
    assert concordant(fwd, hit(1000 + MAX_INSERT_BP - 100, 1000 + MAX_INSERT_BP, -1))
    assert not concordant(fwd, hit(1000 + MAX_INSERT_BP, 1000 + MAX_INSERT_BP + 100, -1))


def test_a_lone_mate_is_placed_by_score_and_ties_are_multimapped():
    best, worse = hit(100, 200, 1, score=100), hit(700, 800, 1, score=90)
    placed = best_placement([worse, best], [])
    assert placed.unique and placed.hit1 == best and placed.hit2 is None
    placed = best_placement([], [best, hit(700, 800, -1, score=100)])
    assert not placed.unique and placed.hit1 is None and placed.n_placements == 2
    placed = best_placement([], [])
    assert not placed.aligned and placed.n_placements == 0


def test_a_chunk_counts_as_htseq_union_rules_say_pair_by_pair():
    """Random genes and spliced pairs on two chromosomes, counted as one chunk, against
    the rules applied pair by pair with a brute-force exon scan."""
    rng = random.Random(11)
    genes = []
    for i in range(40):
        chrom = ("chr1", "chr2")[i % 2]
        start, exons = rng.randrange(0, 5_000), []
        for _ in range(rng.randint(1, 3)):
            length = rng.choice([1, 20, 150, 600])
            exons.append((start, start + length))
            start += length + rng.choice([0, 1, 80])  # touching exons make empty-free steps
        genes.append(
            Gene(f"G{i}", f"G{i}", "protein_coding", chrom, "+-"[rng.randrange(2)], tuple(exons))
        )
    model = GeneModel(genes=genes)

    def random_hit():
        start = rng.randrange(0, 6_500)
        if rng.random() < 0.3:
            cigar = ((30, 0), (rng.randint(1, 900), 3), (40, 0))
        else:
            cigar = ((rng.choice([50, 100]), 0),)
        span = sum(n for n, op in cigar if op in (0, 2, 3))
        ctg = rng.choice(["chr1", "chr2", "chrM"])  # chrM has no genes
        return hit(start, start + span, rng.choice([1, -1]), ctg=ctg, cigar=cigar)

    pairs = []
    for _ in range(400):
        h1 = random_hit() if rng.random() < 0.9 else None
        h2 = random_hit() if rng.random() < 0.9 else None
        pairs.append(PairAlignment(h1, h2, rng.random() < 0.9, 1))
    counter = PairCounter(GeneIndex(model))
    count_chunk(counter, pairs)

    expected = {lt.value: [0] * len(genes) for lt in LibraryType}
    buckets = {lt.value: {"nf": 0, "amb": 0} for lt in LibraryType}
    for pair in pairs:
        if not pair.aligned or not pair.unique:
            continue
        sense, anti = set(), set()
        for h, flip in ((pair.hit1, 1), (pair.hit2, -1)):
            if h is None:
                continue
            for s, e in h.blocks:
                for gi, g in enumerate(genes):
                    if g.chrom == h.ctg and any(a < e and s < b for a, b in g.exons):
                        same = (1 if g.strand == "+" else -1) == h.strand * flip
                        (sense if same else anti).add(gi)
        for lt, found in ((UN, sense | anti), (SECOND, sense), (FIRST, anti)):
            if not found:
                buckets[lt.value]["nf"] += 1
            elif len(found) > 1:
                buckets[lt.value]["amb"] += 1
            else:
                expected[lt.value][next(iter(found))] += 1
    for lt in LibraryType:
        assert counter.counts[lt.value].tolist() == expected[lt.value]
        assert counter.stats.no_feature[lt.value] == buckets[lt.value]["nf"]
        assert counter.stats.ambiguous[lt.value] == buckets[lt.value]["amb"]


def test_the_gene_index_is_shared_by_annotation_checksum_not_by_object() -> None:
    from dataclasses import replace

    from genejobs.pipeline.sample import gene_index

    a = replace(MODEL, source_checksum="a" * 64)
    same_file = replace(MODEL, source_checksum="a" * 64)
    other_file = GeneModel(genes=MODEL.genes[:2], source_checksum="b" * 64)
    first = gene_index(a)
    assert gene_index(same_file) is first
    assert gene_index(other_file) is not first
    assert gene_index(other_file).gene_ids == ["A", "B"]
    assert gene_index(MODEL) is not gene_index(MODEL)  # no checksum: never shared


# Single-end reads: htseq-count's rules for a read without a mate. -s yes counts a read
# on the gene's strand, -s reverse (fr-firststrand) one on the opposite strand.
SINGLE_END_CASES = {
    "sense read, plus gene": (hit(120, 190, 1), expect("A", NF, "A")),
    "antisense read, plus gene": (hit(120, 190, -1), expect("A", "A", NF)),
    "antisense read, minus gene": (hit(2010, 2090, 1), expect("E", "E", NF)),
    "antisense overlap, read +": (hit(360, 395, 1), expect(AMB, "B", "A")),
    "spliced over C and D": (hit(900, 1200, 1, cigar=SPLICED_OVER_C), expect(NF, NF, NF)),
    "intron only": (hit(210, 290, -1), expect(NF, NF, NF)),
}


@pytest.mark.parametrize("case", list(SINGLE_END_CASES))
def test_single_end_counting_rules(case):
    read, expected = SINGLE_END_CASES[case]
    # what align_pairs makes of a single read: its hits, no read 2
    placement = best_placement([read], [])
    assert placement.unique and placement.hit2 is None
    assert outcome(placement) == expected


def test_a_single_read_with_tied_hits_is_multimapped_and_a_better_one_wins():
    a, b = hit(120, 190, 1, score=60), hit(2010, 2080, 1, score=60)
    assert not best_placement([a, b], []).unique
    better = hit(2010, 2080, 1, score=70)
    placed = best_placement([a, better], [])
    assert placed.unique and placed.hit1 == better
