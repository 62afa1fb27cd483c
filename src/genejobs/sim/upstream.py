"""A miniature upstream (GENCODE-, Ensembl-, GO- and Reactome-shaped) built from a
simulated genome, and a local HTTP server for it that honours ``Range`` requests.

``ref fetch`` is tested and benchmarked against this, never the internet: the folder
layout, checksum files (GENCODE ``MD5SUMS``, Ensembl ``CHECKSUMS`` with BSD sums, as
``md5sum`` and ``sum`` print them) and file formats are the upstream ones, and a site
catalogue (``catalogue.yaml`` here) names the simulated entries. Python's
``http.server`` serves no byte ranges, so the handler below adds them (single ranges,
as ``requests`` asks for a resumed download).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

GO_RELEASE = "2024-06-17"
SPECIES = "Simulated species"


def _bsd_sum(data: bytes) -> str:
    checksum = 0
    for byte in data:
        checksum = (((checksum >> 1) | ((checksum & 1) << 15)) + byte) & 0xFFFF
    return f"{checksum} {(len(data) + 1023) // 1024}"


def _gz(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, gzip.GzipFile(dest, "wb", compresslevel=1, mtime=0) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _go_files(root: Path, truth_genes: Path) -> None:
    """A small ontology whose leaves hold the truly up- and down-regulated genes.

    GO:0090001 "simulated regulation" has two is_a children (up, down) and one part_of
    child; annotations are made to the leaves only, so the parent's genes show that
    propagation happened.
    """
    rows = list(csv.DictReader(open(truth_genes)))
    fc_col = next(c for c in rows[0] if c.startswith("true_log2fc_"))
    up = [r["gene_name"] for r in rows if float(r[fc_col]) > 0.5]
    down = [r["gene_name"] for r in rows if float(r[fc_col]) < -0.5]
    flat = [r["gene_name"] for r in rows if float(r[fc_col]) == 0][:40]
    obo = root / GO_RELEASE / "ontology" / "go-basic.obo"
    obo.parent.mkdir(parents=True, exist_ok=True)
    terms = [
        ("GO:0090001", "simulated regulation", []),
        ("GO:0090002", "simulated up-regulation", ["is_a: GO:0090001"]),
        ("GO:0090003", "simulated down-regulation", ["is_a: GO:0090001"]),
        ("GO:0090004", "simulated steady state", ["relationship: part_of GO:0090001"]),
    ]
    text = [
        "format-version: 1.2",
        f"data-version: releases/{GO_RELEASE}",
        "ontology: go",
        "",
    ]
    for go_id, name, rels in terms:
        text += ["[Term]", f"id: {go_id}", f"name: {name}", "namespace: biological_process"]
        text += rels + [""]
    obo.write_text("\n".join(text))
    gaf = root / GO_RELEASE / "annotations" / "sim.gaf"
    gaf.parent.mkdir(parents=True, exist_ok=True)
    lines = ["!gaf-version: 2.2", f"!date-generated: {GO_RELEASE}"]
    for genes, go_id in ((up, "GO:0090002"), (down, "GO:0090003"), (flat, "GO:0090004")):
        for g in genes:
            lines.append(
                "\t".join(
                    ["SIM", f"SIM:{g}", g, "", go_id, "PMID:1", "IDA", "", "P", g, "", "protein"]
                    + ["taxon:0", "20240101", "SIM"]
                )
            )
    # One NOT annotation, which must not count.
    if flat:
        lines.append(
            "\t".join(
                ["SIM", "SIM:x", flat[0], "NOT", "GO:0090002", "PMID:1", "IDA", "", "P", "x", ""]
                + ["protein", "taxon:0", "20240101", "SIM"]
            )
        )
    gaf.write_text("\n".join(lines) + "\n")
    _gz(gaf, gaf.with_name("sim.gaf.gz"))
    gaf.unlink()
    # Reactome: pathway by Ensembl gene id (versions dropped), all levels.
    reactome = root / "current" / "Ensembl2Reactome_All_Levels.txt"
    reactome.parent.mkdir(parents=True, exist_ok=True)
    by_name = {r["gene_name"]: r["gene_id"].split(".")[0] for r in rows}
    out = []
    for genes, pid, pname in (
        (up, "R-SIM-0001", "Simulated pathway up"),
        (down, "R-SIM-0002", "Simulated pathway down"),
        (flat, "R-SIM-0003", "Simulated pathway flat"),
    ):
        for g in genes:
            out.append(
                f"{by_name[g]}\t{pid}\thttps://reactome.org/PathwayBrowser/#/{pid}\t{pname}\tIEA\t"
                f"{SPECIES}"
            )
    out.append("ENSG00000000001\tR-HSA-1\thttps://x\tHuman only\tIEA\tHomo sapiens")
    reactome.write_text("\n".join(out) + "\n")


def write_upstream(root: Path, genome: Path, gtf: Path, truth_genes: Path | None) -> Path:
    """Lay out GENCODE- and Ensembl-shaped releases ``1`` of ``genome``/``gtf`` under
    ``root`` (and GO/Reactome files from ``truth_genes``); returns the site catalogue.

    Every source sits below the same root (its own top folder), as ``--mirror URL``
    expects.
    """
    root.mkdir(parents=True, exist_ok=True)
    gencode = root / "Gencode_sim" / "release_1"
    _gz(genome, gencode / "SIM1.primary_assembly.genome.fa.gz")
    _gz(gtf, gencode / "gencode.v1.primary_assembly.annotation.gtf.gz")
    (gencode / "MD5SUMS").write_text(
        "".join(f"{_md5(p)}  {p.name}\n" for p in sorted(gencode.glob("*.gz")))
    )
    # Ensembl: chromosome names without "chr", as Ensembl writes them.
    ens = root / "release-1"
    fasta_dir, gtf_dir = ens / "fasta" / "sim" / "dna", ens / "gtf" / "sim"
    fasta_dir.mkdir(parents=True, exist_ok=True)
    gtf_dir.mkdir(parents=True, exist_ok=True)
    plain_fa = root / ".ens.fa"
    plain_fa.write_bytes(re.sub(rb"(?m)^>chr", b">", genome.read_bytes()))
    plain_gtf = root / ".ens.gtf"
    plain_gtf.write_bytes(re.sub(rb"(?m)^chr", b"", gtf.read_bytes()))
    _gz(plain_fa, fasta_dir / "Sim.SIM1.dna.primary_assembly.fa.gz")
    _gz(plain_gtf, gtf_dir / "Sim.SIM1.1.gtf.gz")
    plain_fa.unlink()
    plain_gtf.unlink()
    for folder in (fasta_dir, gtf_dir):
        (folder / "CHECKSUMS").write_text(
            "".join(f"{_bsd_sum(p.read_bytes())} {p.name}\n" for p in sorted(folder.glob("*.gz")))
        )
    if truth_genes is not None:
        _go_files(root, truth_genes)
    names = [
        line[1:].split()[0] for line in genome.read_text().splitlines() if line.startswith(">")
    ]
    gene_sets = (
        f'    gene_sets: {{go_release: "{GO_RELEASE}", go_annotations: '
        f'"{{go_release}}/annotations/sim.gaf.gz", reactome_species: {SPECIES}}}\n'
        if truth_genes is not None
        else ""
    )
    catalogue = root / "catalogue.yaml"
    catalogue.write_text(
        "references:\n"
        "  SIM1-gencode:\n"
        "    aliases: [SIM1]\n"
        "    species: Simulated species\n    assembly: SIM1\n    source: gencode\n"
        '    release: "1"\n    releases: ["1"]\n'
        '    fasta: {path: "Gencode_sim/release_{release}/SIM1.primary_assembly.genome.fa.gz", '
        'checksums: "Gencode_sim/release_{release}/MD5SUMS", algorithm: md5}\n'
        '    gtf: {path: "Gencode_sim/release_{release}/gencode.v{release}.primary_assembly.'
        'annotation.gtf.gz", checksums: "Gencode_sim/release_{release}/MD5SUMS", algorithm: md5}\n'
        f"    expected_sequences: [{', '.join(names)}]\n"
        "    qc: {rrna_gene_types: [rRNA], mito_sequence: chrM}\n" + gene_sets + "  SIM1-ensembl:\n"
        "    species: Simulated species\n    assembly: SIM1\n    source: ensembl\n"
        '    release: "1"\n    releases: ["1"]\n'
        '    fasta: {path: "release-{release}/fasta/sim/dna/Sim.SIM1.dna.primary_assembly.fa.gz", '
        'checksums: "release-{release}/fasta/sim/dna/CHECKSUMS", algorithm: bsd-sum}\n'
        '    gtf: {path: "release-{release}/gtf/sim/Sim.SIM1.{release}.gtf.gz", '
        'checksums: "release-{release}/gtf/sim/CHECKSUMS", algorithm: bsd-sum}\n'
        f"    expected_sequences: [{', '.join(n.removeprefix('chr') for n in names)}]\n"
        "    qc: {rrna_gene_types: [rRNA], mito_sequence: MT}\n"
    )
    return catalogue


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single byte ranges (``Range: bytes=N-`` or ``N-M``)."""

    # typeshed types send_head's file as BinaryIO | BytesIO; _Limited is a duck-typed file
    # that copyfile reads, so the override's return is left unannotated.
    def send_head(self):  # type: ignore[no-untyped-def]  # see the comment above
        rng = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not rng or not os.path.isfile(path):
            return super().send_head()
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
        size = os.path.getsize(path)
        if m is None:
            return super().send_head()
        start = int(m.group(1))
        end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
        if start >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return None
        fh = open(path, "rb")  # noqa: SIM115 - closed by copyfile's caller
        fh.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return _Limited(fh, end - start + 1)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _Limited:
    """A file object that ends after ``n`` bytes (what ``copyfile`` copies)."""

    def __init__(self, fh: BinaryIO, n: int) -> None:
        self.fh, self.left = fh, n

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size < 0 else min(size, self.left)
        data = self.fh.read(size)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.fh.close()


@contextmanager
def serve(root: Path, handler: type[RangeHandler] = RangeHandler) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` serving ``root`` from a thread, for the block's life."""

    class Bound(handler):  # type: ignore[valid-type,misc]  # mypy takes no variable as a base
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Bound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
