"""Likelihood-ratio tests against R DESeq2's ``DESeq(test="LRT", reduced=...)``.

Goldens: tests/data/deseq2_lrt, made by bench/bench_de_lrt.py (R DESeq2 1.38).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genejobs.errors import ValidationError
from genejobs.pipeline.de import design_matrix, run_differential_expression

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import bench_de_lrt as lrt  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "deseq2_lrt"


@pytest.mark.parametrize("name", ["timecourse", "interaction"])
def test_lrt_matches_r_deseq2(name: str) -> None:
    r = pd.read_csv(GOLDEN / f"r_{name}.csv.gz", index_col="gene_id")
    ours = lrt.run_ours(name, GOLDEN)
    m = lrt.agreement(ours, r)
    assert m["calls_r"] > 100, m
    assert m["na_diff_frac"] <= 0.005 and m["jaccard"] >= 0.99, m
    assert m["lfc_within_0.01"] >= 0.99 and m["stat_within_1pct"] >= 0.99, m
    assert m["p_spearman"] >= 0.999, m
    # The fold changes are those of R's last coefficient (resultsNames' last).
    named = (GOLDEN / f"r_{name}_coefficient.txt").read_text().strip()
    assert named in {"group_t2_vs_t0", "genotypeKO.grouptrt"}


def test_the_lrt_table_is_one_and_says_what_it_tested() -> None:
    counts = pd.read_csv(GOLDEN / "timecourse_counts.csv.gz", index_col=0).iloc[:300]
    sheet = pd.read_csv(GOLDEN / "timecourse_samples.csv", index_col=0)
    res = run_differential_expression(
        counts[list(sheet.index)],
        dict(sheet["group"]),
        {},
        [],
        covariates=[("batch", dict(sheet["batch"]))],
        test="LRT",
        reduced=["batch"],
    )
    assert res.comparisons == ["LRT: ~ batch + group vs ~ batch"]
    assert "comparison" not in res.table.columns
    info = res.design_info()
    assert (info["test"], info["reduced"], info["coefficient"]) == ("LRT", "~ batch", "group[T.t2]")


def test_a_reduced_design_must_be_nested_and_smaller() -> None:
    counts = pd.DataFrame(np.arange(1, 41).reshape(10, 4), columns=["a", "b", "c", "d"])
    groups = {"a": "K", "b": "K", "c": "W", "d": "W"}
    for reduced in (["donor"], ["group"]):
        with pytest.raises(ValidationError, match="reduced: must be some of"):
            run_differential_expression(counts, groups, {}, [], test="LRT", reduced=reduced)


def test_interaction_columns_are_r_model_matrix_products() -> None:
    d = design_matrix(
        ["c", "t", "c", "t"], [("g", ["WT", "WT", "KO", "KO"])], interactions=["g:group"]
    )
    assert d.columns == ["Intercept", "g[T.KO]", "group[T.t]", "g[T.KO]:group[T.t]"]
    np.testing.assert_array_equal(d.matrix[:, 3], [0, 0, 0, 1])
    assert d.columns_of(["g", "group"]) == [0, 1, 2]
