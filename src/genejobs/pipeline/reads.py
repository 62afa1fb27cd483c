"""FASTQ streaming with dnaio: a sample's runs, paired or single-end, as one stream of
chunks, with errors that name the sample, the run and the file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import dnaio
from isal.igzip import IGzipFile  # cutadapt's own fast gzip, via xopen

from genejobs.errors import InputError
from genejobs.pipeline.records import SampleSpec
from genejobs.storage import Location, Storage
from genejobs.storage.compression import is_gzip_head


class _CountingReader:
    """Wraps a binary stream to know how many compressed bytes were consumed (progress)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.consumed_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.consumed_bytes += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self._raw.close()

    @property
    def closed(self) -> bool:
        return bool(getattr(self._raw, "closed", False))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


@dataclass
class ReadChunk:
    """A chunk of reads: read 1 records and, for paired runs, their mates (same order)."""

    r1: list[dnaio.SequenceRecord]
    r2: list[dnaio.SequenceRecord] | None = None

    @property
    def paired(self) -> bool:
        return self.r2 is not None

    def __len__(self) -> int:
        return len(self.r1)


def _name(record: dnaio.SequenceRecord) -> str:
    return record.name.split(None, 1)[0]


def _same_pair(a: str, b: str) -> bool:
    """Same name, or names that differ only in a mate suffix: ``/1 /2``, ``.1 .2``, ``_1 _2``.

    ``.1``/``.2`` is what ``fastq-dump --readids`` writes (``SRR1.7.1``, ``SRR1.7.2``).
    Stricter than dnaio's ``is_mate``, which would also pair ``r1`` with ``r2``.
    """
    if a == b:
        return True
    return (
        len(a) == len(b) > 2
        and a[-2:] in ("/1", ".1", "_1")
        and b[-2:] == a[-2] + "2"
        and a[:-2] == b[:-2]
    )


class RunReads:
    """Chunks of one run (read 1, and read 2 when paired) from FASTQ or FASTQ.gz
    locations; a paired run's mates are checked to match, chunk by chunk.

    ``where`` is how errors name the run: ``sample 'S'`` or ``sample 'S' run 2 of 4``.
    """

    def __init__(
        self, storage: Storage, where: str, r1: Location, r2: Location | None = None
    ) -> None:
        self.where = where
        self.r1, self.r2 = r1, r2
        self.total_bytes = max(
            1, storage.info(r1).size_bytes + (storage.info(r2).size_bytes if r2 else 0)
        )
        self._f1 = _CountingReader(storage.open_read(r1))
        self._f2 = _CountingReader(storage.open_read(r2)) if r2 is not None else None
        self.pairs_read = 0

    @property
    def consumed_bytes(self) -> int:
        return self._f1.consumed_bytes + (self._f2.consumed_bytes if self._f2 else 0)

    @property
    def fraction_done(self) -> float:
        return min(1.0, self.consumed_bytes / self.total_bytes)

    def _error(self, loc: Location, what: str) -> InputError:
        return InputError(f"{self.where}: file '{loc.original}' {what}")

    def _open(self, fh: _CountingReader, loc: Location) -> Any:
        """A dnaio reader; gzip or plain FASTQ, told apart by the first two bytes."""
        try:
            head = fh._raw.read(2)
            fh._raw.seek(0)
            stream: Any = IGzipFile(fileobj=fh, mode="rb") if is_gzip_head(head) else fh
            return dnaio.open(stream, fileformat="fastq", mode="r")
        except Exception as exc:  # dnaio raises several types for unreadable input
            raise self._error(loc, f"is not a readable FASTQ file ({exc})") from exc

    def chunks(self, chunk_pairs: int, *, first: int | None = None) -> Iterator[ReadChunk]:
        """Reads ``chunk_pairs`` at a time (``first`` for the first chunk, when given)."""
        size = first or chunk_pairs
        with contextlib.ExitStack() as stack:
            stack.callback(self._f1.close)
            reader1 = iter(self._open(self._f1, self.r1))
            reader2 = None
            if self._f2 is not None and self.r2 is not None:
                stack.callback(self._f2.close)
                reader2 = iter(self._open(self._f2, self.r2))
            while True:
                b1 = self._take(reader1, self.r1, size)
                b2 = self._take(reader2, self.r2, size) if reader2 is not None else None
                size = chunk_pairs
                if b2 is not None:
                    self._check_mates(b1, b2)
                if not b1:
                    if self.pairs_read == 0:
                        raise self._error(self.r1, "holds no reads")
                    return
                self.pairs_read += len(b1)
                yield ReadChunk(b1, b2)

    def _check_mates(self, b1: list[Any], b2: list[Any]) -> None:
        assert self.r2 is not None
        if len(b1) != len(b2):
            shorter, loc = (1, self.r1) if len(b1) < len(b2) else (2, self.r2)
            n1 = self.pairs_read + len(b1)
            n2 = self.pairs_read + len(b2)
            raise self._error(
                loc,
                f"ends early: read {shorter} has {min(n1, n2)} reads where read "
                f"{3 - shorter} has at least {max(n1, n2)}",
            )
        # Equal ids (name up to the first space) are the common case, checked
        # in C; only chunks with another naming go through the per-pair rule.
        if [r.id for r in b1] == [r.id for r in b2]:
            return
        for i, (a, b) in enumerate(zip(b1, b2, strict=True)):
            if not _same_pair(_name(a), _name(b)):
                raise InputError(
                    f"{self.where}: read pair {self.pairs_read + i + 1} does not "
                    f"match: '{_name(a)}' in '{self.r1.original}' but '{_name(b)}' in "
                    f"'{self.r2.original}'"
                )

    def _take(self, it: Iterator[dnaio.SequenceRecord], loc: Location | None, n: int) -> list[Any]:
        out = []
        try:
            for _ in range(n):
                out.append(next(it))
        except StopIteration:
            pass
        except (dnaio.FastqFormatError, dnaio.UnknownFileFormat) as exc:
            assert loc is not None
            raise self._error(loc, f"is not valid FASTQ: {exc}") from exc
        except (EOFError, OSError) as exc:
            assert loc is not None
            raise self._error(loc, f"is truncated or corrupt ({exc})") from exc
        return out


