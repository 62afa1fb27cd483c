"""A whole job: genejobs with the transcript quantifier vs the original service's pipeline.

Issue 16's target: on the project's simulator, a whole job with ``"quantifier":
"transcripts"`` (salmon) is ≥ 6× faster than the original service's pipeline,
including DE and the report; same data, same cores, one run of each.

One dataset from ``genejobs.sim`` (by default bench_quant's hard case: 75 bp, 15% of
genes with a paralog at 1% divergence, 15% rRNA from ten near-identical copies, 1%
errors; ``--easy`` for the simulator's defaults), 2 groups × ``--samples-per-group``.
Not timed: simulating, ``ref add`` (minimap2 index, transcriptome and salmon index)
and ``hisat2-build``.

- **genejobs**: the job submitted through ``JobService`` and run by a ``Runner`` on a
  private local Dask cluster (1 worker × ``--threads`` threads), as ``bench_qc.py
  --job`` does; no QC (``is_export_qc`` false, as the original service's default job),
  the report as always (``report.html``, ``plots/``, ``methods.md``, every table). The
  time runs from ``run_once`` to the job's end; starting the Dask cluster (a running
  service has one) is printed apart. ``--also-genome`` runs the same job with
  ``"quantifier": "genome"`` too (its own empty cache).
- **the original pipeline**: per sample, one after another with the same threads,
  ``bench_sample.reference_path`` (cutadapt → hisat2 → samtools sort + index →
  htseq-count; hisat2 and samtools from Debian, installed if missing), each sample's
  counts written as an htseq-count file; then R's DESeq2 (Debian's ``r-bioc-deseq2``,
  installed if missing), started as ``Rscript`` as the service did, from
  ``DESeqDataSetFromHTSeqCount``: ``DESeq()`` (serial, its default), ``results()`` for
  the treatment against the control, written as a CSV, and an MA plot as PNG and PDF.
  That is all the reference "report" holds — the original service's output was the
  table and a plot — whereas genejobs' report has the QC summary, PCA, sample
  heatmap, volcano and MA plots, top-gene heatmap, the searchable gene table, the
  normalised counts, dispersions, VST and a methods section: the comparison favours
  the original.

Prints each path's wall time and CPU seconds (this process and its reaped children:
the original's tools and R; the Dask worker processes once the cluster is closed),
the ratio original / genejobs-transcripts, the DE calls of both sides (padj < 0.05,
their overlap and Jaccard, precision and recall against the simulator's truth) so
that neither side can be said to have done less, and the load average at start and end.

    .venv/bin/python bench/bench_job.py --pairs 300000 --genes 1000 --threads 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

# bench/ is on sys.path: these run as scripts
from bench_de import ensure_r
from bench_quant import HARD
from bench_sample import ensure_tools, reference_path, run

from genejobs.references.registry import ReferenceRegistry
from genejobs.sim import SimConfig, simulate
from genejobs.storage import Storage

TARGET = 6.0

R_SCRIPT = r"""
t0 <- proc.time()[["elapsed"]]
suppressMessages(library(DESeq2))
t1 <- proc.time()[["elapsed"]]
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
control <- args[2]
treatment <- args[3]
out <- args[4]
table <- read.delim(file.path(dir, "samples.tsv"), stringsAsFactors = FALSE)
table$group <- factor(table$group, levels = c(control, treatment))
dds <- DESeqDataSetFromHTSeqCount(sampleTable = table, directory = dir, design = ~group)
dds <- DESeq(dds)
res <- results(dds, contrast = c("group", treatment, control))
t2 <- proc.time()[["elapsed"]]
tab <- data.frame(gene_id = rownames(res), as.data.frame(res), check.names = FALSE)
write.csv(tab[order(tab$padj), ], file.path(out, "results.csv"), row.names = FALSE)
png(file.path(out, "ma_plot.png"), width = 1200, height = 900, res = 150, type = "cairo")
plotMA(res, main = paste(treatment, "vs", control))
invisible(dev.off())
pdf(file.path(out, "ma_plot.pdf"))
plotMA(res, main = paste(treatment, "vs", control))
invisible(dev.off())
cat(sprintf("timings %.3f %.3f %.3f\n", t1 - t0, t2 - t1, proc.time()[["elapsed"]] - t2))
"""


def cpu_seconds() -> float:
    """CPU of this process and its reaped children (and theirs, once reaped)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def job_phases(job: Any) -> str:
    """Where the job's time went, from its own rows: the samples, then what follows the
    last sample (gene counts, DE, the report and the outputs)."""
    ended = [s.ended_ms for s in job.samples if s.ended_ms]
    if not (job.run_started_ms and job.end_time_ms and ended and len(ended) == len(job.samples)):
        return "no per-sample times recorded"
    return (
        f"per the job's rows: samples {(max(ended) - job.run_started_ms) / 1000:.1f} s, "
        f"then counts, DE and report {(job.end_time_ms - max(ended)) / 1000:.1f} s"
    )


