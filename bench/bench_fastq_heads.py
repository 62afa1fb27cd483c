"""What the dry run's file checks cost: the heads of every FASTQ vs reading the files whole.

Writes ``--samples`` paired samples of ``--lanes`` lanes each (``--pairs`` pairs per lane,
gzip, local files), then times ``check_heads`` over all their files (the dry run's
bounded look) against dnaio reading every record of the same files (what a check
without bounds would cost). Prints both times and their ratio. The heads cost about the
same per file whatever its size, so the ratio grows with the files: with lanes smaller
than the head (~20,000 pairs) reading them whole is as fast.

    .venv/bin/python bench/bench_fastq_heads.py --samples 2 --lanes 2 --pairs 200000
"""

from __future__ import annotations

import argparse
import gzip
import random
import tempfile
import time
from pathlib import Path

import dnaio

from genejobs.jobs.request.fastq_heads import RunFiles, check_heads
from genejobs.storage import Storage


def write_lane(path: Path, mate: int, pairs: int, rng: random.Random) -> None:
    with gzip.open(path, "wt", compresslevel=1) as fh:
        for i in range(pairs):
            seq = "".join(rng.choice("ACGT") for _ in range(100))
            fh.write(f"@r{i} {mate}:N:0:ACGT\n{seq}\n+\n{'F' * 100}\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--lanes", type=int, default=2)
    p.add_argument("--pairs", type=int, default=20000, help="pairs per lane")
    args = p.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-heads-") as tmp:
        root = Path(tmp)
        storage = Storage(allowed_roots=(root,))
        runs = []
        for s in range(args.samples):
            for lane in range(1, args.lanes + 1):
                files = []
                for mate in (1, 2):
                    path = root / f"S{s}_S{s + 1}_L00{lane}_R{mate}_001.fastq.gz"
                    write_lane(path, mate, args.pairs, rng)
                    files.append((str(path), storage.location(str(path))))
                runs.append(RunFiles(f"S{s}", lane, tuple(files)))
        size = sum(f.stat().st_size for f in root.iterdir())
        started = time.perf_counter()
        heads = check_heads(storage, runs)
        bounded_s = time.perf_counter() - started
        problems = [p for run in heads for h in run for p in h.problems]
        started = time.perf_counter()
        records = 0
        for run in runs:
            for uri, _ in run.files:
                with dnaio.open(uri) as reader:
                    records += sum(1 for _ in reader)
        whole_s = time.perf_counter() - started
        n_files = 2 * len(runs)
        print(f"{n_files} files, {size / 1e6:.1f} MB, {records} reads in all; problems: {problems}")
        print(
            f"heads checked (dry run): {bounded_s:.3f} s  ({bounded_s / n_files * 1e3:.1f} ms/file)"
        )
        print(f"every record read:       {whole_s:.3f} s")
        print(f"ratio whole/heads: {whole_s / bounded_s:.1f}x")


if __name__ == "__main__":
    main()
