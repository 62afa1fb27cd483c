"""GTF → gene model and FASTA validation, on tiny files written per test."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from genejobs.errors import ValidationError
from genejobs.references.fasta import read_fasta_summary
from genejobs.references.gtf import load_gene_model, parse_gtf, save_gene_model, sha256_file


def _gtf_line(chrom, feature, start, end, strand, attrs):
    return f"{chrom}\tTEST\t{feature}\t{start}\t{end}\t.\t{strand}\t.\t{attrs}\n"


G1 = 'gene_id "G1.1"; gene_type "protein_coding"; gene_name "ALPHA";'
G2 = 'gene_id "G2"; gene_biotype "lncRNA";'  # Ensembl spelling, no gene_name
G3 = "gene_id G3; gene_name BETA"  # unquoted values, no trailing ';', no type


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def gtf(tmp_path: Path) -> Path:
    lines = [
        "##provider: test\n",
        "#a comment\n",
        "\n",
        _gtf_line("chr1", "gene", 100, 900, "+", G1),
        _gtf_line("chr1", "transcript", 100, 900, "+", G1 + ' transcript_id "T1";'),
        # isoform 1: exons 100-200, 400-500, 800-900; isoform 2: 150-250, 450-460, 500-600
        _gtf_line("chr1", "exon", 100, 200, "+", G1 + ' transcript_id "T1";'),
        _gtf_line("chr1", "exon", 400, 500, "+", G1 + ' transcript_id "T1";'),
        _gtf_line("chr1", "exon", 800, 900, "+", G1 + ' transcript_id "T1";'),
        _gtf_line("chr1", "exon", 150, 250, "+", G1 + ' transcript_id "T2";'),
        _gtf_line("chr1", "exon", 450, 460, "+", G1 + ' transcript_id "T2";'),
        _gtf_line("chr1", "exon", 501, 600, "+", G1 + ' transcript_id "T2";'),  # abuts 400-500
        _gtf_line("chr1", "CDS", 160, 200, "+", G1),
        _gtf_line("chr2", "exon", 10, 20, "-", G2),
        _gtf_line("chr2", "exon", 30, 40, "-", G2),
        _gtf_line("chr1", "exon", 1000, 1100, "-", G3),
        _gtf_line("chr1", "gene", 2000, 3000, "+", 'gene_id "NOEXON";'),
        _gtf_line("chr1", "start_codon", 1, 3, ".", 'gene_id "G1.1";'),  # ignored feature
    ]
    return _write(tmp_path / "ann.gtf", "".join(lines))


def test_parse_merges_exons_across_isoforms(gtf: Path) -> None:
    model = parse_gtf(gtf)
    assert model.gene_ids == ["G1.1", "G2", "G3"]  # GTF order; a gene without exons is dropped
    g1 = model.genes[0]
    # 0-based half-open; [399,500) and [500,600) touch and merge
    assert g1.exons == ((99, 250), (399, 600), (799, 900))
    assert (g1.chrom, g1.strand, g1.start, g1.end) == ("chr1", "+", 99, 900)
    assert model.genes[1].exons == ((9, 20), (29, 40))
    assert model.genes[1].strand == "-"


def test_gene_name_and_type_fallbacks(gtf: Path) -> None:
    genes = {g.gene_id: g for g in parse_gtf(gtf).genes}
    assert (genes["G1.1"].gene_name, genes["G1.1"].gene_type) == ("ALPHA", "protein_coding")
    assert (genes["G2"].gene_name, genes["G2"].gene_type) == ("G2", "lncRNA")  # id, biotype
    assert (genes["G3"].gene_name, genes["G3"].gene_type) == ("BETA", "")


def test_gzip_input_parses_the_same(gtf: Path, tmp_path: Path) -> None:
    gz = tmp_path / "ann.gtf.gz"
    gz.write_bytes(gzip.compress(gtf.read_bytes()))
    plain, packed = parse_gtf(gtf), parse_gtf(gz)
    assert packed.genes == plain.genes
    assert packed.name == "ann.gtf.gz" and packed.source_checksum == sha256_file(gz)
    assert plain.source_checksum != packed.source_checksum


def test_crlf_line_endings(gtf: Path, tmp_path: Path) -> None:
    crlf = _write(tmp_path / "crlf.gtf", gtf.read_text().replace("\n", "\r\n"))
    assert parse_gtf(crlf).genes == parse_gtf(gtf).genes


def test_gene_model_round_trip(gtf: Path, tmp_path: Path) -> None:
    model = parse_gtf(gtf, name="gencode.test.gtf")
    save_gene_model(model, tmp_path / "m.json")
    back = load_gene_model(tmp_path / "m.json")
    assert back.genes == model.genes
    assert (back.name, back.source_checksum) == ("gencode.test.gtf", model.source_checksum)


GOOD = _gtf_line("chr1", "exon", 1, 10, "+", 'gene_id "A";')


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("chr1\tTEST\texon\t1\t10\t.\t+\n", "expected 9 tab-separated columns, found 7"),
        ('chr1 TEST exon 1 10 . + . gene_id "B";\n', "expected 9 tab-separated columns, found 1"),
        (_gtf_line("chr1", "exon", "x", 10, "+", 'gene_id "B";'), "must be integers"),
        (_gtf_line("chr1", "exon", 1, "1e3", "+", 'gene_id "B";'), "must be integers"),
        (_gtf_line("chr1", "exon", 0, 10, "+", 'gene_id "B";'), "start 0 must be ≥ 1"),
        (_gtf_line("chr1", "exon", 20, 10, "+", 'gene_id "B";'), "≤ end 10"),
        (_gtf_line("chr1", "exon", 1, 10, ".", 'gene_id "B";'), "strand must be + or -, not '.'"),
        (_gtf_line("chr1", "exon", 1, 10, "+", 'transcript_id "T";'), "exon has no gene_id"),
        (_gtf_line("chr1", "gene", 1, 10, "+", 'gene_id "";'), "gene has no gene_id"),
        (
            _gtf_line("chr2", "exon", 20, 30, "+", 'gene_id "A";'),
            "gene A is on chr1+ at line 2 and on chr2+ here",
        ),
        (
            _gtf_line("chr1", "exon", 20, 30, "-", 'gene_id "A";'),
            "gene A is on chr1+ at line 2 and on chr1- here",
        ),
    ],
)
def test_malformed_lines_name_file_line_and_reason(
    tmp_path: Path, bad_line: str, reason: str
) -> None:
    path = _write(tmp_path / "bad.gtf", "#header\n" + GOOD + "\n" + bad_line + GOOD)
    with pytest.raises(ValidationError) as err:
        parse_gtf(path, name="gencode.v28.annotation.gtf")
    assert err.value.message.startswith("gencode.v28.annotation.gtf, line 4: ")
    assert reason in err.value.message


def test_gtf_without_exons_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "genes_only.gtf", _gtf_line("chr1", "gene", 1, 10, "+", G1))
    with pytest.raises(ValidationError, match=r"^genes_only.gtf: no exon lines"):
        parse_gtf(path)
    empty = _write(tmp_path / "empty.gtf", "")
    with pytest.raises(ValidationError, match="no exon lines"):
        parse_gtf(empty)


# -- FASTA ---------------------------------------------------------------------


def test_fasta_summary_lengths(tmp_path: Path) -> None:
    fa = _write(tmp_path / "g.fa", ">chr1 first chromosome\nACGTN\nacgtr\n\n>chr2\r\nAC\r\n")
    assert read_fasta_summary(fa) == {"chr1": 10, "chr2": 2}
    gz = tmp_path / "g.fa.gz"
    gz.write_bytes(gzip.compress(fa.read_bytes()))
    assert read_fasta_summary(gz) == {"chr1": 10, "chr2": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ACGT\n>chr1\nACGT\n", "genome.fa, line 1: sequence before the first '>' header"),
        (">chr1\nACGT\n>\nACGT\n", "genome.fa, line 3: header has no name"),
        (">chr1\nACGT\n>  \nACGT\n", "genome.fa, line 3: header has no name"),
        (">chr1\nACGT\n>chr1 again\nAC\n", "genome.fa, line 3: duplicate sequence name 'chr1'"),
        (">chr1\nAC\nAC-T\n", "genome.fa, line 3: invalid character '-'"),
        (">chr1\nACGU\n", "genome.fa, line 2: invalid character 'U'"),
        (">chr1\n>chr2\nACGT\n", "genome.fa, line 2: sequence 'chr1' is empty"),
        (">chr1\nACGT\n>chr2\n\n", "genome.fa: sequence 'chr2' at the end of the file is empty"),
        ("", "genome.fa: no sequences found (is this a FASTA file?)"),
        ("\n\n", "genome.fa: no sequences found (is this a FASTA file?)"),
    ],
)
def test_fasta_errors(tmp_path: Path, text: str, message: str) -> None:
    fa = _write(tmp_path / "x.fa", text)
    with pytest.raises(ValidationError) as err:
        read_fasta_summary(fa, label="genome.fa")
    assert err.value.message == message


def test_fasta_label_defaults_to_file_name(tmp_path: Path) -> None:
    fa = _write(tmp_path / "hg_tiny.fa", ">c\nAC*\n")
    with pytest.raises(ValidationError, match=r"^hg_tiny.fa, line 2: invalid character '\*'"):
        read_fasta_summary(fa)
