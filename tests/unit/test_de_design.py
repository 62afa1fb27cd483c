"""Designs beyond ~group: R's own DESeq2 answers for ~ batch + group, and pydeseq2's own
shrinkage and threshold tests, against genejobs' run_differential_expression."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from genejobs.pipeline.de import design_matrix, run_differential_expression
from genejobs.pipeline.de_inference import R_LAMBDA_LOG2, RDeseqDataSet, VectorisedInference

GOLDEN = Path(__file__).parent.parent / "data" / "deseq2_batch"


def _golden() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    counts = pd.read_csv(GOLDEN / "counts.csv", index_col=0)
    coldata = pd.read_csv(GOLDEN / "coldata.csv", index_col=0)
    r = pd.read_csv(GOLDEN / "r_results.csv", index_col="gene_id")
    return counts, coldata, r


def _ours(counts, coldata, **kw) -> pd.DataFrame:
    covs = [("batch", dict(coldata["batch"]))] if "batch" in coldata else []
    res = run_differential_expression(
        counts, dict(coldata["group"]), {}, [("K", "W")], covariates=covs, **kw
    )
    assert res.design == ("~ batch + group" if covs else "~ group")
    return res.table.set_index("gene_id")


def _agree(ours: pd.DataFrame, r: pd.DataFrame, padj: str) -> None:
    r = r.reindex(ours.index)
    gap = (ours["log2FoldChange"] - r["log2FoldChange"]).abs().dropna()
    assert len(gap) >= 0.9 * len(ours)
    assert (gap <= 0.01).mean() >= 0.99, gap.describe()
    called = set(ours.index[ours["padj"] < 0.05])
    expected = set(r.index[r[padj] < 0.05])
    assert len(expected) >= 5
    assert len(called ^ expected) <= 2, (called - expected, expected - called)


def test_batch_and_group_matches_r_deseq2() -> None:
    counts, coldata, r = _golden()
    ours = _ours(counts, coldata)
    _agree(ours, r, "padj")
    # The batch matters here: leaving it out changes the answer.
    plain = _ours(counts, coldata.drop(columns="batch"))
    assert (plain["log2FoldChange"] - ours["log2FoldChange"]).abs().max() > 0.1


def test_lfc_threshold_matches_r_greater_abs() -> None:
    counts, coldata, r = _golden()
    ours = _ours(counts, coldata, lfc_threshold=1.0)
    assert (ours["lfc_threshold"] == 1.0).all()
    _agree(ours, r, "thr1_padj")
    theirs = r["thr1_pvalue"].reindex(ours.index)
    both = ours["pvalue"].notna() & theirs.notna()
    close = np.isclose(ours.loc[both, "pvalue"], theirs[both], rtol=0.05, atol=1e-3)
    assert close.mean() >= 0.99
    # The threshold test calls fewer genes than the test against zero.
    assert (ours["padj"] < 0.05).sum() < (_ours(counts, coldata)["padj"] < 0.05).sum()


def _pydeseq2(counts, meta, design, contrast, **kw):
    from pydeseq2.ds import DeseqStats

    inference = VectorisedInference(n_cpus=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dds = RDeseqDataSet(
            counts=counts.T, metadata=meta, design=design, inference=inference, quiet=True
        )
        dds.deseq2()
        stats = DeseqStats(dds, contrast=contrast, inference=inference, quiet=True, **kw)
        stats.summary()
    return stats


def _pydeseq2s_own_shrink(stats) -> None:
    """pydeseq2's lfc_shrink with its own per-gene optimiser (the fit may be ours: same)."""
    from pydeseq2.default_inference import DefaultInference

    stats.inference = DefaultInference(n_cpus=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats.lfc_shrink(coeff="group[T.W]")


def _small(n_genes: int = 60, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts, coldata, _ = _golden()
    rng = np.random.default_rng(seed)
    return counts.iloc[rng.choice(len(counts), n_genes, replace=False)], coldata


def test_threshold_equals_pydeseq2s_own_greater_abs_test() -> None:
    from pydeseq2.default_inference import DefaultInference

    counts, coldata = _small()
    stats = _pydeseq2(
        counts,
        coldata,
        "~batch + group",
        ["group", "W", "K"],
        lfc_null=1.0,
        alt_hypothesis="greaterAbs",
    )
    theirs = stats.results_df
    # pydeseq2's per-gene test on the same fit gives the same numbers, given DESeq2's
    # ridge (1e-6 on the log2 scale) and means floored at 0.5, which ours uses.
    own = DefaultInference(n_cpus=1).wald_test(
        stats.design_matrix.values,
        stats.dds.var["dispersions"].values,
        stats.LFC.values,
        np.maximum(
            np.exp(stats.design_matrix.values @ stats.LFC.values.T)
            * stats.dds.obs["size_factors"].values[:, None],
            0.5,
        ),
        np.diag(np.repeat(R_LAMBDA_LOG2 / np.log(2) ** 2, stats.design_matrix.shape[1])),
        stats.contrast_vector,
        np.log(2) * 1.0,
        "greaterAbs",
    )
    np.testing.assert_allclose(stats.p_values.to_numpy(), own[0], rtol=1e-9)
    ours = _ours(counts, coldata, lfc_threshold=1.0)
    np.testing.assert_allclose(ours["pvalue"], theirs["pvalue"], rtol=1e-4)
    assert set(ours.index[ours["padj"] < 0.05]) == set(theirs.index[theirs["padj"] < 0.05])


def test_shrunken_fold_changes_are_pydeseq2s_lfc_shrink() -> None:
    counts, coldata = _small()
    stats = _pydeseq2(counts, coldata, "~batch + group", ["group", "W", "K"])
    mle = stats.results_df["log2FoldChange"].copy()
    _pydeseq2s_own_shrink(stats)
    theirs = stats.results_df["log2FoldChange"]
    ours = _ours(counts, coldata, shrink=True)
    np.testing.assert_allclose(ours["log2FoldChange"], mle, rtol=1e-5, atol=1e-6)
    gap = (ours["lfc_shrunk"] - theirs).abs().dropna()
    assert (gap <= 0.01).mean() >= 0.99, gap.describe()
    # Shrinkage pulls the noisy fold changes towards zero, never away from it overall.
    assert ours["lfc_shrunk"].abs().sum() < ours["log2FoldChange"].abs().sum()


def test_shrinking_a_comparison_between_two_non_reference_groups() -> None:
    """W vs V with K as the first group: pydeseq2 shrinks it once V is the reference."""
    counts, coldata = _small(50, seed=5)
    counts = pd.concat([counts, counts.iloc[:, [4, 5, 6]].add_suffix("v")], axis=1)
    counts.columns = [*coldata.index, "V1", "V2", "V3"]
    rng = np.random.default_rng(1)
    counts[["V1", "V2", "V3"]] = rng.poisson(counts[["V1", "V2", "V3"]].to_numpy() * 1.3 + 1)
    groups = {**dict(coldata["group"]), "V1": "V", "V2": "V", "V3": "V"}
    meta = pd.DataFrame(
        {"group": pd.Categorical(groups.values(), categories=["V", "K", "W"])}, index=list(groups)
    )
    stats = _pydeseq2(counts[list(groups)], meta, "~group", ["group", "W", "V"])
    _pydeseq2s_own_shrink(stats)
    theirs = stats.results_df["log2FoldChange"]
    res = run_differential_expression(counts, groups, {}, [("V", "W")], shrink=True)
    ours = res.table.set_index("gene_id")["lfc_shrunk"]
    gap = (ours - theirs).abs().dropna()
    assert (gap <= 0.01).mean() >= 0.99, gap.describe()


def test_the_design_matrix_is_r_model_matrix() -> None:
    d = design_matrix(["K", "K", "W", "W"], [("batch", ["b1", "b2", "b1", "b2"])])
    assert d.columns == ["Intercept", "batch[T.b2]", "group[T.W]"]
    np.testing.assert_array_equal(d.matrix[:, 1], [0, 1, 0, 1])
    np.testing.assert_array_equal(d.contrast("K", "W"), [0, 0, 1])
    relevel = design_matrix(["K", "K", "W", "W"], reference="W")
    assert relevel.columns == ["Intercept", "group[T.K]"]


def test_preranked_gsea_ranks_by_the_shrunken_fold_change_when_there_is_one() -> None:
    from genejobs.pipeline.enrichment import run_enrichment

    n = 120
    genes = [f"g{i}" for i in range(n)]
    # The set's genes have the largest shrunken fold changes but the lowest Wald statistics.
    lfc = np.linspace(3, -3, n)
    table = pd.DataFrame(
        {
            "gene_id": genes,
            "gene_name": genes,
            "log2FoldChange": lfc,
            "stat": -lfc,
            "padj": 0.5,
        }
    )
    sets = {"S": genes[:15], "T": genes[40:60]}

    def nes(t: pd.DataFrame) -> float:
        res = run_enrichment(t, sets, label="W_vs_K", permutations=20).tables
        rows = res["W_vs_K_gsea_prerank"]
        return float(rows.loc[rows["Term"] == "S", "NES"].iloc[0])

    assert nes(table) < 0
    assert nes(table.assign(lfc_shrunk=lfc)) > 0
