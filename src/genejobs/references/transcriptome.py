"""The transcriptome of a reference: transcript sequences cut from the genome by the GTF.

A transcript-level quantifier (salmon) needs each annotated transcript's spliced
sequence and a transcript → gene table to sum its estimates per gene. Both are
derived from the registered FASTA and GTF, written once beside the genome index.
The genome is read one chromosome at a time, so memory stays at about the
largest chromosome plus the exon table (GRCh38: ~250 MB + ~1.6 M exons).
"""

from __future__ import annotations

import functools
import gzip
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from genejobs.errors import ValidationError
from genejobs.references.gtf import _attributes, _lines

_COMP = bytes.maketrans(b"ACGTNacgtnRYKMSWBDHVrykmswbdhv", b"TGCANtgcanYRMKSWVHDByrmkswvhdb")


@dataclass(frozen=True)
class TranscriptExons:
    """One transcript: its gene, chromosome, strand and exons (0-based, half-open)."""

    transcript_id: str
    gene_id: str
    chrom: str
    strand: str
    exons: tuple[tuple[int, int], ...]


def parse_transcripts(gtf: Path, *, label: str = "") -> list[TranscriptExons]:
    """Exon lines grouped by ``transcript_id``, in GTF order (rows were checked by ``parse_gtf``)."""
    label = label or gtf.name
    order: list[str] = []
    info: dict[str, tuple[str, str, str]] = {}
    exons: dict[str, list[tuple[int, int]]] = {}
    for number, line in enumerate(_lines(gtf, []), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) != 9 or cols[2] != "exon":
            continue
        a = _attributes(cols[8])
        tid, gid = a.get("transcript_id"), a.get("gene_id")
        if not tid or not gid:
            raise ValidationError(
                f"{label}, line {number}: exon has no transcript_id (a transcript-level "
                "quantifier needs one on every exon)"
            )
        if tid not in info:
            order.append(tid)
            info[tid] = (gid, cols[0], cols[6])
            exons[tid] = []
        exons[tid].append((int(cols[3]) - 1, int(cols[4])))
    if not order:
        raise ValidationError(f"{label}: no exon lines with a transcript_id were found")
    return [TranscriptExons(t, *info[t], tuple(sorted(exons[t]))) for t in order]


def _chromosomes(fasta: Path) -> Iterator[tuple[str, bytes]]:
    """(name, sequence) one chromosome at a time."""
    with open(fasta, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    with gzip.open(fasta, "rb") if gz else open(fasta, "rb") as fh:
        name: str | None = None
        parts: list[bytes] = []
        for line in fh:
            if line.startswith(b">"):
                if name is not None:
                    yield name, b"".join(parts)
                name = line[1:].split()[0].decode()
                parts = []
            else:
                parts.append(line.strip())
        if name is not None:
            yield name, b"".join(parts)


def write_transcriptome(
    fasta: Path, gtf: Path, out_fasta: Path, out_tx2gene: Path, *, label: str = ""
) -> int:
    """Write every transcript's spliced sequence (transcript strand) and ``tx2gene.tsv``.

    Returns the number of transcripts written. Transcripts on a chromosome the
    FASTA lacks are an error naming one of them (the GTF does not fit the genome).
    """
    transcripts = parse_transcripts(gtf, label=label)
    by_chrom: dict[str, list[TranscriptExons]] = {}
    for t in transcripts:
        by_chrom.setdefault(t.chrom, []).append(t)
    tmp = out_fasta.with_name(out_fasta.name + ".part")
    written = 0
    with open(tmp, "wb") as out:
        for chrom, seq in _chromosomes(fasta):
            for t in by_chrom.pop(chrom, []):
                s = b"".join(seq[a:b] for a, b in t.exons)
                if t.strand == "-":
                    s = s.translate(_COMP)[::-1]
                out.write(b">%s\n" % t.transcript_id.encode())
                out.write(b"\n".join(s[i : i + 80] for i in range(0, len(s), 80)) + b"\n")
                written += 1
    if by_chrom:
        chrom, ts = next(iter(by_chrom.items()))
        tmp.unlink(missing_ok=True)
        raise ValidationError(
            f"{label or gtf.name}: transcript {ts[0].transcript_id} is on '{chrom}', "
            "which the genome FASTA does not have"
        )
    os.replace(tmp, out_fasta)
    out_tx2gene.write_text("".join(f"{t.transcript_id}\t{t.gene_id}\n" for t in transcripts))
    return written


@functools.lru_cache(maxsize=1)
def salmon_version() -> str:
    """``salmon 1.10.1`` → ``1.10.1``."""
    out = subprocess.run(["salmon", "--version"], capture_output=True, text=True, check=True)
    return (out.stdout or out.stderr).split()[-1]


def build_salmon_index(transcripts: Path, index_dir: Path, *, threads: int = 2) -> str:
    """salmon's index of the transcripts (k = 31, no decoys); returns salmon's version.

    Without decoys: a GENCODE-sized index then fits a few GB; reads from introns or
    intergenic DNA (noise in the simulator) may be placed on a transcript they
    resemble, which genome decoys would prevent at ~10× the index build cost.
    """
    cmd = ["salmon", "index", "-t", str(transcripts), "-i", str(index_dir)]
    cmd += ["-p", str(max(1, threads))]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"salmon index failed ({done.returncode}): {tail}")
    return salmon_version()
