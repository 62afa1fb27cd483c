"""Paired FASTQ streaming with dnaio, with errors that name the sample and file."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import dnaio
from isal.igzip import IGzipFile  # cutadapt's own fast gzip, via xopen

from genejobs.errors import InputError
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
class PairChunk:
    """A chunk of read pairs as plain strings: names, sequences and qualities."""

    r1: list[dnaio.SequenceRecord]
    r2: list[dnaio.SequenceRecord]


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


class PairedReads:
    """Iterate chunks of pairs from two FASTQ(.gz) locations; checks that the pairs match."""

    def __init__(self, storage: Storage, sample: str, r1: Location, r2: Location) -> None:
        self.sample = sample
        self.r1, self.r2 = r1, r2
        self.total_bytes = max(1, storage.info(r1).size_bytes + storage.info(r2).size_bytes)
        self._f1 = _CountingReader(storage.open_read(r1))
        self._f2 = _CountingReader(storage.open_read(r2))
        self.pairs_read = 0

    @property
    def fraction_done(self) -> float:
        return min(1.0, (self._f1.consumed_bytes + self._f2.consumed_bytes) / self.total_bytes)

    def _error(self, loc: Location, what: str) -> InputError:
        return InputError(f"sample '{self.sample}': file '{loc.original}' {what}")

    def _open(self, fh: _CountingReader, loc: Location) -> Any:
        try:
            head = fh._raw.read(2)
            fh._raw.seek(0)
            stream: Any = IGzipFile(fileobj=fh, mode="rb") if is_gzip_head(head) else fh
            return dnaio.open(stream, fileformat="fastq", mode="r")
        except Exception as exc:  # dnaio raises several types for unreadable input
            raise self._error(loc, f"is not a readable FASTQ file ({exc})") from exc

    def chunks(self, chunk_pairs: int, *, first: int | None = None) -> Iterator[PairChunk]:
        """Pairs ``chunk_pairs`` at a time (``first`` for the first chunk, when given)."""
        size = first or chunk_pairs
        with contextlib.ExitStack() as stack:
            stack.callback(self._f1.close)
            stack.callback(self._f2.close)
            reader1 = self._open(self._f1, self.r1)
            reader2 = self._open(self._f2, self.r2)
            it1, it2 = iter(reader1), iter(reader2)
            while True:
                b1 = self._take(it1, self.r1, size)
                b2 = self._take(it2, self.r2, size)
                size = chunk_pairs
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
                same_ids = [r.id for r in b1] == [r.id for r in b2]
                for i, (a, b) in enumerate(() if same_ids else zip(b1, b2, strict=True)):
                    if not _same_pair(_name(a), _name(b)):
                        raise InputError(
                            f"sample '{self.sample}': read pair {self.pairs_read + i + 1} does not "
                            f"match: '{_name(a)}' in '{self.r1.original}' but '{_name(b)}' in "
                            f"'{self.r2.original}'"
                        )
                if not b1:
                    if self.pairs_read == 0:
                        raise self._error(self.r1, "holds no reads")
                    return
                self.pairs_read += len(b1)
                yield PairChunk(b1, b2)

    def _take(self, it: Iterator[dnaio.SequenceRecord], loc: Location, n: int) -> list[Any]:
        out = []
        try:
            for _ in range(n):
                out.append(next(it))
        except StopIteration:
            pass
        except (dnaio.FastqFormatError, dnaio.UnknownFileFormat) as exc:
            raise self._error(loc, f"is not valid FASTQ: {exc}") from exc
        except (EOFError, OSError) as exc:
            raise self._error(loc, f"is truncated or corrupt ({exc})") from exc
        return out
