"""Read-level QC computed while the reads stream past, written as FastQC's data file.

Hand-written rather than running FastQC (a Java tool, a second pass over the
files): the trimming pass already holds every read, and numpy over a chunk of
equal-length reads costs little. The output is FastQC's ``fastqc_data.txt``
format, so MultiQC's FastQC module reads it as it would FastQC's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_LEN = 500
DUP_SAMPLE = 100_000  # reads whose start is hashed for the duplication estimate


@dataclass
class MateQC:
    """Per-position and per-read summaries of one mate's reads (before trimming)."""

    reads: int = 0
    bases: int = 0
    gc_bases: int = 0
    length_counts: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LEN + 1, np.int64))
    qual_sum: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LEN, np.float64))
    qual_n: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LEN, np.int64))
    qual_hist: np.ndarray = field(default_factory=lambda: np.zeros((MAX_LEN, 42), np.int64))
    gc_hist: np.ndarray = field(default_factory=lambda: np.zeros(101, np.int64))
    adapter_at: np.ndarray = field(default_factory=lambda: np.zeros(MAX_LEN + 1, np.int64))
    starts: dict[int, int] = field(default_factory=dict)  # hash of a read's first 50 bases
    sampled: int = 0  # reads counted in ``starts``

    def add(self, sequences: list[str], qualities: list[str], kept_lengths: list[int]) -> None:
        """One chunk: raw sequences/qualities and their lengths after adapter removal."""
        if not sequences:
            return
        lengths = np.fromiter((len(s) for s in sequences), np.int64, len(sequences))
        self.reads += len(sequences)
        self.bases += int(lengths.sum())
        np.add.at(self.length_counts, np.minimum(lengths, MAX_LEN), 1)
        width = min(int(lengths.max()), MAX_LEN)
        equal = int(lengths.min()) == width
        if equal:  # the usual case: reads of one length
            n = len(sequences)
            seq = np.frombuffer("".join(sequences).encode(), np.uint8).reshape(n, width)
            qual = np.frombuffer("".join(qualities).encode(), np.uint8).reshape(n, width)
            qual = qual.astype(np.int16)
        else:
            seq = np.zeros((len(sequences), width), np.uint8)
            qual = np.zeros((len(sequences), width), np.int16)
            for i, (s, q) in enumerate(zip(sequences, qualities, strict=True)):
                n = min(len(s), width)
                seq[i, :n] = np.frombuffer(s[:n].encode(), np.uint8)
                qual[i, :n] = np.frombuffer(q[:n].encode(), np.uint8)
        phred = np.clip(qual - 33, 0, 41)
        # One histogram over (position, quality) cells instead of one per position.
        cells = np.arange(width, dtype=np.intp) * 42 + phred
        if equal:  # every cell holds a base: no mask to build and apply
            self.qual_sum[:width] += phred.sum(axis=0)
            self.qual_n[:width] += len(sequences)
            cells = cells.ravel()
        else:
            present = seq > 0
            self.qual_sum[:width] += np.where(present, phred, 0).sum(axis=0)
            self.qual_n[:width] += present.sum(axis=0)
            cells = cells[present]
        self.qual_hist[:width] += np.bincount(cells, minlength=width * 42).reshape(width, 42)
        gc = ((seq == ord("G")) | (seq == ord("C"))).sum(axis=1)
        self.gc_bases += int(gc.sum())
        pct = np.round(100 * gc / np.maximum(lengths, 1)).astype(np.int64)
        np.add.at(self.gc_hist, np.clip(pct, 0, 100), 1)
        trimmed = np.fromiter(kept_lengths, np.int64, len(kept_lengths))
        cut = trimmed < lengths
        np.add.at(self.adapter_at, np.minimum(trimmed[cut], MAX_LEN), 1)
        # Python's own string hash (64 bits, in C) as the key: as small as a digest,
        # several times cheaper; collisions among 100k reads are negligible.
        room = max(0, DUP_SAMPLE - self.sampled)
        starts = self.starts
        for s in sequences[:room]:
            key = hash(s[:50])
            starts[key] = starts.get(key, 0) + 1
        self.sampled += min(room, len(sequences))

    def _quantile(self, pos: int, q: float) -> float:
        hist = self.qual_hist[pos]
        total = hist.sum()
        if not total:
            return 0.0
        return float(np.searchsorted(np.cumsum(hist), q * total))

    def fastqc_data(self, filename: str, adapter_name: str = "Illumina Universal Adapter") -> str:
        """FastQC's data file (the modules MultiQC plots)."""
        lengths = np.flatnonzero(self.length_counts)
        longest = int(lengths.max()) if lengths.size else 0
        shortest = int(lengths.min()) if lengths.size else 0
        gc_pct = round(100 * self.gc_bases / max(1, self.bases))
        out = [
            # Not FastQC's version line: MultiQC still parses the file but does not credit
            # FastQC with what genejobs computed.
            "##genejobs read QC (FastQC's data format; FastQC did not run)",
            ">>Basic Statistics\tpass",
            "#Measure\tValue",
            f"Filename\t{filename}",
            "File type\tConventional base calls",
            "Encoding\tSanger / Illumina 1.9",
            f"Total Sequences\t{self.reads}",
            "Sequences flagged as poor quality\t0",
            f"Sequence length\t{shortest}-{longest}"
            if shortest != longest
            else f"Sequence length\t{longest}",
            f"%GC\t{gc_pct}",
            ">>END_MODULE",
            ">>Per base sequence quality\tpass",
            "#Base\tMean\tMedian\tLower Quartile\tUpper Quartile\t10th Percentile\t90th Percentile",
        ]
        for pos in range(longest):
            if self.qual_n[pos]:
                out.append(
                    "\t".join(
                        [str(pos + 1), f"{self.qual_sum[pos] / self.qual_n[pos]:.2f}"]
                        + [f"{self._quantile(pos, q):.1f}" for q in (0.5, 0.25, 0.75, 0.1, 0.9)]
                    )
                )
        out += [">>END_MODULE", ">>Per sequence GC content\tpass", "#GC Content\tCount"]
        out += [f"{i}\t{float(c)}" for i, c in enumerate(self.gc_hist)]
        out += [">>END_MODULE", ">>Sequence Length Distribution\tpass", "#Length\tCount"]
        out += [f"{int(n)}\t{float(self.length_counts[n])}" for n in lengths]
        sampled = self.sampled
        distinct = len(self.starts)
        dedup = 100 * distinct / max(1, sampled)
        levels = np.bincount(np.fromiter(self.starts.values(), np.int64), minlength=11)
        out += [
            ">>END_MODULE",
            ">>Sequence Duplication Levels\tpass",
            f"#Total Deduplicated Percentage\t{dedup:.2f}",
            "#Duplication Level\tPercentage of deduplicated\tPercentage of total",
        ]
        for level in range(1, 10):
            n = int(levels[level]) if level < len(levels) else 0
            out.append(
                f"{level}\t{100 * n / max(1, distinct):.2f}\t{100 * n * level / max(1, sampled):.2f}"
            )
        high = int(levels[10:].sum())
        high_reads = int(sum(c for c in self.starts.values() if c >= 10))
        out.append(
            f">10\t{100 * high / max(1, distinct):.2f}\t{100 * high_reads / max(1, sampled):.2f}"
        )
        out += [">>END_MODULE", ">>Adapter Content\tpass", f"#Position\t{adapter_name}"]
        cumulative = np.cumsum(self.adapter_at[:longest])
        for pos in range(longest):
            out.append(f"{pos + 1}\t{100 * cumulative[pos] / max(1, self.reads):.4f}")
        out.append(">>END_MODULE")
        return "\n".join(out) + "\n"
