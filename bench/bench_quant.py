"""Per sample: the transcript-level quantifier (salmon) vs genejobs' genome path, same data and cores.

Simulates the hard case of issue 16 by default (75 bp, 15% of genes with a paralog
at 1% divergence, 15% of fragments from ten near-identical rRNA copies, 1% errors),
registers it (timing the minimap2 index and the transcriptome + salmon index), then
runs reads → gene counts for one sample with both paths, alternating ``--repeat``
times (medians; the machine is shared), and prints speed, CPU time and accuracy
against the simulator's truth: Spearman, and the share of paralog-family and rRNA
fragments each path gives back to the right gene (sum of min(estimate, truth) over
the sum of truth).

    .venv/bin/python bench/bench_quant.py --pairs 300000 --genes 1000 --threads 2 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from genejobs.pipeline.alignserver import close_idle_servers
from genejobs.pipeline.records import LibraryType, ReadRun, SampleParams, SampleSpec
from genejobs.pipeline.salmon import load_tx2gene, quantify_sample
from genejobs.pipeline.sample import process_sample
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage

# Issue 16's hard case, shared by bench_job.py: 75 bp, 15% of genes with a paralog at
# 1% divergence, 15% of fragments from ten near-identical rRNA copies, 1% errors.
HARD: dict[str, float | int] = dict(
    read_length=75,
    fraction_paralog=0.15,
    paralog_divergence=0.01,
    rrna_copies=10,
    fraction_rrna=0.15,
    error_rate=0.01,
)


def cpu_seconds() -> float:
    """CPU of this process and its waited-for children (salmon; align servers once closed)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def recovery(counts: pd.Series, truth: pd.Series, ix: list[str]) -> float:
    return float(np.minimum(counts[ix], truth[ix]).sum() / max(1, truth[ix].sum()))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pairs", type=int, default=300_000)
    p.add_argument("--genes", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--easy", action="store_true", help="the default simulator (no hard cases)")
    a = p.parse_args()
    hard = {} if a.easy else HARD
    with tempfile.TemporaryDirectory(prefix="genejobs-bench-quant-") as tmp:
        work = Path(tmp)
        manifest = simulate(
            work / "sim",
            SimConfig(
                n_genes=a.genes, pairs_per_sample=a.pairs, samples_per_group=1, seed=11, **hard
            ),
        )
        sample = next(iter(manifest.reads))
        registry = ReferenceRegistry(work / "refs")
        t0 = time.perf_counter()
        registry.add("bench", Path(manifest.genome), [("a.gtf", Path(manifest.gtf))])
        add_s = time.perf_counter() - t0
        ref = registry.resolve("bench", "a.gtf")
        assert ref.transcriptome_path is not None, "salmon is not installed"
        model = ref.load_gene_model()
        tx2gene = load_tx2gene(ref.transcriptome_path / "tx2gene.tsv")
        storage = Storage(allowed_roots=(work,))
        spec = SampleSpec(sample, "K", (ReadRun(*manifest.reads[sample]),))
        params = SampleParams(
            adapter=manifest.adapter, declared_library_type=LibraryType.FIRSTSTRAND
        )
        runs: dict[str, list[tuple[float, float]]] = {"genome": [], "transcripts": []}
        results = {}
        for _ in range(a.repeat):
            for path in ("genome", "transcripts"):
                close_idle_servers()  # each genome run loads its index, as salmon loads its own
                c0, t0 = cpu_seconds(), time.perf_counter()
                if path == "genome":
                    result = process_sample(
                        spec,
                        params,
                        index_path=ref.index_path,
                        gene_model=model,
                        storage=storage,
                        threads=a.threads,
                    )
                    close_idle_servers()  # reaped, so its CPU is counted
                else:
                    result = quantify_sample(
                        spec,
                        params,
                        index_dir=ref.transcriptome_path / "salmon",
                        tx2gene=tx2gene,
                        gene_model=model,
                        storage=storage,
                        threads=a.threads,
                    )
                runs[path].append((time.perf_counter() - t0, cpu_seconds() - c0))
                results[path] = result
        truth = pd.read_csv(manifest.truth_counts, index_col=0)[sample]
        genes = pd.read_csv(manifest.truth_genes, index_col=0)
        paralogs = genes.index[genes["paralog_of"].notna()]
        family = sorted(set(paralogs) | set(genes.loc[paralogs, "paralog_of"]))
        rrna = list(genes.index[genes["gene_name"].str.startswith("RNA45SN")])
        pairs = results["genome"].read_stats.pairs_in
        print(
            f"pairs: {pairs:,}  genes: {len(genes)}  threads: {a.threads}  runs: {a.repeat} "
            f"(medians, alternating)  ref add incl. transcriptome: {add_s:.1f} s"
        )
        print(
            "| path | wall s | CPU s | pairs/s (wall) | Spearman | paralog families | rRNA copies |"
        )
        print("|---|---|---|---|---|---|---|")
        medians = {}
        for path in ("genome", "transcripts"):
            wall = statistics.median(r[0] for r in runs[path])
            cpu = statistics.median(r[1] for r in runs[path])
            medians[path] = (wall, cpu)
            counts = pd.Series(
                results[path].counts_for(LibraryType.FIRSTSTRAND), index=results[path].gene_ids
            )
            rho = spearmanr(counts, truth.loc[counts.index]).statistic
            par = recovery(counts, truth, family) if family else float("nan")
            rr = recovery(counts, truth, rrna) if rrna else float("nan")
            print(
                f"| {path} | {wall:.2f} | {cpu:.2f} | {pairs / wall:,.0f} | {rho:.4f} | "
                f"{par:.3f} | {rr:.3f} |"
            )
        print(
            "all runs (wall s, CPU s):",
            {k: [(round(w, 2), round(c, 2)) for w, c in v] for k, v in runs.items()},
        )
        (gw, gc), (tw, tc) = medians["genome"], medians["transcripts"]
        print(f"speed-up transcripts vs genome: wall {gw / tw:.2f}x, CPU {gc / tc:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
