"""Reads → counts per sample: genejobs vs the original service's path, same data, same cores.

The reference path is cutadapt → hisat2 → samtools sort → htseq-count (hisat2 and
samtools from Debian's packages, installed here if missing; they are not
dependencies of genejobs). Prints pairs/s/core, peak memory and the speed ratio.

    .venv/bin/python bench/bench_sample.py --pairs 100000 --genes 500 --threads 2 --repeat 5
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mappy
import numpy as np
import pandas as pd

from genejobs.pipeline.alignserver import align_processes, close_idle_servers
from genejobs.pipeline.records import LibraryType, ReadRun, SampleParams, SampleSpec
from genejobs.pipeline.sample import process_sample
from genejobs.references.index import ALIGNER_PRESET
from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage

BIN = Path(sys.executable).parent


def ensure_tools() -> None:
    if shutil.which("hisat2") and shutil.which("samtools"):
        return
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "hisat2", "samtools"],
        check=True,
    )


def run(cmd: list[str] | str, **kw) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def reference_path(manifest, sample: str, work: Path, threads: int) -> tuple[float, pd.Series]:
    r1, r2 = manifest.reads[sample]
    idx = work / "hisat2" / "genome"
    if not idx.with_suffix(".1.ht2").exists():
        idx.parent.mkdir(parents=True, exist_ok=True)
        run(["hisat2-build", "-p", str(threads), manifest.genome, str(idx)])
    t0 = time.perf_counter()
    t1, t2 = work / "t1.fastq.gz", work / "t2.fastq.gz"
    run(
        [
            str(BIN / "cutadapt"),
            "-j",
            str(threads),
            "-a",
            manifest.adapter,
            "-A",
            manifest.adapter,
            "-m",
            "20",
            "-o",
            str(t1),
            "-p",
            str(t2),
            r1,
            r2,
        ]
    )
    bam = work / "sorted.bam"
    run(
        f"hisat2 -p {threads} --rna-strandness RF -x {idx} -1 {t1} -2 {t2} "
        f"| samtools sort -@ {threads} -o {bam} -",
        shell=True,
    )
    run(["samtools", "index", str(bam)])
    out = subprocess.run(
        [
            str(BIN / "htseq-count"),
            "-f",
            "bam",
            "-r",
            "pos",
            "-s",
            "reverse",
            "-m",
            "union",
            "--nonunique",
            "none",
            str(bam),
            manifest.gtf,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seconds = time.perf_counter() - t0
    rows = [line.split("\t") for line in out.splitlines() if not line.startswith("__")]
    return seconds, pd.Series({g: int(c) for g, c in rows})


def _map_only(args: tuple[str, list[str]]) -> int:
    index_path, reads = args
    aligner = mappy.Aligner(index_path, preset=ALIGNER_PRESET)
    buf = mappy.ThreadBuffer()
    return sum(1 for seq in reads for _ in aligner.map(seq, buf=buf))


def minimap2_floor(index_path: Path, r1: str, r2: str, processes: int) -> float:
    """Seconds for minimap2 alone to map every read (untrimmed) in ``processes`` processes,
    each loading the index: what any mappy-based path needs at least on these cores."""
    reads = [rec[1] for path in (r1, r2) for rec in mappy.fastx_read(path)]
    shares = [(str(index_path), reads[i::processes]) for i in range(processes)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(_map_only, [(str(index_path), reads[:10])] * processes)  # warm
        t0 = time.perf_counter()
        pool.map(_map_only, shares)
        return time.perf_counter() - t0


def peak_rss_mib(pid: int) -> float:
    """A live process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pairs", type=int, default=200_000)
    p.add_argument("--genes", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3, help="runs of each path; medians are compared")
    a = p.parse_args()
    ensure_tools()
    with tempfile.TemporaryDirectory(prefix="genejobs-bench-") as tmp:
        work = Path(tmp)
        manifest = simulate(
            work / "sim",
            SimConfig(n_genes=a.genes, pairs_per_sample=a.pairs, samples_per_group=1, seed=11),
        )
        sample = next(iter(manifest.reads))
        registry = ReferenceRegistry(work / "refs")
        registry.add("bench", Path(manifest.genome), [("a.gtf", Path(manifest.gtf))])
        ref = registry.resolve("bench", "a.gtf")
        model = ref.load_gene_model()
        storage = Storage(allowed_roots=(work,))
        r1, r2 = manifest.reads[sample]
        ours_runs, theirs_runs = [], []
        for run_no in range(a.repeat):
            # each run starts its align server (index load included), as hisat2 loads its own
            close_idle_servers()
            t0 = time.perf_counter()
            result = process_sample(
                SampleSpec(sample, "K", (ReadRun(r1, r2),)),
                SampleParams(adapter=manifest.adapter),
                index_path=ref.index_path,
                gene_model=model,
                storage=storage,
                threads=a.threads,
            )
            ours_runs.append(time.perf_counter() - t0)
            if run_no == 0:
                peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                with align_processes(ref.index_path, a.threads) as server:  # the one just used
                    align_peak_mib = [peak_rss_mib(pid) for pid in server.pids]
                stage_ms = result.timings_ms
            seconds, theirs = reference_path(manifest, sample, work, a.threads)
            theirs_runs.append(seconds)
        close_idle_servers()
        ours_s, theirs_s = statistics.median(ours_runs), statistics.median(theirs_runs)
        floor_s = statistics.median(
            minimap2_floor(ref.index_path, r1, r2, a.threads) for _ in range(a.repeat)
        )
        pairs = result.read_stats.pairs_in
        ours = pd.Series(result.counts_for(LibraryType.FIRSTSTRAND), index=result.gene_ids)
        truth = pd.read_csv(manifest.truth_counts, index_col=0)[sample]
        from scipy.stats import spearmanr

        print(f"pairs: {pairs:,}  threads: {a.threads}  runs: {a.repeat} (medians; alternating)")
        print("genejobs runs   : " + " ".join(f"{x:.2f}" for x in ours_runs) + " s")
        print("hisat2 path runs: " + " ".join(f"{x:.2f}" for x in theirs_runs) + " s")
        print(
            f"genejobs stages (first run, ms; align = waiting for the align processes): {stage_ms}"
        )
        print(
            f"genejobs   : {ours_s:7.2f} s  {pairs / ours_s / a.threads:9,.0f} pairs/s/core  "
            f"spearman vs truth "
            f"{spearmanr(ours, truth.loc[ours.index]).statistic:.4f}"
        )
        print(
            f"peak RSS: this process {peak_mib:,.0f} MiB (with the simulator's data), "
            f"align server {align_peak_mib[0]:,.0f} MiB, align children "
            + ", ".join(f"{m:,.0f}" for m in align_peak_mib[1:])
            + " MiB (index pages shared between server and children)"
        )
        print(
            f"hisat2 path: {theirs_s:7.2f} s  {pairs / theirs_s / a.threads:9,.0f} pairs/s/core  "
            f"spearman vs truth {spearmanr(theirs.loc[ours.index], truth.loc[ours.index]).statistic:.4f}"
        )
        print(f"speed-up (hisat2 path time / genejobs time): {theirs_s / ours_s:.2f}x")
        print(
            f"minimap2 alone (mappy, index preloaded, {a.threads} processes): {floor_s:.2f} s = "
            f"{floor_s / ours_s:.0%} of genejobs' time; hisat2 path / minimap2 alone: "
            f"{theirs_s / floor_s:.2f}x"
        )
        same = np.corrcoef(ours.to_numpy(), theirs.loc[ours.index].to_numpy())[0, 1]
        print(f"pearson genejobs vs hisat2-path counts: {same:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