class SampleReads:
    """A sample's runs (lanes, re-sequencings) read in order as one stream of chunks.

    No concatenated copy is written: each run's files are opened when the stream
    reaches them, and its mates are checked as a run of their own (errors name the
    sample, the run and the file). A chunk never spans two runs, so the last chunk
    of a run may be short. Single-end and paired runs are not mixed (a job is one
    or the other as a whole; the request refuses a mix).
    """

    def __init__(self, storage: Storage, sample: SampleSpec) -> None:
        if not sample.runs:
            raise InputError(f"sample '{sample.name}' has no reads")
        self.sample = sample
        self.paired = sample.paired
        if not self.paired and any(run.paired for run in sample.runs):
            raise InputError(
                f"sample '{sample.name}' mixes single-end and paired runs; a job is one or the other"
            )
        self._storage = storage
        self._runs: list[tuple[str, Location, Location | None]] = []
        total = 0
        many = len(sample.runs) > 1
        for k, run in enumerate(sample.runs, start=1):
            where = f"sample '{sample.name}'" + (f" run {k} of {len(sample.runs)}" if many else "")
            label = f"sample '{sample.name}'" + (f" run {k}" if many else "")
            r1 = storage.location(run.r1, field=f"{label} read 1")
            r2 = storage.location(run.r2, field=f"{label} read 2") if run.r2 else None
            total += storage.info(r1).size_bytes + (storage.info(r2).size_bytes if r2 else 0)
            self._runs.append((where, r1, r2))
        self.total_bytes = max(1, total)
        self._done_bytes = 0  # compressed bytes of the runs already read
        self._current: RunReads | None = None
        self._done_pairs = 0

    @property
    def pairs_read(self) -> int:
        """Fragments (pairs, or reads when single-end) read so far, over all runs."""
        return self._done_pairs + (self._current.pairs_read if self._current else 0)

    @property
    def fraction_done(self) -> float:
        current = self._current.consumed_bytes if self._current else 0
        return min(1.0, (self._done_bytes + current) / self.total_bytes)

    def chunks(self, chunk_pairs: int, *, first: int | None = None) -> Iterator[ReadChunk]:
        """Every run's chunks in order (``first`` sizes only the sample's first chunk)."""
        for where, r1, r2 in self._runs:
            run = RunReads(self._storage, where, r1, r2)
            self._current = run
            try:
                for chunk in run.chunks(chunk_pairs, first=first):
                    first = None
                    yield chunk
            finally:
                self._done_bytes += run.consumed_bytes
                self._done_pairs += run.pairs_read
                self._current = None
