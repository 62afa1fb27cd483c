"""DE step: genejobs (pydeseq2) vs R's DESeq2 on the same simulated counts and cores.

Times exactly ``run_differential_expression`` (Wald, BH, Cook's, independent
filtering, plus its VST) against R's ``DESeqDataSetFromMatrix`` + ``DESeq()`` +
``results(contrast=c("group", "treated", "control"))`` (defaults, no shrinkage)
and, separately, R's ``vst()``; start-up, imports and file I/O are excluded on
both sides. Each side runs in its own process, pinned to the same cores with
BLAS/OpenMP threads capped to match (R uses BiocParallel's MulticoreParam when
more than one core). R's DESeq2 comes from Debian (``r-bioc-deseq2``), installed
here if missing; genejobs never depends on R. Prints seconds, the speed ratio
(R time / genejobs time; ≥ 1 means genejobs is no slower), log2 fold-change and
padj agreement with R, and peak RSS.

    .venv/bin/python bench/bench_de.py --genes 3000 60000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

LFC_TOL = 0.01
LFC_TARGET = 0.99
CONTROL, TREATED = "control", "treated"

R_SCRIPT = r"""
suppressMessages(library(DESeq2))
suppressMessages(library(BiocParallel))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
ncpu <- as.integer(args[2])
out <- args[3]
counts <- as.matrix(read.delim(file.path(dir, "counts.tsv"), row.names = 1, check.names = FALSE))
coldata <- read.delim(file.path(dir, "coldata.tsv"), row.names = 1, stringsAsFactors = FALSE)
coldata$group <- factor(coldata$group, levels = c("control", "treated"))
kib <- function(key) {
  line <- grep(paste0("^", key, ":"), readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line))
}
par <- ncpu > 1
bp <- if (par) MulticoreParam(ncpu) else SerialParam()
invisible(gc())
rss0 <- kib("VmRSS")
t0 <- proc.time()[["elapsed"]]
dds <- DESeqDataSetFromMatrix(countData = counts, colData = coldata, design = ~group)
dds <- DESeq(dds, quiet = TRUE, parallel = par, BPPARAM = bp)
res <- results(dds, contrast = c("group", "treated", "control"), parallel = par, BPPARAM = bp)
t1 <- proc.time()[["elapsed"]]
vst_kind <- "vst"
v <- tryCatch(vst(dds, blind = TRUE), error = function(e) {
  vst_kind <<- "varianceStabilizingTransformation"
  varianceStabilizingTransformation(dds, blind = TRUE)
})
t2 <- proc.time()[["elapsed"]]
tab <- data.frame(gene_id = rownames(res), as.data.frame(res), check.names = FALSE)
write.table(tab, file.path(out, "results.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
meta <- sprintf(
  '{"de_s": %.6f, "vst_s": %.6f, "rss0_kib": %.0f, "hwm_kib": %.0f, "vst_kind": "%s", "version": "%s"}',
  t1 - t0, t2 - t1, rss0, kib("VmHWM"), vst_kind, as.character(packageVersion("DESeq2")))
writeLines(meta, file.path(out, "timing.json"))
"""


@dataclass
class Run:
    """One side's measurement: seconds (with and without VST), memory and its results."""

    total_s: float
    de_s: float
    vst_s: float
    peak_mib: float
    rss0_mib: float
    table: pd.DataFrame
    note: str = ""


def ensure_r() -> None:
    """Install Debian's r-bioc-deseq2 unless ``library(DESeq2)`` already loads."""
    probe = ["Rscript", "-e", "suppressMessages(library(DESeq2))"]
    try:
        if subprocess.run(probe, capture_output=True).returncode == 0:
            return
    except FileNotFoundError:
        pass
    print("installing r-bioc-deseq2 from Debian (bench only) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "r-bioc-deseq2"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(probe, check=True)


def simulate_counts(
    n_genes: int, per_group: int, seed: int
) -> tuple[pd.DataFrame, dict[str, str], np.ndarray]:
    """Negative-binomial counts: log-normal means, dispersion ≈ 0.05 + 1/mean, ~10% DE genes."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.normal(np.log(60.0), 2.0, n_genes))  # mean of the control group
    disp = (0.05 + 1.0 / base) * np.exp(rng.normal(0.0, 0.4, n_genes))
    lfc = np.zeros(n_genes)
    de = rng.random(n_genes) < 0.10
    lfc[de] = rng.choice([-1.0, 1.0], de.sum()) * rng.uniform(1.0, 3.0, de.sum())
    samples = [f"{g}_{i + 1}" for g in (CONTROL, TREATED) for i in range(per_group)]
    groups = {s: s.rsplit("_", 1)[0] for s in samples}
    size = np.exp(rng.normal(0.0, 0.25, len(samples)))
    cols = {}
    for j, s in enumerate(samples):
        mu = base * size[j] * (2.0**lfc if groups[s] == TREATED else 1.0)
        r = 1.0 / disp
        cols[s] = rng.negative_binomial(r, r / (r + mu))
    genes = [f"G{i:06d}" for i in range(n_genes)]
    return pd.DataFrame(cols, index=pd.Index(genes, name="gene_id")), groups, lfc


def limited_env(cpus: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(cpus)
    return env


def run_measured(cmd: list[str], cpus: int, log: Path) -> float:
    """Run ``cmd`` pinned to the first ``cpus`` cores; return the sampled peak RSS (MiB) of its tree."""
    cores = sorted(os.sched_getaffinity(0))[:cpus]
    with log.open("w") as fh:
        proc = subprocess.Popen(
            cmd,
            env=limited_env(cpus),
            stdout=fh,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: os.sched_setaffinity(0, cores),
        )
        root = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                procs = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.05)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    return peak / 2**20


def worker(data: Path, cpus: int, out: Path) -> None:
    """Child process: time one ``run_differential_expression`` call, VST time recorded inside."""
    import pydeseq2.default_inference  # noqa: F401  (imported inside the timed call otherwise)
    import pydeseq2.ds  # noqa: F401
    from pydeseq2.dds import DeseqDataSet

    from genejobs.pipeline.de import run_differential_expression

    counts = pd.read_csv(data / "counts.tsv", sep="\t", index_col=0)
    coldata = pd.read_csv(data / "coldata.tsv", sep="\t", index_col=0)
    groups = {str(s): str(g) for s, g in coldata["group"].items()}
    vst_spent = [0.0]
    original_vst = DeseqDataSet.vst

    def timed_vst(self: DeseqDataSet, *args: object, **kwargs: object) -> None:
        t = time.perf_counter()
        try:
            original_vst(self, *args, **kwargs)
        finally:
            vst_spent[0] += time.perf_counter() - t

    DeseqDataSet.vst = timed_vst
    rss0 = _status_kib("VmRSS")
    t0 = time.perf_counter()
    result = run_differential_expression(counts, groups, {}, [(CONTROL, TREATED)], n_cpus=cpus)
    total = time.perf_counter() - t0
    result.table.to_csv(out / "results.tsv", sep="\t", index=False)
    meta = {
        "total_s": total,
        "vst_s": vst_spent[0],
        "rss0_kib": rss0,
        "hwm_kib": _status_kib("VmHWM"),
        "notes": result.notes,
        "vst_ok": result.vst is not None,
    }
    (out / "timing.json").write_text(json.dumps(meta))


def _status_kib(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return float(line.split()[1])
    return float("nan")


def run_genejobs(data: Path, cpus: int, work: Path) -> Run:
    out = work / f"py-{cpus}"
    out.mkdir(exist_ok=True)
    cmd = [sys.executable, __file__, "--worker", str(data), str(cpus), str(out)]
    peak = run_measured(cmd, cpus, out / "log.txt")
    meta = json.loads((out / "timing.json").read_text())
    table = pd.read_csv(out / "results.tsv", sep="\t", index_col="gene_id")
    return Run(
        total_s=meta["total_s"],
        de_s=meta["total_s"] - meta["vst_s"],
        vst_s=meta["vst_s"],
        peak_mib=max(peak, meta["hwm_kib"] / 1024),
        rss0_mib=meta["rss0_kib"] / 1024,
        table=table,
        note="" if meta["vst_ok"] else "VST failed",
    )


def run_r(data: Path, cpus: int, work: Path) -> Run:
    out = work / f"r-{cpus}"
    out.mkdir(exist_ok=True)
    script = work / "deseq2.R"
    script.write_text(R_SCRIPT)
    peak = run_measured(["Rscript", str(script), str(data), str(cpus), str(out)], cpus, out / "log")
    meta = json.loads((out / "timing.json").read_text())
    table = pd.read_csv(out / "results.tsv", sep="\t", index_col="gene_id")
    return Run(
        total_s=meta["de_s"] + meta["vst_s"],
        de_s=meta["de_s"],
        vst_s=meta["vst_s"],
        peak_mib=max(peak, meta["hwm_kib"] / 1024),
        rss0_mib=meta["rss0_kib"] / 1024,
        table=table,
        note=f"DESeq2 {meta['version']}, {meta['vst_kind']}()",
    )


def best_of(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.total_s)


def verdict(ok: bool) -> str:
    return "target met" if ok else "target NOT met"


def agreement(ours: pd.DataFrame, ref: pd.DataFrame) -> dict[str, float]:
    """LFC and padj agreement over genes present on both sides."""
    from scipy.stats import spearmanr

    ref = ref.reindex(ours.index)
    a, b = ours["log2FoldChange"], ref["log2FoldChange"]
    both = a.notna() & b.notna()
    diff = (a[both] - b[both]).abs()
    pa, pb = ours["padj"], ref["padj"]
    pboth = pa.notna() & pb.notna()
    la = -np.log10(pa[pboth].clip(lower=1e-300))
    lb = -np.log10(pb[pboth].clip(lower=1e-300))
    call_a = set(pa.index[pa < 0.05])
    call_b = set(pb.index[pb < 0.05])
    return {
        "n_lfc": int(both.sum()),
        "lfc_na_one_side": int((a.notna() ^ b.notna()).sum()),
        "frac_lfc_ok": float((diff <= LFC_TOL).mean()) if len(diff) else float("nan"),
        "median_dlfc": float(diff.median()),
        "max_dlfc": float(diff.max()),
        "n_padj": int(pboth.sum()),
        "padj_na_one_side": int((pa.notna() ^ pb.notna()).sum()),
        "spearman_padj": float(spearmanr(la, lb).statistic),
        "calls_ours": len(call_a),
        "calls_ref": len(call_b),
        "calls_both": len(call_a & call_b),
        "jaccard": len(call_a & call_b) / max(1, len(call_a | call_b)),
    }


def bench_size(n_genes: int, a: argparse.Namespace, cpus_list: list[int]) -> list[dict]:
    counts, groups, true_lfc = simulate_counts(n_genes, a.samples_per_group, a.seed)
    rows = []
    print(
        f"\n== {n_genes:,} genes, 2 groups x {a.samples_per_group} samples, seed {a.seed}: "
        f"{int((counts.sum(axis=1) == 0).sum()):,} all-zero genes, "
        f"{int((true_lfc != 0).sum()):,} simulated DE =="
    )
    with tempfile.TemporaryDirectory(prefix="genejobs-bench-de-") as tmp:
        work = Path(tmp)
        data = work / "data"
        data.mkdir()
        counts.to_csv(data / "counts.tsv", sep="\t")
        pd.DataFrame({"group": pd.Series(groups)}).rename_axis("sample").to_csv(
            data / "coldata.tsv", sep="\t"
        )
        for cpus in cpus_list:
            ours = best_of([run_genejobs(data, cpus, work) for _ in range(a.repeats)])
            ref = best_of([run_r(data, cpus, work) for _ in range(a.repeats)])
            agr = agreement(ours.table, ref.table)
            full, de_only = ref.total_s / ours.total_s, ref.de_s / ours.de_s
            print(f"-- cores: {cpus} (best of {a.repeats})")
            print(
                f"   genejobs : {ours.total_s:8.2f} s = DE {ours.de_s:7.2f} s + VST {ours.vst_s:6.2f} s"
                f"   peak RSS {ours.peak_mib:7,.0f} MiB ({ours.rss0_mib:,.0f} before the call)"
                f"  {ours.note}"
            )
            print(
                f"   R DESeq2 : {ref.total_s:8.2f} s = DE {ref.de_s:7.2f} s + VST {ref.vst_s:6.2f} s"
                f"   peak RSS {ref.peak_mib:7,.0f} MiB ({ref.rss0_mib:,.0f} before the call)"
                f"  {ref.note}"
            )
            print(
                f"   speed ratio R/genejobs: whole call incl. VST {full:5.2f}x -> {verdict(full >= 1)};"
                f"  DE only (no VST either side) {de_only:5.2f}x -> {verdict(de_only >= 1)}"
            )
            print(
                f"   LFC: {agr['frac_lfc_ok']:.2%} of {agr['n_lfc']:,} genes within {LFC_TOL} of R"
                f" -> {verdict(agr['frac_lfc_ok'] >= LFC_TARGET)}"
                f"  (median |d| {agr['median_dlfc']:.2g}, max {agr['max_dlfc']:.3g},"
                f" NA on one side only: {agr['lfc_na_one_side']})"
            )
            print(
                f"   padj: Spearman of -log10 padj {agr['spearman_padj']:.4f} over {agr['n_padj']:,}"
                f" genes; padj<0.05 genejobs {agr['calls_ours']:,}, R {agr['calls_ref']:,},"
                f" both {agr['calls_both']:,} (Jaccard {agr['jaccard']:.3f});"
                f" padj NA on one side only: {agr['padj_na_one_side']:,}"
            )
            rows.append({"genes": n_genes, "cpus": cpus, "full": full, "de_only": de_only, **agr})
    return rows


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
        return 0
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--genes", type=int, nargs="+", default=[3000, 60000])
    p.add_argument("--samples-per-group", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--cpus", type=int, nargs="+", default=[1, 2], help="cores per side")
    p.add_argument("--repeats", type=int, default=1, help="best of N runs per side")
    a = p.parse_args()
    cpus_list = [c for c in a.cpus if c <= len(os.sched_getaffinity(0))]
    ensure_r()
    rows = [row for n in a.genes for row in bench_size(n, a, cpus_list)]
    print("\nsummary (ratio = R time / genejobs time; LFC = share within 0.01 of R):")
    for r in rows:
        print(
            f"  {r['genes']:>7,} genes, {r['cpus']} core(s): incl. VST {r['full']:5.2f}x,"
            f" DE only {r['de_only']:5.2f}x, LFC {r['frac_lfc_ok']:.2%}"
            f" -> speed {verdict(r['full'] >= 1)}, LFC {verdict(r['frac_lfc_ok'] >= LFC_TARGET)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
