"""Likelihood-ratio tests: genejobs against R DESeq2's ``DESeq(test="LRT", reduced=...)``.

Two designs on negative-binomial counts (dispersion 0.04 + 1.5/mean):

- ``timecourse``: 2 batches x 3 times, 2 samples each; ``~ batch + group`` vs ``~ batch``;
- ``interaction``: 2 genotypes x 2 treatments, 3 samples each;
  ``~ genotype + group + genotype:group`` vs ``~ genotype + group``.

``--golden DIR`` writes counts, sample sheet and R's ``results()`` (statistic, p, padj,
and the last coefficient's fold change) to DIR; without it, genejobs is compared with
the goldens in tests/data/deseq2_lrt and the LRT's time is set against a Wald test's
on the same counts (each best of 3, one process, 1 core as the machine runs it).

    .venv/bin/python bench/bench_de_lrt.py --golden tests/data/deseq2_lrt
    .venv/bin/python bench/bench_de_lrt.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "data" / "deseq2_lrt"

# name -> (covariate, its levels, group levels, replicates, interactions, reduced terms)
CASES: dict[str, tuple[str, list[str], list[str], int, list[str], list[str]]] = {
    "timecourse": ("batch", ["b1", "b2"], ["t0", "t1", "t2"], 2, [], ["batch"]),
    "interaction": (
        "genotype",
        ["WT", "KO"],
        ["ctrl", "trt"],
        3,
        ["genotype:group"],
        ["genotype", "group"],
    ),
}

R_LRT = r"""
suppressMessages(library(DESeq2))
a <- commandArgs(TRUE)
counts <- as.matrix(read.csv(a[1], row.names = 1, check.names = FALSE))
coldata <- read.csv(a[2], row.names = 1, stringsAsFactors = FALSE)
for (v in colnames(coldata)) coldata[[v]] <- factor(coldata[[v]], levels = unique(coldata[[v]]))
dds <- DESeqDataSetFromMatrix(counts[, rownames(coldata)], coldata, as.formula(a[3]))
dds <- DESeq(dds, test = "LRT", reduced = as.formula(a[4]), quiet = TRUE)
res <- results(dds)
out <- data.frame(gene_id = rownames(res), as.data.frame(res), check.names = FALSE)
write.csv(out, gzfile(a[5]), row.names = FALSE, quote = FALSE)
writeLines(resultsNames(dds)[length(resultsNames(dds))], a[6])
"""


def simulate(name: str, n_genes: int = 3000, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts (genes x samples) and the sample sheet (covariate, group) of one case."""
    covariate, cov_levels, groups, reps, interactions, _ = CASES[name]
    rng = np.random.default_rng(seed)
    base = np.exp(rng.normal(np.log(80.0), 2.0, n_genes))
    disp = (0.04 + 1.5 / base) * np.exp(rng.normal(0.0, 0.5, n_genes))

    def effects(k: int) -> np.ndarray:
        hit = rng.random((n_genes, k)) < 0.1
        return np.where(hit, rng.normal(0.0, 1.5, (n_genes, k)), 0.0)

    cov_fx, grp_fx, int_fx = effects(len(cov_levels)), effects(len(groups)), effects(1)
    cov_fx[:, 0] = grp_fx[:, 0] = 0.0
    rows, cols = [], {}
    for ci, c in enumerate(cov_levels):
        for gi, g in enumerate(groups):
            for r in range(reps):
                sample = f"{c}_{g}_{r + 1}"
                lfc = cov_fx[:, ci] + grp_fx[:, gi]
                if interactions and ci > 0 and gi > 0:
                    lfc = lfc + int_fx[:, 0]
                mu = base * 2.0**lfc * np.exp(rng.normal(0.0, 0.2))
                size = 1.0 / disp
                cols[sample] = rng.negative_binomial(size, size / (size + mu))
                rows.append({"sample": sample, covariate: c, "group": g})
    counts = pd.DataFrame(
        cols, index=pd.Index([f"L{i:05d}" for i in range(n_genes)], name="gene_id")
    )
    return counts, pd.DataFrame(rows).set_index("sample")


