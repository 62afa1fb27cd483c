"""Counting rules, pair placement and read checks on tiny hand-built data."""

from __future__ import annotations

import gzip
from pathlib import Path

import dnaio
import pytest

from genejobs.errors import InputError
from genejobs.pipeline.align import Hit, PairAlignment, best_placement
from genejobs.pipeline.count import GeneIndex, PairCounter, infer_library_type
from genejobs.pipeline.reads import PairChunk, PairedReads
from genejobs.pipeline.records import CountStats, LibraryType, ReadStats
from genejobs.pipeline.trim import PairTrimmer
from genejobs.references.model import Gene, GeneModel
from genejobs.storage import Storage, parse_uri

MODEL = GeneModel(
    genes=[
        Gene("PLUS", "P", "protein_coding", "chr1", "+", ((100, 200), (300, 400))),
        Gene("MINUS", "M", "lncRNA", "chr1", "-", ((350, 450),)),  # antisense, overlaps PLUS
        Gene("FAR", "F", "protein_coding", "chr1", "+", ((1000, 1100),)),
    ]
)


def hit(
    start: int,
    end: int,
    strand: int,
    *,
    score: int = 100,
    ctg: str = "chr1",
    blocks: tuple[tuple[int, int], ...] | None = None,
) -> Hit:
    blocks = blocks or ((start, end),)
    cigar = tuple((e - s, 0) for s, e in blocks)
    return Hit(ctg, start, end, strand, 60, score, blocks, cigar, 0, end - start, 0)


def count(pair: PairAlignment) -> PairCounter:
    counter = PairCounter(GeneIndex(MODEL))
    counter.add(pair)
    return counter


def assigned(counter: PairCounter, lt: LibraryType) -> list[str]:
    return [MODEL.genes[i].gene_id for i, v in enumerate(counter.counts[lt.value]) if v]


def test_a_sense_pair_counts_for_secondstrand_and_unstranded_only():
    c = count(PairAlignment(hit(120, 190, 1), hit(150, 199, -1), True, 1))
    assert assigned(c, LibraryType.UNSTRANDED) == ["PLUS"]
    assert assigned(c, LibraryType.SECONDSTRAND) == ["PLUS"]
    assert assigned(c, LibraryType.FIRSTSTRAND) == []
    assert c.stats.no_feature[LibraryType.FIRSTSTRAND.value] == 1


def test_antisense_overlap_is_ambiguous_unstranded_but_resolved_by_strand():
    c = count(PairAlignment(hit(360, 395, -1), hit(370, 398, 1), True, 1))
    assert c.stats.ambiguous[LibraryType.UNSTRANDED.value] == 1
    assert assigned(c, LibraryType.SECONDSTRAND) == ["MINUS"]  # read 1 on the minus strand
    assert assigned(c, LibraryType.FIRSTSTRAND) == ["PLUS"]


def test_introns_do_not_count_as_overlap():
    spliced = hit(150, 350, 1, blocks=((150, 200), (300, 320)))
    c = count(PairAlignment(spliced, None, True, 1))
    assert assigned(c, LibraryType.SECONDSTRAND) == ["PLUS"]
    # a read whose intron gap spans FAR's exon does not touch FAR
    long_gap = hit(900, 1200, 1, blocks=((900, 950), (1150, 1200)))
    c = count(PairAlignment(long_gap, None, True, 1))
    assert c.stats.no_feature[LibraryType.UNSTRANDED.value] == 1


def test_one_aligned_mate_counts_the_pair_once():
    c = count(PairAlignment(None, hit(1010, 1090, -1), True, 1))
    assert assigned(c, LibraryType.SECONDSTRAND) == ["FAR"]  # mate 2 reverse = fragment +
    assert c.stats.aligned == 1 and c.stats.unique == 1


def test_tied_and_unaligned_pairs_go_to_their_counters():
    c = count(PairAlignment(hit(120, 190, 1), hit(150, 199, -1), False, 2))
    assert c.stats.multimapped == 1 and sum(c.counts[LibraryType.UNSTRANDED.value]) == 0
    c = count(PairAlignment(None, None, False, 0))
    assert c.stats.not_aligned == 1


def test_best_placement_prefers_the_better_score_and_the_compact_pair():
    right = (hit(100, 200, 1, score=100), hit(250, 350, -1, score=96))
    paralog = (hit(5100, 5200, 1, score=100), hit(5250, 5350, -1, score=90))
    placed = best_placement([right[0], paralog[0]], [right[1], paralog[1]])
    assert placed.unique and placed.hit1 == right[0] and placed.hit2 == right[1]
    # equal scores: the pair a fragment apart beats mates kilobases apart
    far_mate = hit(4000, 4100, -1, score=96)
    placed = best_placement([right[0]], [right[1], far_mate])
    assert placed.unique and placed.hit2 == right[1]
    # a true tie is not unique
    placed = best_placement([right[0], paralog[0]], [right[1], hit(5250, 5350, -1, score=96)])
    assert not placed.unique