def genejobs_job(
    root: Path, sim: object, *, quantifier: str, threads: int
) -> tuple[float, float, float, str, pd.DataFrame]:
    """One job over every sample through the service and a runner (bench_qc's whole_job
    with a quantifier and no QC): (seconds, CPU seconds, cluster start seconds, status,
    the result table)."""
    from sqlalchemy import select

    from genejobs.config import Settings
    from genejobs.jobs.run.executor import close_client, make_client
    from genejobs.jobs.run.runner import Runner
    from genejobs.jobs.service import JobService
    from genejobs.jobs.store.auth import Principal
    from genejobs.jobs.store.models import JobRow

    home = root / f"job-{quantifier}"
    settings = Settings.from_env(
        {
            "GENEJOBS_HOME": str(home),
            "GENEJOBS_ALLOWED_ROOTS": str(root),
            "GENEJOBS_REFERENCE_ROOT": str(root / "refs"),
            "GENEJOBS_THREADS_PER_WORKER": str(threads),
            "GENEJOBS_DASK_WORKERS": "1",
        }
    )
    home.mkdir(parents=True)
    registry = ReferenceRegistry(settings.reference_root)
    body = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": [
            {
                "group_name": g,
                "group_inputs": [{"sample_name": s, "files": list(sim.reads[s])} for s in samples],
            }
            for g, samples in sim.groups.items()
        ],
        "adapt": sim.adapter,
        "ref": "b",
        "gtf": "a.gtf",
        "library_type": sim.library_type,
        "quantifier": quantifier,
        "is_export_qc": False,
        "output": str(home / "out"),
    }
    service = JobService(
        settings, storage=Storage.from_settings(settings), references=registry.available
    )
    job_id = service.submit(
        principal=Principal("bench", "admin", ("default",)), project_id="default", body=body
    )
    c0, t0 = cpu_seconds(), time.perf_counter()
    client = make_client(settings)
    cluster_s = time.perf_counter() - t0
    try:
        runner = Runner(settings, runner_id="bench", client=client)
        t0 = time.perf_counter()
        assert runner.run_once() == job_id
        seconds = time.perf_counter() - t0
    finally:
        close_client(client)  # the worker processes are reaped: their CPU is counted
    cpu = cpu_seconds() - c0
    with service.sessions() as session:
        job = session.scalar(select(JobRow).where(JobRow.job_id == job_id))
        assert job is not None
        status, phases = job.status, job_phases(job)
    service.close()
    status = getattr(status, "value", status)
    table_path = home / "out" / f"{job_id}.csv"
    table = pd.read_csv(table_path) if table_path.exists() else pd.DataFrame()
    if not (home / "out" / job_id / "report.html").exists():
        status = f"{status} (no report.html!)"
    return seconds, cpu, cluster_s, f"{status}; {phases}", table


