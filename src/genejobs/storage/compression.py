"""Gzip or not: decided by the file's first two bytes, never by its name.

Users name files ``.fa``, ``.fa.gz`` or neither; the magic number is what counts.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TextIO

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip_head(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) starts with the gzip magic number."""
    return head[:2] == GZIP_MAGIC


def is_gzip_file(path: Path) -> bool:
    """True when the local file at ``path`` is gzip-compressed."""
    with open(path, "rb") as fh:
        return is_gzip_head(fh.read(2))


def open_text(path: Path, *, encoding: str) -> TextIO:
    """A local plain or gzipped text file, read as text (undecodable bytes replaced)."""
    if is_gzip_file(path):
        return gzip.open(path, "rt", encoding=encoding, errors="replace")
    return open(path, encoding=encoding, errors="replace")
