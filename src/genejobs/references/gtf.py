"""GTF → ``GeneModel``: the genes, their merged exons, names and types.

Hand-written on purpose: the counter needs only gene-level exon unions, and a
streaming line parser with line-numbered errors is simpler and faster than
loading a full feature database (gffutils, HTSeq's GFF reader) for a GENCODE file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from genejobs.errors import ValidationError
from genejobs.references.model import Gene, GeneModel
from genejobs.storage.compression import is_gzip_file

_ATTR = re.compile(r'\s*([^\s";]+)\s+(?:"([^"]*)"|([^\s;]+))\s*;?')


def _attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _ATTR.finditer(text):
        out.setdefault(m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
    return out


def _merge(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    intervals.sort()
    merged: list[list[int]] = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


class _Hashing(io.RawIOBase):
    """A raw reader that checksums the bytes as they pass (the file is read once)."""

    def __init__(self, fh: io.BufferedIOBase) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.fh.readinto(buffer)
        self.digest.update(memoryview(buffer)[:n])
        return int(n)


def _lines(
    path: Path, digest: list[str], progress: Callable[[float], None] | None = None
) -> Iterable[str]:
    """The file's lines (plain or gzipped); when exhausted, ``digest`` holds its sha256."""
    size = max(1, path.stat().st_size)
    with open(path, "rb") as raw:
        gz = is_gzip_file(path)
        hashing = _Hashing(raw)
        buffered = io.BufferedReader(hashing, 1 << 20)
        binary: gzip.GzipFile | io.BufferedReader[_Hashing] = (
            gzip.GzipFile(fileobj=buffered) if gz else buffered
        )
        text = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline=None)
        for number, line in enumerate(text, start=1):
            if progress is not None and number % 65536 == 0:
                progress(raw.tell() / size)
            yield line
        while buffered.read(1 << 20):  # whatever gzip left unread still counts
            pass
        digest.append(hashing.digest.hexdigest())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def parse_gtf(
    path: Path, *, name: str = "", progress: Callable[[float], None] | None = None
) -> GeneModel:
    """Parse a GENCODE/Ensembl-style GTF; errors say ``<file>, line N: <reason>``.

    Streams the file once (checksum included). A gene's exons are merged as soon as
    the next gene starts, so memory holds the merged model, not every exon line of
    every transcript. ``progress`` gets the share of the file read, now and then.
    """
    label = name or path.name
    order: list[str] = []
    info: dict[str, tuple[str, str, str, str, str]] = {}  # id -> chrom, strand, name, type
    exons: dict[str, list[tuple[int, int]]] = {}
    digest: list[str] = []
    previous = ""
    for number, line in enumerate(_lines(path, digest, progress), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) != 9:
            raise ValidationError(
                f"{label}, line {number}: expected 9 tab-separated columns, found {len(cols)}"
            )
        chrom, _src, feature, start_s, end_s, _score, strand, _frame, attrs = cols
        if feature not in ("exon", "gene"):
            continue
        try:
            start, end = int(start_s), int(end_s)
        except ValueError as exc:
            raise ValidationError(
                f"{label}, line {number}: start and end must be integers"
            ) from exc
        if start < 1 or start > end:
            raise ValidationError(
                f"{label}, line {number}: start {start} must be ≥ 1 and ≤ end {end}"
            )
        if strand not in ("+", "-"):
            raise ValidationError(f"{label}, line {number}: strand must be + or -, not '{strand}'")
        a = _attributes(attrs)
        gene_id = a.get("gene_id")
        if not gene_id:
            raise ValidationError(f"{label}, line {number}: {feature} has no gene_id attribute")
        gene_name = a.get("gene_name") or gene_id
        gene_type = a.get("gene_type") or a.get("gene_biotype") or ""
        known = info.get(gene_id)
        if known is None:
            order.append(gene_id)
            info[gene_id] = (chrom, strand, gene_name, gene_type, str(number))
            exons[gene_id] = []
        elif known[0] != chrom or known[1] != strand:
            raise ValidationError(
                f"{label}, line {number}: gene {gene_id} is on {known[0]}{known[1]} at line "
                f"{known[4]} and on {chrom}{strand} here"
            )
        if gene_id != previous:
            if previous and len(exons[previous]) > 1:
                exons[previous] = list(_merge(exons[previous]))  # its lines are behind us
            previous = gene_id
        if feature == "exon":
            exons[gene_id].append((start - 1, end))
    genes = []
    for gene_id in order:
        chrom, strand, gene_name, gene_type, _ = info[gene_id]
        if not exons[gene_id]:
            continue  # a gene line without exons cannot collect reads
        genes.append(Gene(gene_id, gene_name, gene_type, chrom, strand, _merge(exons[gene_id])))
    if not genes:
        raise ValidationError(f"{label}: no exon lines with a gene_id were found")
    return GeneModel(genes=genes, source_checksum=digest[0], name=label)


def save_gene_model(model: GeneModel, path: Path) -> None:
    payload = {
        "name": model.name,
        "source_checksum": model.source_checksum,
        "genes": [
            [g.gene_id, g.gene_name, g.gene_type, g.chrom, g.strand, [list(e) for e in g.exons]]
            for g in model.genes
        ],
    }
    with open(path, "w") as fh:
        json.dump(payload, fh, separators=(",", ":"))


def load_gene_model(path: Path) -> GeneModel:
    payload = json.loads(Path(path).read_text())
    genes = [
        Gene(gid, gname, gtype, chrom, strand, tuple((int(s), int(e)) for s, e in ex))
        for gid, gname, gtype, chrom, strand, ex in payload["genes"]
    ]
    return GeneModel(genes=genes, source_checksum=payload["source_checksum"], name=payload["name"])
