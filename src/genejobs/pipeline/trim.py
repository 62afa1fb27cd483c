"""3' adapter removal with cutadapt's own matching (BackAdapter).

One trimming round with the "trim" action, as cutadapt's ``AdapterCutter`` does it
(``match_to`` then ``Match.trimmed``), called directly: the cutter's per-read
bookkeeping (modification info, per-adapter statistics we do not report) cost as
much as the matching itself.
"""

from __future__ import annotations

import dnaio
from cutadapt.adapters import BackAdapter

from genejobs.pipeline.reads import ReadChunk
from genejobs.pipeline.records import ReadStats

# Illumina TruSeq: read 1 and read 2 read through different adapters that share only
# their first 13 bases, so read 2 must be cut with its own sequence (measured: with the
# read 1 adapter, read 2 read-through longer than ~14 bases stayed in the reads).
TRUSEQ_READ1 = "AGATCGGAAGAGCACACGTCTGAACTCCAGTCA"
TRUSEQ_READ2 = "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT"
_SHARED_PREFIX = 13


def read2_adapter(adapter: str) -> str:
    """The adapter read 2 runs into, given the one the job names (the contract has one).

    A TruSeq read 1 adapter (or a prefix of it longer than the shared 13 bases) maps to the
    same-length prefix of the TruSeq read 2 adapter; any other adapter (Nextera, small RNA,
    a custom one) is used for both reads.
    """
    adapter = adapter.upper()
    if len(adapter) > _SHARED_PREFIX and TRUSEQ_READ1.startswith(adapter):
        return TRUSEQ_READ2[: len(adapter)]
    return adapter


class ReadTrimmer:
    """Cut the adapter from each read (both reads of a pair); drop fragments that
    become too short (a pair when either read does, as cutadapt's ``-m`` with pairs).

    Single-end chunks get read 1's adapter only, as ``cutadapt -a ADAPTER -m N``.
    """

    def __init__(self, adapter: str | None, *, min_length: int) -> None:
        self.adapter = adapter.upper() if adapter else None
        self.min_length = min_length
        self.adapter2 = read2_adapter(self.adapter) if self.adapter else None
        self._adapters = (
            [
                BackAdapter(seq, max_errors=0.1, min_overlap=3)
                for seq in (self.adapter, self.adapter2)
            ]
            if self.adapter and self.adapter2
            else None
        )
        # lengths after adapter removal of every read of the last chunk (read QC uses them)
        self.last_lengths: tuple[list[int], list[int]] = ([], [])

    def __repr__(self) -> str:
        return (
            f"ReadTrimmer(adapter={self.adapter!r}, adapter2={self.adapter2!r}, "
            f"min_length={self.min_length})"
        )

    def __call__(self, chunk: ReadChunk, stats: ReadStats) -> ReadChunk:
        if chunk.r2 is None:
            return self._single(chunk.r1, stats)
        out1, out2 = [], []
        self.last_lengths = ([], [])
        for a, b in zip(chunk.r1, chunk.r2, strict=True):
            stats.pairs_in += 1
            stats.bases_in += len(a.sequence) + len(b.sequence)
            if self._adapters is not None:
                m1 = self._adapters[0].match_to(a.sequence)
                m2 = self._adapters[1].match_to(b.sequence)
                if m1 is not None or m2 is not None:
                    ta = a if m1 is None else m1.trimmed(a)
                    tb = b if m2 is None else m2.trimmed(b)
                    cut = (len(a.sequence) - len(ta.sequence)) + (
                        len(b.sequence) - len(tb.sequence)
                    )
                    if cut:
                        stats.pairs_with_adapter += 1
                        stats.bases_trimmed += cut
                    a, b = ta, tb
            self.last_lengths[0].append(len(a.sequence))
            self.last_lengths[1].append(len(b.sequence))
            if len(a.sequence) < self.min_length or len(b.sequence) < self.min_length:
                stats.pairs_too_short += 1
                continue
            stats.pairs_out += 1
            out1.append(a)
            out2.append(b)
        return ReadChunk(out1, out2)

    def _single(self, reads: list[dnaio.SequenceRecord], stats: ReadStats) -> ReadChunk:
        """Single-end: read 1's adapter, the same minimum length, one read a fragment."""
        out = []
        lengths: list[int] = []
        self.last_lengths = (lengths, [])
        adapter = self._adapters[0] if self._adapters is not None else None
        for a in reads:
            stats.pairs_in += 1
            stats.bases_in += len(a.sequence)
            if adapter is not None:
                m = adapter.match_to(a.sequence)
                if m is not None:
                    ta = m.trimmed(a)
                    cut = len(a.sequence) - len(ta.sequence)
                    if cut:
                        stats.pairs_with_adapter += 1
                        stats.bases_trimmed += cut
                    a = ta
            lengths.append(len(a.sequence))
            if len(a.sequence) < self.min_length:
                stats.pairs_too_short += 1
                continue
            stats.pairs_out += 1
            out.append(a)
        return ReadChunk(out, None)
