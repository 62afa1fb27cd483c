"""The dry run's look at the head of every FASTQ file a request names.

A person's mistakes with files are cheaper to catch before a job than an hour into
it: a file that is not gzip or not FASTQ, a gzip stream cut short (caught when the
whole file fits in the head; a longer file's truncated end is still caught at run
time), read 1 and read 2 swapped or from different runs, Phred+64 qualities, a
paired library given as single-end (interleaved, or its read 2 lying beside it).

Bounded so a dry run costs little and a hung store cannot hold the API: at most
``HEAD_BYTES`` compressed bytes and ``HEAD_READS`` reads per file, in a small pool of
threads shared by every dry run, within ``HEAD_TIMEOUT_S`` for the whole request;
what is not read by then is reported as not checked. Parsing is dnaio's.
"""

from __future__ import annotations

import io
import posixpath
import re
import threading
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import dnaio

from genejobs.errors import GeneJobsError
from genejobs.jobs.request.fastq_names import GZIP_FASTQ_SUFFIXES, read_name
from genejobs.storage import Location, Storage
from genejobs.storage.compression import is_gzip_head

HEAD_BYTES = 256 * 1024  # compressed bytes read per file: ~2,000 reads of 150 bases
HEAD_READS = 2000
# decompressed bytes parsed: ~2,000 reads of 2x150 bases (a zip bomb stops here too)
HEAD_TEXT_BYTES = 1024 * 1024
HEAD_TIMEOUT_S = 20.0
CHUNK_BYTES = 64 * 1024
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="genejobs-fastq-head")
_MATE_SUFFIX = re.compile(r"[/._][12]$")
_CASAVA = re.compile(r"^([12]):[YN]:")
MATE_READS = 200  # reads whose mate markers are looked at


@dataclass
class FileHead:
    """What the head of one file showed."""

    uri: str
    compression: str = ""  # "gzip", "none", or "" when it could not be read
    ids: list[str] = field(default_factory=list)  # read names up to the first space
    mates: list[int] = field(default_factory=list)  # 1, 2 or 0 (no marker) per read
    whole: bool = False  # the whole file was read
    checked: bool = False
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def reads(self) -> int:
        return len(self.ids)

    def mostly(self, mate: int) -> bool:
        return bool(self.mates) and self.mates.count(mate) > len(self.mates) // 2


def _mate(read_id: str, comment: str) -> int:
    if read_id.endswith("/1"):
        return 1
    if read_id.endswith("/2"):
        return 2
    m = _CASAVA.match(comment)
    return int(m.group(1)) if m else 0


def _key(read_id: str) -> str:
    """The id without a mate suffix (/1 /2, .1 .2, _1 _2): the pipeline's pairing rule."""
    return _MATE_SUFFIX.sub("", read_id)


def _raw_head(storage: Storage, loc: Location, deadline: float) -> tuple[bytes, bool]:
    """Up to HEAD_BYTES of the file; True when that was all of it."""
    parts: list[bytes] = []
    size = 0
    with storage.open_read(loc) as fh:
        while size < HEAD_BYTES:
            if time.monotonic() > deadline:
                raise TimeoutError
            data = fh.read(min(CHUNK_BYTES, HEAD_BYTES - size))
            if not data:
                return b"".join(parts), True
            parts.append(data)
            size += len(data)
        return b"".join(parts), not fh.read(1)


def _gunzip(raw: bytes, whole: bool, head: FileHead) -> tuple[bytes, bool] | None:
    """Decompressed text (members in turn), and whether it is all of the file's text."""
    out = bytearray()
    data = raw
    while data:
        d = zlib.decompressobj(wbits=31)
        try:
            out += d.decompress(data, HEAD_TEXT_BYTES - len(out))
        except zlib.error as exc:
            head.problems.append(f"is not a valid gzip file ({exc})")
            return None
        if len(out) >= HEAD_TEXT_BYTES:
            return bytes(out), False
        if not d.eof:
            if whole:
                head.problems.append(
                    "is truncated: its gzip stream ends before its end marker (the file was "
                    "cut off, e.g. by an interrupted upload)"
                )
                return None
            return bytes(out), False
        data = d.unused_data
    return bytes(out), whole


