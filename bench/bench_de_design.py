"""Multi-factor designs: genejobs against R's DESeq2 for ``~ batch + group`` (or, with
``--paired``, ``~ donor + group``).

Simulates negative-binomial counts with a batch effect (two groups, unbalanced
batches), runs R's ``DESeq()`` + ``results(contrast = c("group", "W", "K"))`` with
``design = ~ batch + group`` (and once more with ``lfcThreshold = 1``,
``altHypothesis = "greaterAbs"``), then genejobs' ``run_differential_expression``
with the same covariate, and prints how far apart they are: the share of genes whose
log2 fold change is within 0.01 of R's (target 99%) and the calls at padj < 0.05.
R's DESeq2 comes from Debian (``r-bioc-deseq2``), installed here if missing
(``bench_de.ensure_r``); genejobs never depends on R.

``--golden DIR`` also writes the inputs and R's answers as small CSV files
(``counts.csv``, ``coldata.csv``, ``r_results.csv``): tests/data/deseq2_batch/ was
made this way and tests/unit/test_de_design.py checks genejobs against it.

    .venv/bin/python bench/bench_de_design.py --genes 300 --golden tests/data/deseq2_batch
    .venv/bin/python bench/bench_de_design.py --genes 5000
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from bench_de import ensure_r  # bench/ is on sys.path: these run as scripts

LFC_TOL = 0.01

R_SCRIPT = r"""
suppressMessages(library(DESeq2))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
counts <- as.matrix(read.csv(file.path(dir, "counts.csv"), row.names = 1, check.names = FALSE))
coldata <- read.csv(file.path(dir, "coldata.csv"), row.names = 1, stringsAsFactors = FALSE)
covs <- setdiff(colnames(coldata), "group")
for (v in c(covs, "group")) coldata[[v]] <- factor(coldata[[v]], levels = unique(coldata[[v]]))
design <- as.formula(paste("~", paste(c(covs, "group"), collapse = " + ")))
dds <- DESeqDataSetFromMatrix(countData = counts, colData = coldata, design = design)
dds <- DESeq(dds, quiet = TRUE)
res <- results(dds, contrast = c("group", "W", "K"))
thr <- results(dds, contrast = c("group", "W", "K"), lfcThreshold = 1, altHypothesis = "greaterAbs")
out <- data.frame(
  gene_id = rownames(res), baseMean = res$baseMean, log2FoldChange = res$log2FoldChange,
  lfcSE = res$lfcSE, stat = res$stat, pvalue = res$pvalue, padj = res$padj,
  thr1_stat = thr$stat, thr1_pvalue = thr$pvalue, thr1_padj = thr$padj
)
write.csv(out, file.path(dir, "r_results.csv"), row.names = FALSE, quote = FALSE)
writeLines(as.character(packageVersion("DESeq2")), file.path(dir, "deseq2_version.txt"))
"""


def simulate(n_genes: int, seed: int, paired: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """2 groups x 4 samples in 2 unbalanced batches (or, ``paired``, 4 donors with one
    sample in each group); ~12% DE genes; a per-gene batch (donor) effect."""
    rng = np.random.default_rng(seed)
    base = np.exp(rng.normal(np.log(80.0), 1.8, n_genes))
    disp = (0.04 + 1.0 / base) * np.exp(rng.normal(0.0, 0.3, n_genes))
    lfc = np.where(rng.random(n_genes) < 0.12, rng.choice([-1.0, 1.0], n_genes), 0.0)
    lfc *= rng.uniform(0.8, 2.5, n_genes)
    batch_lfc = rng.normal(0.0, 0.8, n_genes)
    design = [("K1", "K", "b1"), ("K2", "K", "b1"), ("K3", "K", "b1"), ("K4", "K", "b2")]
    design += [("W1", "W", "b1"), ("W2", "W", "b2"), ("W3", "W", "b2"), ("W4", "W", "b2")]
    factor = "batch"
    if paired:
        design = [(f"{g}{i}", g, f"d{i}") for g in ("K", "W") for i in range(1, 5)]
        factor = "donor"
    donor_lfc = rng.normal(0.0, 0.8, (n_genes, 5)) if paired else None
    cols = {}
    for name, group, batch in design:
        size = np.exp(rng.normal(0.0, 0.2))
        shift = (
            donor_lfc[:, int(batch[1:])] if donor_lfc is not None else batch_lfc * (batch == "b2")
        )
        mu = base * size * 2.0 ** (lfc * (group == "W") + shift)
        r = 1.0 / disp
        cols[name] = rng.negative_binomial(r, r / (r + mu))
    counts = pd.DataFrame(
        cols, index=pd.Index([f"G{i:05d}" for i in range(n_genes)], name="gene_id")
    )
    counts.iloc[:2] = 0  # all-zero genes, as real tables have
    coldata = pd.DataFrame(
        {"group": [g for _, g, _ in design], factor: [b for *_, b in design]},
        index=pd.Index([n for n, *_ in design], name="sample"),
    )
    return counts, coldata


def run_r(folder: Path) -> pd.DataFrame:
    script = folder / "deseq2_design.R"
    script.write_text(R_SCRIPT)
    subprocess.run(["Rscript", str(script), str(folder)], check=True)
    script.unlink()
    return pd.read_csv(folder / "r_results.csv", index_col="gene_id")


def run_genejobs(counts: pd.DataFrame, coldata: pd.DataFrame, threshold: float = 0.0):
    from genejobs.pipeline.de import run_differential_expression

    result = run_differential_expression(
        counts,
        dict(coldata["group"]),
        {},
        [("K", "W")],
        covariates=[(c, dict(coldata[c])) for c in coldata.columns if c != "group"],
        lfc_threshold=threshold,
    )
    return result.table.set_index("gene_id")


def compare(ours: pd.DataFrame, r: pd.DataFrame, prefix: str = "") -> dict[str, float]:
    r = r.reindex(ours.index)
    gap = (ours["log2FoldChange"] - r["log2FoldChange"]).abs().dropna()
    a = set(ours.index[ours["padj"] < 0.05])
    b = set(r.index[r[f"{prefix}padj"] < 0.05])
    return {
        "lfc_within": float((gap <= LFC_TOL).mean()),
        "max_gap": float(gap.max()),
        "calls_ours": len(a),
        "calls_r": len(b),
        "calls_differ": len(a ^ b),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--genes", type=int, default=2000)
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--golden", type=Path, help="write counts, coldata and R's results here")
    p.add_argument("--paired", action="store_true", help="~ donor + group (4 donors)")
    a = p.parse_args()
    ensure_r()
    counts, coldata = simulate(a.genes, a.seed, a.paired)
    formula = "~ " + " + ".join([c for c in coldata.columns if c != "group"] + ["group"])
    with tempfile.TemporaryDirectory(prefix="genejobs-bench-design-") as tmp:
        folder = a.golden or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        counts.to_csv(folder / "counts.csv")
        coldata.to_csv(folder / "coldata.csv")
        r = run_r(folder)
        version = (folder / "deseq2_version.txt").read_text().strip()
    for threshold, prefix in ((0.0, ""), (1.0, "thr1_")):
        got = compare(run_genejobs(counts, coldata, threshold), r, prefix)
        print(
            f"{formula}, {a.genes} genes, lfcThreshold {threshold:g} (R DESeq2 {version}): "
            f"LFC within {LFC_TOL} of R for {got['lfc_within']:.2%} of genes (max gap "
            f"{got['max_gap']:.2g}); padj<0.05 genejobs {got['calls_ours']}, R {got['calls_r']}, "
            f"differing {got['calls_differ']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
