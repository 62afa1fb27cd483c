"""Lanes and single-end reads per sample: the cost of reading a sample as runs, and
single-end throughput against paired, on the same simulated reads, in one process.

1. One sample as 4 lanes (``--lanes``) against the same reads as one file per read:
   the lanes are one stream, so the ratio should be ~1 (the issue asks within 5%).
2. The same sample single-end (read 1 only) against paired: reads/s against pairs/s,
   and both per base (a pair carries twice the bases of a read).

Runs alternate (one file, lanes, single-end, ...) ``--repeat`` times with a warm align
server; medians and best runs are compared (on a shared machine the best run is the
one least disturbed by others). Counts are checked equal between
the one-file and lane runs.

    nice .venv/bin/python bench/bench_runs.py --pairs 200000 --genes 500 --threads 2 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from genejobs.pipeline.records import ReadRun, SampleParams, SampleResult, SampleSpec
from genejobs.pipeline.sample import process_sample
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pairs", type=int, default=200_000)
    p.add_argument("--genes", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lanes", type=int, default=4)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as tmp:
        root = Path(tmp)
        config = SimConfig(n_genes=a.genes, pairs_per_sample=a.pairs, samples_per_group=1)
        one = simulate(root / "one", config)
        lanes = simulate(root / "lanes", replace(config, lanes=a.lanes))
        registry = ReferenceRegistry(root / "refs")
        registry.add("sim", Path(one.genome), [("a.gtf", Path(one.gtf))])
        ref = registry.resolve("sim", "a.gtf")
        model = ref.load_gene_model()
        storage = Storage(allowed_roots=(root,))
        name = next(iter(one.reads))
        r1, r2 = one.reads[name]
        samples = {
            "one file": SampleSpec(name, "K", (ReadRun(r1, r2),)),
            f"{a.lanes} lanes": SampleSpec(name, "K", tuple(ReadRun(*r) for r in lanes.runs[name])),
            "single-end": SampleSpec(name, "K", (ReadRun(r1),)),
        }

        def count(sample: SampleSpec) -> tuple[float, SampleResult]:
            t0 = time.perf_counter()
            result = process_sample(
                sample,
                SampleParams(adapter=one.adapter),
                index_path=ref.index_path,
                gene_model=model,
                storage=storage,
                threads=a.threads,
            )
            return time.perf_counter() - t0, result

        count(samples["one file"])  # warm: the align server loads the index once
        seconds: dict[str, list[float]] = {k: [] for k in samples}
        results: dict[str, SampleResult] = {}
        for _ in range(a.repeat):
            for label, sample in samples.items():
                s, results[label] = count(sample)
                seconds[label].append(s)
        med = {k: statistics.median(v) for k, v in seconds.items()}
        base, split = results["one file"], results[f"{a.lanes} lanes"]
        same = (
            all((base.counts[k] == split.counts[k]).all() for k in base.counts)
            and base.read_stats == split.read_stats
        )
        bases = {k: r.read_stats.bases_in for k, r in results.items()}
        frags = {k: r.read_stats.pairs_in for k, r in results.items()}
        print(f"{a.pairs:,} pairs x {config.read_length} nt, {a.genes} genes, {a.threads} threads")
        for k in samples:
            print(
                f"  {k:>11}: median {med[k]:.2f} s of {seconds[k]}, "
                f"{frags[k] / med[k]:,.0f} fragments/s, {bases[k] / med[k] / 1e6:.2f} Mbases/s"
            )
        best = {k: min(v) for k, v in seconds.items()}
        lanes_key = f"{a.lanes} lanes"
        print(
            f"lanes / one file (time): median {med[lanes_key] / med['one file']:.3f}, "
            f"best {best[lanes_key] / best['one file']:.3f}"
        )
        print(f"counts identical (lanes vs one file): {same}")
        for how, t in (("median", med), ("best", best)):
            se_reads = frags["single-end"] / t["single-end"]
            pe_pairs = frags["one file"] / t["one file"]
            per_base = (bases["single-end"] / t["single-end"]) / (bases["one file"] / t["one file"])
            print(
                f"single-end reads/s / paired pairs/s ({how}): {se_reads / pe_pairs:.2f}; "
                f"per base: {per_base:.2f}"
            )


if __name__ == "__main__":
    main()
