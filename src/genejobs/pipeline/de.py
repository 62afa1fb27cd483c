"""DESeq2-style statistics with pydeseq2: design ``~group``, Wald tests, BH, Cook's.

pydeseq2 runs the procedure (size factors, dispersion trend and prior, Cook's
outliers and refitting, independent filtering); its per-gene numerical fits and
Wald tests are replaced by our vectorised ones (``de_inference``, checked against
pydeseq2's answers). This module validates the input, chooses the comparisons,
names the columns as DESeq2 does and records pydeseq2's warnings as notes.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from genejobs.errors import ValidationError

log = logging.getLogger(__name__)
TABLE_COLUMNS = [
    "gene_id",
    "gene_name",
    "baseMean",
    "log2FoldChange",
    "lfcSE",
    "stat",
    "pvalue",
    "padj",
]


@dataclass
class DEResult:
    table: pd.DataFrame
    counts: pd.DataFrame
    normalized_counts: pd.DataFrame
    size_factors: pd.Series
    dispersions: pd.DataFrame
    vst: pd.DataFrame | None
    comparisons: list[str]
    sample_groups: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def table_for(self, comparison: str) -> pd.DataFrame:
        if "comparison" not in self.table.columns:
            return self.table
        return self.table[self.table["comparison"] == comparison]


def default_comparisons(groups: list[str]) -> list[tuple[str, str]]:
    """Each group against the first one (the control), as the original console did."""
    return [(groups[0], g) for g in groups[1:]]


def _checked_comparisons(
    counts: pd.DataFrame,
    sample_groups: dict[str, str],
    comparisons: list[tuple[str, str]],
) -> list[tuple[str, str]]:
    """The comparisons to test (each group against the first by default), or a clear error."""
    missing = [s for s in sample_groups if s not in counts.columns]
    if missing:
        raise ValidationError(f"counts: no column for sample(s) {', '.join(missing)}")
    groups = list(dict.fromkeys(sample_groups.values()))
    sizes = {g: sum(1 for v in sample_groups.values() if v == g) for g in groups}
    small = [g for g, n in sizes.items() if n < 2]
    if small:
        raise ValidationError(f"inputs: group(s) {', '.join(small)} need at least two samples")
    comparisons = comparisons or default_comparisons(groups)
    for control, treatment in comparisons:
        for g in (control, treatment):
            if g not in sizes:
                raise ValidationError(f"comparisons: unknown group '{g}'")
    return comparisons


def _comparison_table(
    dds: Any,
    inference: Any,
    control: str,
    treatment: str,
    gene_names: dict[str, str],
    *,
    labelled: bool,
) -> pd.DataFrame:
    """One comparison's Wald test as DESeq2 names its columns (with its label when asked)."""
    from pydeseq2.ds import DeseqStats

    stats = DeseqStats(dds, contrast=["group", treatment, control], inference=inference, quiet=True)
    stats.summary()
    res = stats.results_df.copy()
    res.insert(0, "gene_name", [gene_names.get(g, g) for g in res.index])
    res.insert(0, "gene_id", res.index)
    res = res[TABLE_COLUMNS]
    if labelled:
        res.insert(0, "comparison", f"{treatment}_vs_{control}")
    return res.reset_index(drop=True)


def _dispersions(dds: Any, genes: pd.Index, normalized: pd.DataFrame) -> pd.DataFrame:
    """Per gene: mean of normalised counts and the gene-wise, fitted and final dispersions."""
    var = dds.var
    return pd.DataFrame(
        {
            "gene_id": genes,
            "baseMean": normalized.mean(axis=1).to_numpy(),
            "genewise": np.asarray(var.get("genewise_dispersions", np.nan)),
            "fitted": np.asarray(var.get("fitted_dispersions", np.nan)),
            "final": np.asarray(var.get("dispersions", np.nan)),
        }
    )


def run_differential_expression(
    counts: pd.DataFrame,
    sample_groups: dict[str, str],
    gene_names: dict[str, str],
    comparisons: list[tuple[str, str]],
    *,
    n_cpus: int = 1,
) -> DEResult:
    """Fit ``~group`` once and test each (control, treatment) comparison."""
    from pydeseq2.dds import DeseqDataSet

    from genejobs.pipeline.de_inference import make_inference

    comparisons = _checked_comparisons(counts, sample_groups, comparisons)
    samples = list(sample_groups)
    matrix = counts[samples].astype(np.int64)
    if int(matrix.to_numpy().sum()) == 0:
        raise ValidationError("counts: every gene has zero reads in every sample; nothing to test")

    metadata = pd.DataFrame({"group": [sample_groups[s] for s in samples]}, index=samples)
    inference, inference_note = make_inference(n_cpus)
    notes: list[str] = [inference_note] if inference_note else []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dds = DeseqDataSet(
            counts=matrix.T,
            metadata=metadata,
            design="~group",
            refit_cooks=True,
            inference=inference,
            quiet=True,
        )
        dds.deseq2()
        tables = [
            _comparison_table(
                dds, inference, control, treatment, gene_names, labelled=len(comparisons) > 1
            )
            for control, treatment in comparisons
        ]
        try:
            dds.vst(use_design=False)
            vst = pd.DataFrame(dds.layers["vst_counts"].T, index=matrix.index, columns=samples)
        except Exception as exc:  # the report can live without PCA; say why
            notes.append(f"variance-stabilising transform failed: {exc}")
            vst = None
    for w in caught:
        text = str(w.message).strip()
        if text and text not in notes:
            notes.append(text)
    normalized = pd.DataFrame(dds.layers["normed_counts"].T, index=matrix.index, columns=samples)
    size_factors = pd.Series(np.asarray(dds.obs["size_factors"]), index=samples, name="size_factor")
    return DEResult(
        table=pd.concat(tables, ignore_index=True),
        counts=matrix,
        normalized_counts=normalized,
        size_factors=size_factors,
        dispersions=_dispersions(dds, matrix.index, normalized),
        vst=vst,
        comparisons=[f"{treatment}_vs_{control}" for control, treatment in comparisons],
        sample_groups=dict(sample_groups),
        notes=notes,
    )
