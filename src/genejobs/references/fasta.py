"""FASTA validation with line numbers, before an index is built from it.

One streaming pass validates, copies (decompressed) and checksums the genome, so a
3 Gb FASTA is read once and never held in memory.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

from genejobs.errors import ValidationError
from genejobs.storage.compression import is_gzip_file

_VALID = b"ACGTNRYKMSWBDHVacgtnrykmswbdhv"
_PROGRESS_EVERY = 1 << 16  # lines between progress calls


def read_fasta_summary(path: Path, *, label: str | None = None) -> dict[str, int]:
    """Chromosome name → length; refuse a malformed FASTA naming the line and reason."""
    lengths, _ = copy_fasta(path, None, label=label)
    return lengths


def copy_fasta(
    path: Path,
    dest: Path | None,
    *,
    label: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[dict[str, int], str]:
    """Validate ``path`` (plain or gzipped) line by line, writing it decompressed to
    ``dest`` (when given); returns chromosome lengths and the sha256 of the plain text.

    ``progress`` gets the share of the source file read so far, now and then.
    """
    label = label or path.name
    size = max(1, path.stat().st_size)
    digest = hashlib.sha256()
    lengths: dict[str, int] = {}
    current: str | None = None
    with open(path, "rb") as raw:
        gz = is_gzip_file(path)
        fh: io.BufferedIOBase = gzip.GzipFile(fileobj=raw) if gz else raw
        with open(dest, "wb") if dest is not None else contextlib.nullcontext() as out:
            for number, line in enumerate(fh, start=1):
                digest.update(line)
                if out is not None:
                    out.write(line)
                if progress is not None and number % _PROGRESS_EVERY == 0:
                    progress(raw.tell() / size)
                line = line.rstrip(b"\r\n")
                if line.startswith(b">"):
                    if current is not None and lengths[current] == 0:
                        raise ValidationError(
                            f"{label}, line {number}: sequence '{current}' is empty"
                        )
                    header = line[1:].decode("ascii", errors="replace")
                    name = header.split()[0] if header.strip() else ""
                    if not name:
                        raise ValidationError(f"{label}, line {number}: header has no name")
                    if name in lengths:
                        raise ValidationError(
                            f"{label}, line {number}: duplicate sequence name '{name}'"
                        )
                    current = name
                    lengths[name] = 0
                elif line:
                    if current is None:
                        raise ValidationError(
                            f"{label}, line {number}: sequence before the first '>' header"
                        )
                    bad = line.translate(None, _VALID)  # what is left is not a base
                    if bad:
                        char = bad[:1].decode("ascii", errors="replace")
                        raise ValidationError(f"{label}, line {number}: invalid character '{char}'")
                    lengths[current] += len(line)
    if not lengths:
        raise ValidationError(f"{label}: no sequences found (is this a FASTA file?)")
    if current is not None and lengths[current] == 0:
        raise ValidationError(f"{label}: sequence '{current}' at the end of the file is empty")
    if progress is not None:
        progress(1.0)
    return lengths, digest.hexdigest()