def formulas(name: str) -> tuple[str, str]:
    covariate, _, _, _, interactions, reduced = CASES[name]
    full = "~ " + " + ".join([covariate, "group", *interactions])
    return full, "~ " + (" + ".join(reduced) if reduced else "1")


def make_goldens(golden: Path) -> None:
    golden.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "lrt.R"
        script.write_text(R_LRT)
        for name in CASES:
            counts, sheet = simulate(name)
            counts.to_csv(golden / f"{name}_counts.csv.gz")
            sheet.to_csv(golden / f"{name}_samples.csv")
            full, reduced = formulas(name)
            subprocess.run(
                [
                    "Rscript",
                    str(script),
                    str(golden / f"{name}_counts.csv.gz"),
                    str(golden / f"{name}_samples.csv"),
                    full,
                    reduced,
                    str(golden / f"r_{name}.csv.gz"),
                    str(golden / f"r_{name}_coefficient.txt"),
                ],
                check=True,
            )
            print(f"{name}: {full} vs {reduced} written", flush=True)


def run_ours(name: str, golden: Path, test: str = "LRT") -> pd.DataFrame:
    """genejobs' table for one stored case (``test="Wald"``: the group comparisons)."""
    from genejobs.pipeline.de import run_differential_expression

    covariate, _, _, _, interactions, reduced = CASES[name]
    counts = pd.read_csv(golden / f"{name}_counts.csv.gz", index_col=0)
    sheet = pd.read_csv(golden / f"{name}_samples.csv", index_col=0)
    res = run_differential_expression(
        counts[list(sheet.index)],
        dict(sheet["group"]),
        {},
        [],
        covariates=[(covariate, dict(sheet[covariate]))],
        interactions=interactions,
        test=test,
        reduced=reduced if test == "LRT" else (),
    )
    return res.table.set_index("gene_id")


def agreement(ours: pd.DataFrame, r: pd.DataFrame) -> dict[str, float]:
    r = r.reindex(ours.index)
    both = ours["pvalue"].notna() & r["pvalue"].notna()
    calls_o, calls_r = set(ours.index[ours["padj"] < 0.05]), set(r.index[r["padj"] < 0.05])
    lfc = (ours["log2FoldChange"] - r["log2FoldChange"]).abs().dropna()
    stat_gap = (ours.loc[both, "stat"] / r.loc[both, "stat"] - 1).abs()
    return {
        "na_diff_frac": float((ours["padj"].isna() != r["padj"].isna()).mean()),
        "calls_r": float(len(calls_r)),
        "jaccard": len(calls_o & calls_r) / max(1, len(calls_o | calls_r)),
        "lfc_within_0.01": float((lfc <= 0.01).mean()),
        "stat_within_1pct": float((stat_gap <= 0.01).mean()),
        "p_spearman": float(spearmanr(ours.loc[both, "pvalue"], r.loc[both, "pvalue"]).statistic),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--golden", type=Path)
    a = ap.parse_args()
    if a.golden:
        make_goldens(a.golden)
        return 0
    for name in CASES:
        r = pd.read_csv(GOLDEN / f"r_{name}.csv.gz", index_col="gene_id")
        m = agreement(run_ours(name, GOLDEN), r)
        print(f"{name}: " + ", ".join(f"{k}={v:.4g}" for k, v in m.items()), flush=True)
        times = {}
        for test in ("Wald", "LRT"):
            best = np.inf
            for _ in range(3):
                t0 = time.perf_counter()
                run_ours(name, GOLDEN, test)
                best = min(best, time.perf_counter() - t0)
            times[test] = best
        print(
            f"{name}: Wald {times['Wald']:.2f} s, LRT {times['LRT']:.2f} s, "
            f"LRT/Wald {times['LRT'] / times['Wald']:.2f} (target <= 1.5)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
