"""Statistics, output files and the report on small synthetic data (no alignment)."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from genejobs.errors import ValidationError
from genejobs.pipeline.de import TABLE_COLUMNS, run_differential_expression
from genejobs.pipeline.outputs import write_job_outputs
from genejobs.pipeline.records import CountStats, LibraryType, ReadStats, SampleResult
from genejobs.report import render_report
from genejobs.storage import Storage


def _synthetic(n_genes: int = 400, seed: int = 3, groups=("K", "W"), per_group: int = 3):
    rng = np.random.default_rng(seed)
    base = rng.lognormal(np.log(200), 1.2, n_genes)
    lfc = np.zeros(n_genes)
    de = rng.random(n_genes) < 0.1
    lfc[de] = rng.choice([-1, 1], de.sum()) * rng.uniform(1.5, 3, de.sum())
    cols, data, sample_groups = [], [], {}
    for gi, g in enumerate(groups):
        for i in range(per_group):
            name = f"{g}{i + 1}"
            mu = base * (2.0 ** (lfc * gi))
            data.append(rng.poisson(rng.gamma(20, mu / 20)))
            cols.append(name)
            sample_groups[name] = g
    ids = [f"G{i:04d}" for i in range(n_genes)]
    counts = pd.DataFrame(np.array(data).T, index=ids, columns=cols)
    return counts, sample_groups, lfc, de


@pytest.fixture(scope="module")
def de_result():
    counts, groups, lfc, de = _synthetic()
    names = {g: f"name-{g}" for g in counts.index}
    return run_differential_expression(counts, groups, names, []), lfc, de


def test_fold_changes_follow_the_truth_and_calls_are_precise(de_result):
    result, lfc, de = de_result
    t = result.table
    assert list(t.columns) == TABLE_COLUMNS
    assert result.comparisons == ["W_vs_K"]
    rho = spearmanr(t.loc[de, "log2FoldChange"], lfc[de]).statistic
    assert rho > 0.9
    called = (t["padj"] < 0.05).to_numpy()
    assert called.sum() > 0.7 * de.sum()
    assert (called & de).sum() / called.sum() > 0.9


def test_several_comparisons_get_a_leading_comparison_column():
    counts, groups, _, _ = _synthetic(n_genes=150, groups=("K", "W", "X"), per_group=2)
    result = run_differential_expression(counts, groups, {}, [("K", "W"), ("W", "X")])
    assert list(result.table.columns) == ["comparison", *TABLE_COLUMNS]
    assert set(result.table["comparison"]) == {"W_vs_K", "X_vs_W"}
    assert len(result.table) == 2 * len(counts)


@pytest.mark.parametrize(
    ("groups", "comparisons", "message"),
    [
        ({"K1": "K", "W1": "W", "W2": "W"}, [], "at least two samples"),
        ({"K1": "K", "K2": "K", "W1": "W", "W2": "W"}, [("K", "Z")], "unknown group 'Z'"),
    ],
)
def test_bad_designs_are_refused_with_plain_messages(groups, comparisons, message):
    counts = pd.DataFrame(np.ones((5, len(groups)), dtype=int), columns=list(groups))
    with pytest.raises(ValidationError, match=message):
        run_differential_expression(counts, groups, {}, comparisons)


def test_all_zero_counts_are_refused():
    groups = {"K1": "K", "K2": "K", "W1": "W", "W2": "W"}
    counts = pd.DataFrame(np.zeros((5, 4), dtype=int), columns=list(groups))
    with pytest.raises(ValidationError, match="zero reads"):
        run_differential_expression(counts, groups, {}, [])


def _sample_results(result) -> list[SampleResult]:
    out = []
    for s in result.counts.columns:
        vec = result.counts[s].to_numpy()
        total = int(vec.sum())
        out.append(
            SampleResult(
                sample_name=s,
                gene_ids=list(result.counts.index),
                counts={lt.value: vec for lt in LibraryType},
                read_stats=ReadStats(pairs_in=total + 10, pairs_out=total + 10),
                count_stats=CountStats(
                    aligned=total + 5,
                    unique=total,
                    multimapped=5,
                    not_aligned=5,
                    no_feature={lt.value: 0 for lt in LibraryType},
                    ambiguous={lt.value: 0 for lt in LibraryType},
                    assigned={lt.value: total for lt in LibraryType},
                ),
            )
        )
    return out


def test_outputs_are_written_whole_with_the_table_last(tmp_path, de_result):
    result, _, _ = de_result
    storage = Storage(allowed_roots=(tmp_path,))
    samples = _sample_results(result)
    written = write_job_outputs(
        storage,
        table_uri=f"{tmp_path}/out/J.csv",
        artifacts_uri=f"{tmp_path}/out/J",
        de=result,
        sample_results=samples,
        library_type=LibraryType.FIRSTSTRAND,
        run_info={"job_id": "J"},
        extra_files={"report.html": b"<html></html>"},
    )
    assert list(written)[-1] == "table"
    table = pd.read_csv(tmp_path / "out" / "J.csv")
    assert list(table.columns) == TABLE_COLUMNS
    # most significant first, genes without an adjusted p-value last; every gene kept
    padj = table["padj"]
    assert (
        padj.dropna().is_monotonic_increasing
        and padj.isna().sum() == result.table["padj"].isna().sum()
    )
    assert padj.notna().iloc[: padj.notna().sum()].all()
    assert sorted(table["gene_id"]) == sorted(result.table["gene_id"])
    counts = pd.read_csv(tmp_path / "out/J/counts.csv", index_col=0)
    pd.testing.assert_frame_equal(counts, result.counts, check_names=False)
    summary = (tmp_path / "out/J/counts_summary/K1.htseq.txt").read_text().splitlines()
    assert summary[-5:][0].startswith("__no_feature\t")
    assert summary[-1] == "__alignment_not_unique\t5"
    assignment = pd.read_csv(tmp_path / "out/J/assignment.csv")
    assert list(assignment["sample"]) == list(result.counts.columns)
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_the_report_is_offline_self_contained_and_writes_figures_and_methods(de_result):
    result, _, _ = de_result
    job = {"job_id": "J1", "name": "liver study", "ref": "x", "runner_id": "host:1", "warnings": []}
    gsea = pd.DataFrame({"Term": ["UP", "DOWN"], "NES": [2.1, -1.8], "FDR q-val": [0.001, 0.02]})
    files = render_report(
        result,
        _sample_results(result),
        job=job,
        library_type=LibraryType.FIRSTSTRAND,
        enrichment={"W_vs_K_gsea_prerank": gsea},
    )
    page = files["report.html"].decode()
    assert '<figure id="fig-enrichment-W_vs_K"><img src="data:image/png;base64,' in page
    for fig in ("assignment", "pca", "distances", "dispersion", "volcano-W_vs_K", "ma-W_vs_K"):
        assert f"plots/{fig}.png" in files and f"plots/{fig}.svg" in files
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)
    assert not re.search(r'src="https?://', markup) and "<script src" not in page  # offline
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1  # plotly.js embedded once
    assert "liver study" in page and "runner_id" not in page and "host:1" not in page
    assert "{'" not in markup  # no Python dict reprs
    methods = files["methods.md"].decode()
    assert "PyDESeq2 0.5" in methods and "Love MI" in methods
    png = io.BytesIO(files["plots/volcano-W_vs_K.png"])
    assert png.read(8) == b"\x89PNG\r\n\x1a\n"
