"""The packaged catalogue and the checksum formats upstream sources publish."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from genejobs.errors import NotFound, ValidationError
from genejobs.references import checksums
from genejobs.references.catalogue import load_catalogue, parse_mirrors
from genejobs.references.fetch import check_sequence_names


def test_catalogue_has_the_required_references_with_upstream_layouts() -> None:
    c = load_catalogue()
    assert {
        "GRCh38-gencode",
        "GRCh38-ensembl",
        "GRCm39-gencode",
        "GRCm39-ensembl",
        "R64-1-1",
    } <= set(c.names())
    e = c.get("GRCh38", "46")
    assert e.name == "GRCh38-gencode" and e.species == "Homo sapiens"
    assert c.url(e.fasta) == (
        "https://ftp.ebi.ac.uk/pub/databases/gencode/Gencode_human/release_46/"
        "GRCh38.primary_assembly.genome.fa.gz"
    )
    assert c.checksum_url(e.gtf).endswith("Gencode_human/release_46/MD5SUMS")
    assert e.gtf.name == "gencode.v46.primary_assembly.annotation.gtf.gz"
    assert e.fasta.algorithm == "md5" and "chrM" in e.expected_sequences
    ens = c.get("GRCh38-ensembl", "112")
    assert c.url(ens.fasta) == (
        "https://ftp.ensembl.org/pub/release-112/fasta/homo_sapiens/dna/"
        "Homo_sapiens.GRCh38.dna.primary_assembly.fa.gz"
    )
    assert ens.gtf.algorithm == "bsd-sum" and ens.mito_sequence == "MT"
    assert c.get("GRCm39").gtf.name == "gencode.vM35.primary_assembly.annotation.gtf.gz"
    yeast = c.get("yeast")
    assert yeast.expected_sequences[-1] == "Mito" and yeast.gene_sets is not None
    assert c.url(yeast.gene_sets.go_annotations).endswith("/2024-06-17/annotations/sgd.gaf.gz")


def test_unknown_names_and_releases_list_close_ones() -> None:
    c = load_catalogue()
    with pytest.raises(NotFound, match="did you mean GRCh38"):
        c.get("GRCh83")
    with pytest.raises(NotFound, match="release '64'.*known releases: 44, 45, 46, 47"):
        c.get("GRCh38", "64")


def test_a_mirror_replaces_each_base_and_keeps_the_layout() -> None:
    c = load_catalogue()
    e = c.get("GRCh38-ensembl")
    m = parse_mirrors(["http://mirror.example/x/"])
    assert c.url(e.gtf, m) == (
        "http://mirror.example/x/release-112/gtf/homo_sapiens/Homo_sapiens.GRCh38.112.gtf.gz"
    )
    only = parse_mirrors(["ensembl=file:///srv/ens"], env="http://all")
    assert c.url(e.gtf, only).startswith("file:///srv/ens/release-112/")
    assert c.url(c.get("GRCh38").gtf, only).startswith("http://all/Gencode_human/")
    with pytest.raises(ValidationError, match="mirror: 'mirror.example'"):
        parse_mirrors(["mirror.example"])


def test_a_site_catalogue_adds_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(
        "references:\n  LAB1:\n    species: x\n    assembly: A\n    source: ensembl\n"
        "    release: '1'\n    fasta: {path: a.fa.gz, checksums: SUMS, algorithm: crc}\n"
        "    gtf: {path: a.gtf.gz}\n"
    )
    monkeypatch.setenv("GENEJOBS_REFERENCE_CATALOGUE", str(site))
    c = load_catalogue()
    assert "LAB1" in c.names() and "GRCh38-gencode" in c.names()
    with pytest.raises(ValidationError, match="unknown checksum algorithm 'crc'"):
        c.get("LAB1")


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 70_001])
def test_bsd_sum_matches_coreutils_sum(tmp_path: Path, size: int) -> None:
    tool = shutil.which("sum")
    if tool is None and os.environ.get("CI"):
        pytest.fail("coreutils' sum is needed to check the BSD sum")
    assert tool is not None
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(size))
    out = subprocess.run([tool, "-r", str(path)], capture_output=True, text=True, check=True)
    want = " ".join(str(int(x)) for x in out.stdout.split()[:2])
    assert checksums.bsd_sum_python(path) == want
    assert checksums.bsd_sum(path) == want


def test_checksum_files_parse_in_their_published_formats(tmp_path: Path) -> None:
    md5 = checksums.parse_md5sums(
        "d41d8cd98f00b204e9800998ecf8427e  GRCh38.primary_assembly.genome.fa.gz\n"
        "0CC175B9C0F1B6A831C399E269772661 *gencode.v46.annotation.gtf.gz\n",
        label="MD5SUMS",
    )
    assert md5["gencode.v46.annotation.gtf.gz"] == "0cc175b9c0f1b6a831c399e269772661"
    bsd = checksums.parse_bsd_sums(
        "07217 00001 README\n41843 883083 Homo_sapiens.GRCh38.dna.primary_assembly.fa.gz\n",
        label="CHECKSUMS",
    )
    assert bsd == {
        "README": "7217 1",
        "Homo_sapiens.GRCh38.dna.primary_assembly.fa.gz": "41843 883083",
    }
    with pytest.raises(ValidationError, match="CHECKSUMS, line 1: not a 'sum' line"):
        checksums.parse_bsd_sums("abc def\n", label="CHECKSUMS")
    path = tmp_path / "x"
    path.write_bytes(b"hello")
    assert checksums.compute(path, "md5") == hashlib.md5(b"hello").hexdigest()


def test_sequence_name_checks_name_a_few_of_each() -> None:
    with pytest.raises(ValidationError, match=r"share no sequence name.*chr1, chr2.*GTF has 1, 2"):
        check_sequence_names(
            ["chr1", "chr2"], {"1", "2"}, (), fasta_label="a.fa", gtf_label="b.gtf"
        )
    with pytest.raises(ValidationError, match=r"annotates 1 sequence\(s\) that a.fa lacks: chr9"):
        check_sequence_names(["chr1"], {"chr1", "chr9"}, (), fasta_label="a.fa", gtf_label="b.gtf")
    with pytest.raises(ValidationError, match="lacks sequences the assembly must have: chrM"):
        check_sequence_names(
            ["chr1"], {"chr1"}, ("chr1", "chrM"), fasta_label="a.fa", gtf_label="g"
        )
