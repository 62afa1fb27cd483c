"""3' adapter removal with cutadapt's own matching (BackAdapter + AdapterCutter)."""

from __future__ import annotations

from cutadapt.adapters import BackAdapter
from cutadapt.info import ModificationInfo
from cutadapt.modifiers import AdapterCutter

from genejobs.pipeline.reads import PairChunk
from genejobs.pipeline.records import ReadStats


class PairTrimmer:
    """Cut the adapter from both reads of each pair; drop pairs that become too short."""

    def __init__(self, adapter: str | None, *, min_length: int) -> None:
        self.adapter = adapter.upper() if adapter else None
        self.min_length = min_length
        self._cutters = (
            [
                AdapterCutter([BackAdapter(self.adapter, max_errors=0.1, min_overlap=3)])
                for _ in "12"
            ]
            if self.adapter
            else None
        )

    def __repr__(self) -> str:
        return f"PairTrimmer(adapter={self.adapter!r}, min_length={self.min_length})"

    def __call__(self, chunk: PairChunk, stats: ReadStats) -> PairChunk:
        out1, out2 = [], []
        # lengths after adapter removal, for every pair of the chunk (read QC uses them)
        self.last_lengths: tuple[list[int], list[int]] = ([], [])
        for a, b in zip(chunk.r1, chunk.r2, strict=True):
            stats.pairs_in += 1
            stats.bases_in += len(a.sequence) + len(b.sequence)
            if self._cutters is not None:
                ta = self._cutters[0](a, ModificationInfo(a))
                tb = self._cutters[1](b, ModificationInfo(b))
                cut = (len(a.sequence) - len(ta.sequence)) + (len(b.sequence) - len(tb.sequence))
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
        return PairChunk(out1, out2)