def test_mates_facing_away_are_not_a_concordant_pair():
    fwd, rev = hit(5000, 5100, 1), hit(100, 200, -1)
    placed = best_placement([fwd], [rev])
    assert placed.n_placements == 1 and placed.hit1 == fwd  # kept as a discordant pair


def test_infer_library_type_from_assignments():
    stats = CountStats(assigned={"fr-firststrand": 90, "fr-secondstrand": 10, "fr-unstranded": 95})
    assert infer_library_type(stats) == (LibraryType.FIRSTSTRAND, 0.9)
    stats = CountStats(assigned={"fr-firststrand": 50, "fr-secondstrand": 48, "fr-unstranded": 95})
    assert infer_library_type(stats)[0] == LibraryType.UNSTRANDED


def _fastq(path: Path, names: list[str], seq: str = "ACGT" * 10) -> None:
    with gzip.open(path, "wt") as fh:
        for n in names:
            fh.write(f"@{n}\n{seq}\n+\n{'I' * len(seq)}\n")


def _reads(tmp_path: Path, r1: str, r2: str) -> PairedReads:
    storage = Storage(allowed_roots=(tmp_path,))
    return PairedReads(storage, "S1", parse_uri(str(tmp_path / r1)), parse_uri(str(tmp_path / r2)))


def test_mismatched_names_name_the_sample_and_both_files(tmp_path):
    _fastq(tmp_path / "a.fastq.gz", ["r1/1", "r2/1"])
    _fastq(tmp_path / "b.fastq.gz", ["r1/2", "rX/2"])
    with pytest.raises(InputError, match=r"sample 'S1': read pair 2 does not match: 'r2/1'"):
        list(_reads(tmp_path, "a.fastq.gz", "b.fastq.gz").chunks(10))


def test_unequal_read_counts_say_which_file_ends_early(tmp_path):
    _fastq(tmp_path / "a.fastq.gz", ["r1/1", "r2/1", "r3/1"])
    _fastq(tmp_path / "b.fastq.gz", ["r1/2", "r2/2"])
    with pytest.raises(InputError, match=r"b\.fastq\.gz' ends early"):
        list(_reads(tmp_path, "a.fastq.gz", "b.fastq.gz").chunks(10))


def test_truncated_empty_and_non_fastq_files_are_named(tmp_path):
    _fastq(tmp_path / "ok.fastq.gz", [f"r{i}" for i in range(2000)])
    data = (tmp_path / "ok.fastq.gz").read_bytes()
    (tmp_path / "cut.fastq.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"sample 'S1': file '.*cut\.fastq\.gz'"):
        list(_reads(tmp_path, "ok.fastq.gz", "cut.fastq.gz").chunks(500))
    _fastq(tmp_path / "empty.fastq.gz", [])
    _fastq(tmp_path / "empty2.fastq.gz", [])
    with pytest.raises(InputError, match="holds no reads"):
        list(_reads(tmp_path, "empty.fastq.gz", "empty2.fastq.gz").chunks(10))
    with gzip.open(tmp_path / "text.fastq.gz", "wt") as fh:
        fh.write("this is not a FASTQ file\n")
    with pytest.raises(InputError, match=r"text\.fastq\.gz"):
        list(_reads(tmp_path, "ok.fastq.gz", "text.fastq.gz").chunks(10))


def test_trimming_removes_the_adapter_and_drops_short_pairs():
    adapter = "AGATCGGAAGAGC"
    insert = "ACGTTGCAACGTTGCAACGTTGCAACGT"
    long_read = dnaio.SequenceRecord("a", insert + adapter, "I" * (len(insert) + len(adapter)))
    short_read = dnaio.SequenceRecord("b", "ACGTACGTAC" + adapter, "I" * (10 + len(adapter)))
    clean = dnaio.SequenceRecord("c", insert, "I" * len(insert))
    stats = ReadStats()
    out = PairTrimmer(adapter, min_length=20)(
        PairChunk([long_read, short_read, clean], [clean, short_read, clean]), stats
    )
    assert [r.sequence for r in out.r1] == [insert, insert]
    assert stats.pairs_in == 3 and stats.pairs_out == 2 and stats.pairs_too_short == 1
    assert stats.pairs_with_adapter == 2 and stats.bases_trimmed == 3 * len(adapter)
