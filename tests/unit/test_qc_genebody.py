"""Which transcripts geneBody_coverage gets: the longest of each best-covered gene."""

from __future__ import annotations

import numpy as np

from genejobs.pipeline.qc import genebody_bed
from genejobs.references.model import Gene


def _bed(chrom: str, start: int, sizes: list[int], offsets: list[int], name: str, strand: str):
    end = start + offsets[-1] + sizes[-1]
    cols = [chrom, start, end, name, 0, strand, start, end, 0, len(sizes)]
    cols += [",".join(map(str, sizes)) + ",", ",".join(map(str, offsets)) + ","]
    return "\t".join(map(str, cols))


GENES = [
    Gene("A", "a", "protein_coding", "chr1", "+", ((100, 300), (500, 900))),
    Gene("B", "b", "protein_coding", "chr1", "-", ((200, 800),)),  # antisense to A
    Gene("C", "c", "protein_coding", "chr2", "+", ((1000, 1500),)),
    Gene("D", "d", "lncRNA", "chr2", "+", ((5000, 5100),)),
]
BED = "\n".join(
    [
        "track name=genes",
        _bed("chr1", 100, [200, 400], [0, 400], "A-short-span-long-exons", "+"),
        _bed("chr1", 100, [50, 50, 50], [0, 400, 750], "A-long-span-short-exons", "+"),
        _bed("chr1", 200, [600], [0], "B-1", "-"),
        _bed("chr2", 1000, [500], [0], "C-1", "+"),
        _bed("chr2", 5000, [100], [0], "D-1", "+"),
        _bed("chr3", 0, [100], [0], "nowhere", "+"),
    ]
)


def names(text: str) -> set[str]:
    return {line.split("\t")[3] for line in text.splitlines()}


def test_the_best_covered_genes_keep_their_transcript_with_most_exonic_bases() -> None:
    coverage = np.array([50, 10, 30, 0])
    assert names(genebody_bed(BED, GENES, coverage, limit=2)) == {
        "A-short-span-long-exons",  # 600 exonic bases beat 150 over a longer span
        "C-1",  # B has fewer reads than C; it stays out
    }


def test_strand_decides_and_genes_without_reads_are_left_out() -> None:
    coverage = np.array([0, 5, 0, 0])
    assert names(genebody_bed(BED, GENES, coverage, limit=10)) == {"B-1"}


def test_output_is_valid_bed12_lines_as_given() -> None:
    out = genebody_bed(BED, GENES, np.array([1, 1, 1, 1]), limit=10)
    lines = out.splitlines()
    assert len(lines) == 4 and all(line in BED.splitlines() for line in lines)
    assert out.endswith("\n")
