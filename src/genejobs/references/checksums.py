"""The checksum files upstream sources publish, and the sums they hold.

GENCODE publishes ``MD5SUMS`` (``md5sum`` output: ``<hex>  <file>``); Ensembl
publishes ``CHECKSUMS`` per folder with the BSD ``sum`` of each file (``sum``
output: ``<16-bit checksum> <1 KiB blocks> <file>``).

The BSD sum is written here by hand: no maintained Python library computes it
(hashlib and pooch know cryptographic hashes only). It is a byte-serial 16-bit
rotate-and-add, so pure Python manages ~15 MB/s; where coreutils' ``sum`` is on
PATH (every Linux) it does the same arithmetic in C and is used instead. The
unit tests check both against each other and against ``sum``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from genejobs.errors import ValidationError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Expected:
    """A published sum for one file: ``md5`` hex, or ``bsd-sum`` as ``"<sum> <blocks>"``."""

    algorithm: str
    value: str
    checksum_file: str


def bsd_sum_python(path: Path) -> str:
    """BSD ``sum`` (``sum -r``): ``"<checksum> <1 KiB blocks>"`` as coreutils prints it."""
    checksum = 0
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            size += len(chunk)
            for byte in chunk:
                checksum = ((checksum >> 1) | ((checksum & 1) << 15)) + byte
                checksum &= 0xFFFF
    return f"{checksum} {(size + 1023) // 1024}"


def bsd_sum(path: Path) -> str:
    """BSD sum, with coreutils' ``sum -r`` when present (C speed), else in Python."""
    tool = shutil.which("sum")
    if tool is not None:
        done = subprocess.run([tool, "-r", str(path)], capture_output=True, text=True, check=False)
        parts = done.stdout.split()
        if done.returncode == 0 and len(parts) >= 2 and parts[0].isdigit():
            return f"{int(parts[0])} {int(parts[1])}"
    return bsd_sum_python(path)


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


_MD5_LINE = re.compile(r"^([0-9a-fA-F]{32}) [ *](.+)$")
_SUM_LINE = re.compile(r"^(\d+)\s+(\d+)\s+(.+)$")


def parse_md5sums(text: str, *, label: str) -> dict[str, str]:
    """``md5sum`` output → file name → hex digest (paths reduced to their names)."""
    out = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = _MD5_LINE.match(line.strip())
        if m is None:
            raise ValidationError(f"{label}, line {number}: not an md5sum line: {line[:80]!r}")
        out[m.group(2).strip().rsplit("/", 1)[-1]] = m.group(1).lower()
    return out


def parse_bsd_sums(text: str, *, label: str) -> dict[str, str]:
    """Ensembl ``CHECKSUMS`` (``sum`` output) → file name → ``"<sum> <blocks>"``."""
    out = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = _SUM_LINE.match(line.strip())
        if m is None:
            raise ValidationError(f"{label}, line {number}: not a 'sum' line: {line[:80]!r}")
        out[m.group(3).strip().rsplit("/", 1)[-1]] = f"{int(m.group(1))} {int(m.group(2))}"
    return out


def parse_checksums(text: str, algorithm: str, *, label: str) -> dict[str, str]:
    if algorithm == "md5":
        return parse_md5sums(text, label=label)
    if algorithm == "bsd-sum":
        return parse_bsd_sums(text, label=label)
    raise ValidationError(f"{label}: unknown checksum algorithm '{algorithm}'")


def compute(path: Path, algorithm: str) -> str:
    if algorithm == "md5":
        return md5_file(path)
    if algorithm == "bsd-sum":
        return bsd_sum(path)
    raise ValidationError(f"unknown checksum algorithm '{algorithm}'")
