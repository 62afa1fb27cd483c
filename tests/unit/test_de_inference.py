"""genejobs' vectorised inference gives pydeseq2's own answers (its loops, per gene)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from genejobs.pipeline.de_inference import VectorisedInference, make_inference


def _counts(n_genes: int = 400, seed: int = 11) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    base = rng.lognormal(3, 1.5, n_genes)
    lfc = np.where(rng.random(n_genes) < 0.15, rng.choice([-2.0, 2.0], n_genes), 0.0)
    disp = 0.05 + 1 / np.maximum(base, 1)
    samples = {f"K{i}": 0.0 for i in range(3)} | {f"W{i}": 1.0 for i in range(3)}
    data = {}
    for name, treated in samples.items():
        mean = base * 2 ** (lfc * treated) * rng.uniform(0.7, 1.3)
        data[name] = rng.negative_binomial(1 / disp, 1 / (1 + mean * disp))
    counts = pd.DataFrame(data, index=[f"G{i}" for i in range(n_genes)])
    counts.iloc[:3] = 0  # all-zero genes
    counts.iloc[3, 0] = 5000  # a Cook's outlier
    meta = pd.DataFrame(
        {"group": ["K" if n.startswith("K") else "W" for n in samples]}, index=list(samples)
    )
    return counts, meta


def _fit(counts: pd.DataFrame, meta: pd.DataFrame, inference) -> pd.DataFrame:
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dds = DeseqDataSet(
            counts=counts.T, metadata=meta, design="~group", inference=inference, quiet=True
        )
        dds.deseq2()
        stats = DeseqStats(dds, contrast=["group", "W", "K"], inference=inference, quiet=True)
        stats.summary()
    return stats.results_df


@pytest.mark.parametrize("seed", [11, 12])
def test_results_match_pydeseq2_default_inference(seed: int) -> None:
    from pydeseq2.default_inference import DefaultInference

    counts, meta = _counts(seed=seed)
    ours = _fit(counts, meta, VectorisedInference(n_cpus=1))
    theirs = _fit(counts, meta, DefaultInference(n_cpus=1))
    for column in ("baseMean", "log2FoldChange", "pvalue", "padj"):
        a, b = ours[column].to_numpy(), theirs[column].to_numpy()
        assert (np.isnan(a) == np.isnan(b)).all(), column
    lfc_gap = np.abs(ours["log2FoldChange"] - theirs["log2FoldChange"]).dropna()
    assert (lfc_gap < 0.01).mean() >= 0.99 and np.median(lfc_gap) < 1e-3
    called = set(ours.index[ours["padj"] < 0.05])
    expected = set(theirs.index[theirs["padj"] < 0.05])
    assert len(called ^ expected) <= max(1, len(expected) // 50)


def test_irls_and_wald_are_exactly_pydeseq2s() -> None:
    from pydeseq2.default_inference import DefaultInference

    counts, _ = _counts()
    y = counts.to_numpy().T[:, 3:].astype(float)
    x = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]]).astype(float)
    sf = np.array([0.9, 1.1, 1.0, 0.95, 1.05, 1.0])
    disp = np.full(y.shape[1], 0.1)
    ours = VectorisedInference(n_cpus=1).irls(y, sf, x, disp, 0.5, 1e-8)
    theirs = DefaultInference(n_cpus=1).irls(y, sf, x, disp, 0.5, 1e-8)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-6, atol=1e-9)
    lfc, mu = ours[0], ours[1]
    contrast, ridge = np.array([0.0, 1.0]), np.eye(2) * 1e-6
    w_ours = VectorisedInference(n_cpus=1).wald_test(x, disp, lfc, mu, ridge, contrast, 0.0)
    w_theirs = DefaultInference(n_cpus=1).wald_test(x, disp, lfc, mu, ridge, contrast, 0.0)
    for a, b in zip(w_ours, w_theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9)


def test_an_unchecked_pydeseq2_version_falls_back_to_its_own_inference_and_says_so() -> None:
    from pydeseq2.default_inference import DefaultInference

    ours, note = make_inference(1, installed="0.5.4")
    assert isinstance(ours, VectorisedInference) and note is None
    for other in ("0.6.0", "0.50.1", "1.0"):
        theirs, note = make_inference(1, installed=other)
        assert type(theirs) is DefaultInference
        assert note is not None and f"pydeseq2 {other} is not a version" in note
