"""FASTA validation with line numbers, before an index is built from it."""

from __future__ import annotations

import re
from pathlib import Path

from genejobs.errors import ValidationError
from genejobs.storage.compression import open_text

_VALID = re.compile(r"^[ACGTNRYKMSWBDHVacgtnrykmswbdhv]*$")


def read_fasta_summary(path: Path, *, label: str | None = None) -> dict[str, int]:
    """Chromosome name → length; refuse a malformed FASTA naming the line and reason."""
    label = label or path.name
    lengths: dict[str, int] = {}
    current: str | None = None
    with open_text(path, encoding="ascii") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if line.startswith(">"):
                if current is not None and lengths[current] == 0:
                    raise ValidationError(f"{label}, line {number}: sequence '{current}' is empty")
                name = line[1:].split()[0] if line[1:].strip() else ""
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
                if not _VALID.match(line):
                    bad = next(c for c in line if not _VALID.match(c))
                    raise ValidationError(f"{label}, line {number}: invalid character '{bad}'")
                lengths[current] += len(line)
    if not lengths:
        raise ValidationError(f"{label}: no sequences found (is this a FASTA file?)")
    if current is not None and lengths[current] == 0:
        raise ValidationError(f"{label}: sequence '{current}' at the end of the file is empty")
    return lengths