def read_head(storage: Storage, uri: str, loc: Location, deadline: float) -> FileHead:
    """Read and parse the head of one file (never raises for the file's content)."""
    head = FileHead(uri=uri)
    try:
        raw, whole = _raw_head(storage, loc, deadline)
    except TimeoutError:
        head.warnings.append(f"not checked: the storage did not answer within {HEAD_TIMEOUT_S:g} s")
        return head
    except (GeneJobsError, OSError) as exc:
        head.warnings.append(f"not checked: {getattr(exc, 'message', exc)}")
        return head
    head.checked = True
    if not raw:
        head.problems.append("is empty")
        return head
    gz = is_gzip_head(raw)
    head.compression = "gzip" if gz else "none"
    named_gz = uri.lower().endswith(GZIP_FASTQ_SUFFIXES)
    if named_gz and not gz:
        head.warnings.append("is named .gz but is not gzip-compressed (it is read as plain FASTQ)")
    if gz and not named_gz:
        head.warnings.append("is gzip-compressed but its name does not end in .gz")
    text, all_text = (raw, whole) if not gz else (_gunzip(raw, whole, head) or (b"", True))
    if head.problems:
        return head
    head.whole = all_text
    _parse(text, all_text, head)
    return head


def _parse(text: bytes, all_text: bool, head: FileHead) -> None:
    if not text.strip():
        head.problems.append("holds no reads")
        return
    if not text.startswith(b"@"):
        first = text[:12].decode("latin-1").encode("unicode_escape").decode()
        head.problems.append(f"is not FASTQ: it starts with '{first}', a FASTQ file with '@'")
        return
    qualities: list[str] = []
    comments: list[str] = []
    try:
        with dnaio.open(io.BytesIO(text), fileformat="fastq", mode="r") as reader:
            # per record only what dnaio has already split (id, comment: C-level)
            for record in reader:
                head.ids.append(record.id)
                comments.append(record.comment or "")
                qualities.append(record.qualities or "")
                if len(head.ids) >= HEAD_READS:
                    break
    except (dnaio.FastqFormatError, dnaio.UnknownFileFormat, EOFError) as exc:
        cut_by_us = not all_text and len(head.ids) >= text.count(b"\n") // 4 - 1
        if not cut_by_us:
            head.problems.append(f"is not valid FASTQ: {exc}")
            return
    # mate markers of the first reads decide "mostly read 1/2"; qualities in one pass, in C
    head.mates = [_mate(i, c) for i, c in zip(head.ids[:MATE_READS], comments, strict=False)]
    every = "".join(qualities)
    lowest, highest = (ord(min(every)), ord(max(every))) if every else (33, 33)
    if not head.ids:
        head.problems.append("holds no complete FASTQ record")
    elif lowest < 33 or highest > 126:
        head.problems.append("has quality characters outside Phred+33's range ('!' to '~')")
    elif lowest >= 64 and highest >= 75:
        head.problems.append(
            f"has Phred+64 quality scores (lowest '{chr(lowest)}', highest '{chr(highest)}'): "
            "genejobs reads Phred+33: convert first, e.g. seqtk seq -Q64 -V"
        )
    ids, mates = head.ids[:200], head.mates[:200]
    pairs = [(ids[i], ids[i + 1], mates[i], mates[i + 1]) for i in range(0, len(ids) - 1, 2)]
    alike = sum(_key(a) == _key(b) and (a != b or (m, n) == (1, 2)) for a, b, m, n in pairs)
    if len(pairs) >= 4 and alike > 0.9 * len(pairs):
        head.problems.append(
            "holds interleaved pairs (read 1 and read 2 alternate in one file): give read 1 "
            "and read 2 as two files"
        )


