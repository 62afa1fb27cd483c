"""Counts tables as labs have them: nf-core's salmon merge, featureCounts, plain TSV/CSV."""

from __future__ import annotations

import gzip

import pytest

from genejobs.errors import ValidationError
from genejobs.pipeline.counts_table import read_count_table

FIELDS = {
    "K1": "inputs[0].group_inputs[0].sample_name",
    "W1": "inputs[1].group_inputs[0].sample_name",
}


def read(text: str, label: str = "s3a://lab/counts.tsv", samples=("K1", "W1")):  # type: ignore[no-untyped-def]
    return read_count_table(
        text.encode(), label=label, samples=samples, sample_fields=FIELDS, min_genes=1
    )


def problems(text: str, label: str = "s3a://lab/counts.tsv", samples=("K1", "W1")) -> list[str]:
    with pytest.raises(ValidationError) as err:
        read(text, label, samples)
    return err.value.message.split("; ")


def test_nf_core_salmon_merged_gene_counts_as_written() -> None:
    text = "gene_id\tgene_name\tW1\tK1\tX9\nENSG01\tTP53\t10.0\t3.49\t1\nENSG02\tMYC\t0\t7.51\t2\n"
    table = read(text, "s3a://lab/salmon.merged.gene_counts.tsv")
    assert table.counts.columns.tolist() == ["K1", "W1"]  # the request's order
    assert table.counts.loc["ENSG01"].tolist() == [3, 10]
    assert table.counts.loc["ENSG02"].tolist() == [8, 0]
    assert table.gene_names == {"ENSG01": "TP53", "ENSG02": "MYC"}
    assert table.notes and "rounded" in table.notes[0]


def test_featurecounts_output_as_written() -> None:
    text = (
        '# Program:featureCounts v2.0.3; Command:"featureCounts" "-a" "genes.gtf"\n'
        "Geneid\tChr\tStart\tEnd\tStrand\tLength\t/data/bam/K1.sorted.bam\t/data/bam/W1.bam\n"
        "G1\tchr1;chr1\t1;50\t40;90\t+;+\t81\t12\t0\n"
        "G2\tchr2\t5\t60\t-\t56\t3\t9\n"
    )
    table = read(text)
    assert table.columns == {"K1": "/data/bam/K1.sorted.bam", "W1": "/data/bam/W1.bam"}
    assert table.counts.to_dict() == {"K1": {"G1": 12, "G2": 3}, "W1": {"G1": 0, "G2": 9}}
    assert table.gene_names == {} and table.notes == []


def test_csv_and_gzip() -> None:
    text = "gene,K1,W1\nG1,1,2\n"
    assert read(text, "file:///d/c.csv").counts.loc["G1"].tolist() == [1, 2]
    data = gzip.compress(text.replace(",", "\t").encode())
    table = read_count_table(data, label="c.tsv.gz", samples=["K1", "W1"], min_genes=1)
    assert table.counts.loc["G1"].tolist() == [1, 2]


def test_every_problem_at_once_named() -> None:
    text = "id\tK1\tK2\nG1\t1\t2\nG2\t-4\t1\nG1\t2.5\t0\n"
    assert problems(text) == [
        "counts: 's3a://lab/counts.tsv': gene id 'G1' appears more than once (lines 2, 4), "
        "1 duplicated id(s) in all",
        "inputs[1].group_inputs[0].sample_name: 'W1' is not a column of counts "
        "'s3a://lab/counts.tsv' (columns: K1, K2)",
        "counts: 's3a://lab/counts.tsv', column 'K1', gene 'G2': -4 is negative (counts are "
        "numbers of reads)",
    ]
    assert problems("id\tK1\tW1\nG1\t2.5\tx\n") == [
        "counts: 's3a://lab/counts.tsv', column 'K1', gene 'G1': 2.5 is not a whole number "
        "(counts must be integers, and only a table in nf-core/rnaseq's salmon layout, "
        "gene_id then gene_name, is rounded)",
        "counts: 's3a://lab/counts.tsv', column 'W1', gene 'G1': 'x' is not a number",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the table is empty (no header, no genes)"),
        ("# only a comment\n", "the table is empty (no header, no genes)"),
        ("gene_id\tK1\tW1\n", "the table has a header but no genes"),
    ],
)
def test_empty_tables(text: str, expected: str) -> None:
    assert problems(text) == [f"counts: 's3a://lab/counts.tsv': {expected}"]