def original_pipeline(
    sim: object, work: Path, threads: int
) -> tuple[float, float, dict[str, float], dict[str, float], pd.DataFrame]:
    """The original service's pipeline, samples one after another, then R: (seconds, CPU
    seconds, seconds per sample, R's seconds by part, R's results table)."""
    groups: dict[str, list[str]] = sim.groups
    control, treatment = list(groups)[:2]
    counts_dir, r_out = work / "htseq", work / "r"
    counts_dir.mkdir(parents=True)
    r_out.mkdir()
    script = work / "deseq2.R"
    script.write_text(R_SCRIPT)
    per_sample: dict[str, float] = {}
    c0, t0 = cpu_seconds(), time.perf_counter()
    rows = []
    for group, samples in groups.items():
        for sample in samples:
            seconds, counts = reference_path(sim, sample, work, threads)
            per_sample[sample] = seconds
            name = f"{sample}.htseq.txt"
            counts.to_csv(counts_dir / name, sep="\t", header=False)
            rows.append((sample, name, group))
    pd.DataFrame(rows, columns=["sample", "file", "group"]).to_csv(
        counts_dir / "samples.tsv", sep="\t", index=False
    )
    t1 = time.perf_counter()
    proc = subprocess.run(
        ["Rscript", str(script), str(counts_dir), control, treatment, str(r_out)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"Rscript failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    r_stdout = proc.stdout
    r_s = time.perf_counter() - t1
    lib_s, deseq_s, out_s = (float(x) for x in r_stdout.split("timings")[-1].split())
    r_parts = {
        "R start": r_s - lib_s - deseq_s - out_s,
        "library(DESeq2)": lib_s,
        "DESeq + results": deseq_s,
        "CSV + MA plots": out_s,
    }
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    for made in ("results.csv", "ma_plot.png", "ma_plot.pdf"):
        assert (r_out / made).stat().st_size > 0, f"R wrote no {made}"
    return seconds, cpu, per_sample, r_parts, pd.read_csv(r_out / "results.csv")


def calls(table: pd.DataFrame) -> set[str]:
    if table.empty:
        return set()
    return set(table.loc[table["padj"] < 0.05, "gene_id"].astype(str))


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--pairs", type=int, default=300_000)
    p.add_argument("--genes", type=int, default=1000)
    p.add_argument("--samples-per-group", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--easy", action="store_true", help="the simulator's defaults (no hard cases)")
    p.add_argument(
        "--also-genome", action="store_true", help="also the same job with the genome quantifier"
    )
    a = p.parse_args()
    ensure_tools()
    ensure_r()
    with tempfile.TemporaryDirectory(prefix="genejobs-bench-job-") as tmp:
        root = Path(tmp)
        sim = simulate(
            root / "sim",
            SimConfig(
                n_genes=a.genes,
                pairs_per_sample=a.pairs,
                samples_per_group=a.samples_per_group,
                seed=a.seed,
                **({} if a.easy else HARD),
            ),
        )
        t0 = time.perf_counter()
        registry = ReferenceRegistry(root / "refs")
        registry.add("b", Path(sim.genome), [("a.gtf", Path(sim.gtf))])
        ref = registry.resolve("b", "a.gtf")
        assert ref.transcriptome_path is not None, "salmon is not installed"
        add_s = time.perf_counter() - t0
        original = root / "original"
        t0 = time.perf_counter()
        idx = original / "hisat2" / "genome"  # where reference_path looks for it
        idx.parent.mkdir(parents=True)
        run(["hisat2-build", "-p", str(a.threads), sim.genome, str(idx)])
        hisat2_build_s = time.perf_counter() - t0

        n = sum(len(s) for s in sim.groups.values())
        print(
            f"{n} samples x {a.pairs:,} pairs, {a.genes} genes "
            f"({'easy' if a.easy else 'hard'} simulation, seed {a.seed}), {a.threads} threads, "
            f"one run each; not timed: ref add incl. salmon index {add_s:.1f} s, "
            f"hisat2-build {hisat2_build_s:.1f} s"
        )
        print(f"load average at start: {load()}")
        tx_s, tx_cpu, tx_cluster, tx_status, tx_table = genejobs_job(
            root, sim, quantifier="transcripts", threads=a.threads
        )
        print(
            f"genejobs, transcripts: {tx_s:8.1f} s wall, {tx_cpu:7.1f} CPU s  {tx_status}  "
            f"(+ {tx_cluster:.1f} s starting the Dask cluster, not in the wall time; "
            "the CPU includes the cluster's start and stop)"
        )
        genome = None
        if a.also_genome:
            genome = genejobs_job(root, sim, quantifier="genome", threads=a.threads)
            print(
                f"genejobs, genome:      {genome[0]:8.1f} s wall, {genome[1]:7.1f} CPU s  "
                f"{genome[3]}  (+ {genome[2]:.1f} s starting the Dask cluster)"
            )
        orig_s, orig_cpu, per_sample, r_parts, r_table = original_pipeline(sim, original, a.threads)
        print(
            f"original pipeline:     {orig_s:8.1f} s wall, {orig_cpu:7.1f} CPU s  "
            f"(samples {sum(per_sample.values()):.1f} s: "
            + ", ".join(f"{s} {x:.1f}" for s, x in per_sample.items())
            + f"; R {sum(r_parts.values()):.1f} s: "
            + ", ".join(f"{k} {x:.1f}" for k, x in r_parts.items())
            + ")"
        )
        print(f"load average at end: {load()}")
        for name, status in [("transcripts", tx_status), ("genome", genome and genome[3])]:
            if status and not status.startswith("FINISHED;"):
                print(f"WARNING: the genejobs {name} job ended {status}: its time means nothing")
        ratio = orig_s / tx_s
        print(
            f"ratio original / genejobs-transcripts: {ratio:.2f}x wall "
            f"({orig_cpu / tx_cpu:.2f}x CPU) -> target {TARGET:g}x "
            f"{'met' if ratio >= TARGET else 'NOT met'}"
            + (f"; original / genejobs-genome: {orig_s / genome[0]:.2f}x" if genome else "")
        )
        truth = pd.read_csv(sim.truth_genes, index_col="gene_id")
        is_de = truth["is_de"].astype(str) == "True"
        true_de = set(truth.index[is_de].astype(str))
        sides = {"genejobs-transcripts": tx_table, "original (R)": r_table}
        if genome:
            sides["genejobs-genome"] = genome[4]
        for name, table in sides.items():
            got = calls(table)
            hit = len(got & true_de)
            print(
                f"DE calls (padj < 0.05) {name}: {len(got)} of {len(table)} genes; vs the "
                f"{len(true_de)} simulated DE genes: precision {hit / max(1, len(got)):.3f}, "
                f"recall {hit / max(1, len(true_de)):.3f}"
            )
        ours, theirs = calls(tx_table), calls(r_table)
        print(
            f"sanity: genejobs-transcripts {len(ours)} vs original {len(theirs)} calls, "
            f"both {len(ours & theirs)}, Jaccard {len(ours & theirs) / max(1, len(ours | theirs)):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