def _pair(r1: FileHead, r2: FileHead) -> None:
    """Problems between a run's two files, recorded on read 1."""
    if not (r1.checked and r2.checked) or r1.problems or r2.problems:
        return
    if r1.mostly(2) and r2.mostly(1):
        r1.problems.append(
            "read 1 and read 2 look swapped: the names in the file given as read 1 mark read 2 "
            "('/2' or ' 2:') and those in read 2 mark read 1"
        )
        return
    if r1.mostly(2):
        r1.problems.append("holds read 2 reads (names end '/2' or carry ' 2:'): is it read 2?")
    if r2.mostly(1) and r1.mostly(1):
        r2.problems.append("holds read 1 reads (names end '/1' or carry ' 1:'): is it read 1?")
    for i, (a, b) in enumerate(zip(r1.ids, r2.ids, strict=False)):
        if _key(a) != _key(b):
            r1.problems.append(
                f"read 1 and read 2 do not match: read {i + 1} is '{a}' in read 1 but '{b}' "
                "in read 2 (files of different runs or lanes?)"
            )
            break
    complete = r1.whole and r2.whole and max(r1.reads, r2.reads) < HEAD_READS
    if complete and r1.reads != r2.reads and not r1.problems:
        r1.problems.append(f"read 1 has {r1.reads} reads but read 2 has {r2.reads}")


def _beside(storage: Storage, head: FileHead, deadline: float) -> None:
    """A single-end file whose read 2 lies beside it: the library may be paired."""
    name = read_name(head.uri)
    if name is None or name.read != 1 or time.monotonic() > deadline:
        return
    mate = posixpath.join(posixpath.dirname(head.uri), name.mate_name())
    try:
        found = storage.exists(storage.location(mate))
    except (GeneJobsError, OSError):
        return
    if found:
        head.warnings.append(
            f"'{posixpath.basename(mate)}' lies beside it: if the library is paired, give each "
            "run as [read 1, read 2]"
        )


@dataclass(frozen=True)
class RunFiles:
    """One run as the request gives it: its files' URIs and locations."""

    sample: str
    run: int  # 1-based
    files: tuple[tuple[str, Location], ...]  # (uri, location), read 1 first


def check_heads(
    storage: Storage, runs: Sequence[RunFiles], *, timeout_s: float = HEAD_TIMEOUT_S
) -> list[list[FileHead]]:
    """Each run's file heads (read 1 first), checked in the shared pool within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    stop = threading.Event()

    def one(uri: str, loc: Location, single: bool) -> FileHead:
        if stop.is_set():
            return FileHead(uri=uri)
        head = read_head(storage, uri, loc, deadline)
        if single and head.checked and not head.problems:
            _beside(storage, head, deadline)
        return head

    futures: list[list[Future[FileHead]]] = [
        [_POOL.submit(one, uri, loc, len(r.files) == 1) for uri, loc in r.files] for r in runs
    ]
    flat = [f for fs in futures for f in fs]
    wait(flat, timeout=max(0.0, deadline - time.monotonic()))
    stop.set()
    out: list[list[FileHead]] = []
    for run, fs in zip(runs, futures, strict=True):
        heads = []
        for (uri, _), fut in zip(run.files, fs, strict=True):
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                heads.append(fut.result())
                continue
            late = FileHead(uri=uri)
            failed = fut.exception() if fut.done() and not fut.cancelled() else None
            fut.cancel()
            late.warnings.append(
                f"not checked: {failed}"
                if failed is not None
                else f"not checked: the storage did not answer within {timeout_s:g} s"
            )
            heads.append(late)
        if len(heads) == 2:
            _pair(heads[0], heads[1])
        out.append(heads)
    return out


def head_report(run: RunFiles, heads: list[FileHead]) -> list[dict[str, Any]]:
    """The dry run's entries for one run's files."""
    return [
        {
            "run": run.run,
            "read": k + 1,
            "uri": h.uri,
            "compression": h.compression or None,
            "reads_checked": h.reads,
            "checked": h.checked,
            "problems": h.problems,
            "warnings": h.warnings,
        }
        for k, h in enumerate(heads)
    ]
