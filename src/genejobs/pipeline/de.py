"""DESeq2-style statistics with pydeseq2: design ``~ <covariates> + group``, Wald tests, BH, Cook's.

pydeseq2 runs the procedure (size factors, dispersion trend and prior, Cook's
outliers and refitting, independent filtering); its per-gene numerical fits and
Wald tests are replaced by our vectorised ones (``de_inference``, checked against
pydeseq2's answers). This module validates the input, chooses the comparisons,
names the columns as DESeq2 does and records pydeseq2's warnings as notes.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from genejobs.errors import ValidationError

log = logging.getLogger(__name__)
# A design needs this many samples beyond its coefficients to estimate dispersions.
MIN_RESIDUAL_DF = 1
# DESeq2's results(alpha=0.1): the FDR at which independent filtering counts rejections.
INDEPENDENT_FILTERING_ALPHA = 0.1
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
    # -- the design and its tests: what run.json and the report state --
    design: str = "~ group"
    covariates: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> sample -> level
    shrink: bool = False
    lfc_threshold: float = 0.0
    test: str = "Wald"
    reduced: str | None = None  # the LRT's reduced design, e.g. "~ batch"
    coefficient: str | None = None  # the design column whose fold changes an LRT reports

    def design_info(self) -> dict[str, object]:
        """The model as run.json and the report state it."""
        return {
            "design": self.design,
            "test": self.test,
            "reduced": self.reduced,
            "coefficient": self.coefficient,
            "covariates": self.covariates,
            "shrink": self.shrink,
            "lfc_threshold": self.lfc_threshold,
            "alt_hypothesis": "greaterAbs" if self.lfc_threshold > 0 else "two-sided",
        }

    def table_for(self, comparison: str) -> pd.DataFrame:
        if "comparison" not in self.table.columns:
            return self.table
        return self.table[self.table["comparison"] == comparison]


def default_comparisons(groups: list[str]) -> list[tuple[str, str]]:
    """Each group against the first one (the control), as the original console did."""
    return [(groups[0], g) for g in groups[1:]]


def design_formula(covariates: Sequence[str], interactions: Sequence[str] = ()) -> str:
    """``~ batch + donor + group [+ donor:group]``: covariates in the order given, the groups
    after them, interactions ("a:b") last."""
    return "~ " + " + ".join([*covariates, "group", *interactions])


def terms_formula(terms: Sequence[str]) -> str:
    """R's formula of a design made of ``terms`` besides the intercept (``~ 1`` if none)."""
    return "~ " + (" + ".join(terms) if terms else "1")


@dataclass(frozen=True)
class Design:
    """A treatment-coded design matrix (intercept, covariates in order, group last)."""

    matrix: np.ndarray  # samples x coefficients
    columns: list[str]  # "Intercept", "batch[T.b2]", "group[T.W]", ... (formulaic's names)
    blocks: list[tuple[str, slice]]  # factor -> its columns ("Intercept" first)

    def group_column(self, group: str) -> int | None:
        """Index of ``group[T.<group>]``; None for the reference group."""
        name = f"group[T.{group}]"
        return self.columns.index(name) if name in self.columns else None

    def columns_of(self, terms: Sequence[str]) -> list[int]:
        """The intercept's and ``terms``' columns: a design nested in this one."""
        chosen = ["Intercept", *terms]
        return [
            i
            for name, block in self.blocks
            if name in chosen
            for i in range(block.start, block.stop)
        ]

    def contrast(self, control: str, treatment: str) -> np.ndarray:
        """The vector whose product with the coefficients is log(treatment / control)."""
        vec = np.zeros(len(self.columns))
        for group, sign in ((treatment, 1.0), (control, -1.0)):
            col = self.group_column(group)
            if col is not None:
                vec[col] += sign
        return vec


def design_matrix(
    groups: Sequence[str],
    covariates: Sequence[tuple[str, Sequence[str]]] = (),
    *,
    reference: str | None = None,
    interactions: Sequence[str] = (),
) -> Design:
    """The design of ``~ <covariates> + group [+ a:b ...]`` for samples in order, as R's
    model.matrix.

    Each factor's reference level is its first level in sample order (the group's
    ``reference`` when given); the other levels get one 0/1 column each; an interaction
    ``a:b`` gets the products of a's and b's columns (``a[T.x]:b[T.y]``).
    """
    n = len(groups)
    cols: list[np.ndarray] = [np.ones(n)]
    names = ["Intercept"]
    blocks: list[tuple[str, slice]] = [("Intercept", slice(0, 1))]
    factors = [*covariates, ("group", groups)]
    for name, values in factors:
        levels = list(dict.fromkeys(values))
        if name == "group" and reference is not None:
            levels = [reference] + [lv for lv in levels if lv != reference]
        start = len(names)
        for level in levels[1:]:
            cols.append(np.array([1.0 if v == level else 0.0 for v in values]))
            names.append(f"{name}[T.{level}]")
        blocks.append((name, slice(start, len(names))))
    found = dict(blocks)
    for term in interactions:
        a, b = term.split(":")
        start = len(names)
        for i in range(found[a].start, found[a].stop):
            for j in range(found[b].start, found[b].stop):
                cols.append(cols[i] * cols[j])
                names.append(f"{names[i]}:{names[j]}")
        blocks.append((term, slice(start, len(names))))
    return Design(np.column_stack(cols), names, blocks)


def _sample_levels(
    samples: list[str], covariates: Sequence[tuple[str, Mapping[str, str]]]
) -> list[tuple[str, list[str]]]:
    out = []
    for name, levels in covariates:
        missing = [s for s in samples if s not in levels]
        if missing:
            raise ValidationError(f"covariates.{name}: no value for sample(s) {', '.join(missing)}")
        out.append((name, [str(levels[s]) for s in samples]))
    return out


def _shrunk_lfc(
    stats: Any,
    groups: list[str],
    levels: list[tuple[str, list[str]]],
    control: str,
    treatment: str,
) -> np.ndarray:
    """pydeseq2's apeGLM-style ``lfc_shrink`` for one comparison, in log2.

    ``lfc_shrink`` shrinks one coefficient of the design; a comparison between two
    groups is one coefficient once the control is the reference group, so the fitted
    model is rewritten with that reference (same fit: the columns span the same
    space, the coefficients map exactly) and that coefficient is shrunk.
    """
    relevel = design_matrix(groups, levels, reference=control)
    x = stats.design_matrix.to_numpy(dtype=float)
    beta = stats.LFC.to_numpy(dtype=float)  # genes x coefficients, natural log
    fitted = np.isfinite(beta).all(axis=1)  # all-zero genes have no coefficients
    mapped, *_ = np.linalg.lstsq(relevel.matrix, x @ np.nan_to_num(beta).T, rcond=None)
    mapped[:, ~fitted] = np.nan
    coeff = f"group[T.{treatment}]"
    stats.design_matrix = pd.DataFrame(
        relevel.matrix, index=stats.design_matrix.index, columns=relevel.columns
    )
    stats.LFC = pd.DataFrame(mapped.T, index=stats.LFC.index, columns=relevel.columns)
    stats.lfc_shrink(coeff=coeff)
    return np.asarray(stats.LFC[coeff].to_numpy(dtype=float) / np.log(2))


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
    design: Design,
    control: str,
    treatment: str,
    gene_names: dict[str, str],
    *,
    labelled: bool,
    levels: list[tuple[str, list[str]]],
    groups: list[str],
    shrink: bool,
    lfc_threshold: float,
) -> pd.DataFrame:
    """One comparison's Wald test as DESeq2 names its columns (with its label when asked);
    ``lfc_shrunk`` beside ``log2FoldChange`` when asked, and the threshold when one was tested."""
    from pydeseq2.ds import DeseqStats

    from genejobs.pipeline.de_inference import independent_filtering

    stats = DeseqStats(
        dds,
        contrast=design.contrast(control, treatment),
        inference=inference,
        quiet=True,
        # R's results() filters independently at alpha = 0.1 (pydeseq2's default is 0.05).
        alpha=INDEPENDENT_FILTERING_ALPHA,
        lfc_null=lfc_threshold,
        alt_hypothesis="greaterAbs" if lfc_threshold > 0 else None,
    )
    stats.summary()
    res = stats.results_df.copy()
    # DESeq2's pvalueAdjustment (with its fall-backs to 90% and 80% of the maximum).
    res["padj"] = independent_filtering(
        res["baseMean"].to_numpy(dtype=float),
        res["pvalue"].to_numpy(dtype=float),
        INDEPENDENT_FILTERING_ALPHA,
    )
    res.insert(0, "gene_name", [gene_names.get(g, g) for g in res.index])
    res.insert(0, "gene_id", res.index)
    columns = list(TABLE_COLUMNS)
    if shrink:
        shrunk = _shrunk_lfc(stats, groups, levels, control, treatment)
        # Genes pydeseq2 does not fit (all zero) have no fold change to shrink.
        res["lfc_shrunk"] = np.where(res["log2FoldChange"].isna(), np.nan, shrunk)
        columns.insert(columns.index("log2FoldChange") + 1, "lfc_shrunk")
    res = res[columns]
    if lfc_threshold > 0:
        res["lfc_threshold"] = lfc_threshold
    if labelled:
        res.insert(0, "comparison", f"{treatment}_vs_{control}")
    return res.reset_index(drop=True)


def _lrt_table(
    dds: Any,
    inference: Any,
    design: Design,
    reduced: Sequence[str],
    coefficient: str,
    gene_names: dict[str, str],
) -> pd.DataFrame:
    """The likelihood-ratio test of the full design against ``reduced`` (DESeq2's
    ``nbinomLRT`` + ``results``): statistic, p and padj per gene, with the fold change and
    its SE of the full design's ``coefficient``."""
    from genejobs.pipeline.de_inference import independent_filtering, likelihood_ratio_test

    nz = dds.var["non_zero"].to_numpy()
    counts = np.asarray(dds.X, dtype=float)[:, nz]
    disp = dds.var["dispersions"].to_numpy(dtype=float)[nz]
    size_factors = dds.obs["size_factors"].to_numpy(dtype=float)
    k = design.columns.index(coefficient)
    small = design.matrix[:, design.columns_of(reduced)]
    stat, pvalue, beta, mu = likelihood_ratio_test(
        inference, counts, size_factors, design.matrix, small, disp
    )
    unit = np.zeros(design.matrix.shape[1])
    unit[k] = 1.0
    _, _, se = inference.wald_test(design.matrix, disp, beta, mu, 0.0, unit, np.zeros(1))
    n_genes = len(nz)
    table = pd.DataFrame(
        {"gene_id": dds.var_names, "baseMean": dds.layers["normed_counts"].mean(0)}
    )
    for column, values in (
        ("log2FoldChange", beta[:, k] / np.log(2)),
        ("lfcSE", se / np.log(2)),
        ("stat", stat),
        ("pvalue", pvalue),
    ):
        full = np.full(n_genes, np.nan)
        full[nz] = values
        table[column] = full
    # As DESeq2's results(): no p-value for a gene with a Cook's outlier.
    table.loc[np.asarray(dds.cooks_outlier(), dtype=bool), "pvalue"] = np.nan
    table["padj"] = independent_filtering(
        table["baseMean"].to_numpy(), table["pvalue"].to_numpy(), INDEPENDENT_FILTERING_ALPHA
    )
    table.insert(1, "gene_name", [gene_names.get(g, g) for g in table["gene_id"]])
    return table[TABLE_COLUMNS].reset_index(drop=True)


def lrt_label(full: str, reduced: Sequence[str]) -> str:
    """The LRT's name in tables and the report: ``LRT: ~ batch + group vs ~ batch``."""
    return f"LRT: {full} vs {terms_formula(reduced)}"


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


@dataclass(frozen=True)
class _FittedDesign:
    """The samples in order with their groups and covariate levels, and the design built
    from them: what the fit, the tests and the result all use."""

    samples: list[str]
    groups: list[str]
    levels: list[tuple[str, list[str]]]  # covariate -> level per sample, in design order
    design: Design
    formula: str


@dataclass
class _Fit:
    """pydeseq2's fitted data set, the per-comparison tables, the VST and the notes."""

    dds: Any
    tables: list[pd.DataFrame]
    vst: pd.DataFrame | None
    notes: list[str]


def _checked_matrix(counts: pd.DataFrame, samples: list[str]) -> pd.DataFrame:
    """The samples' integer counts, refused when no gene has a read (nothing to test)."""
    matrix = counts[samples].astype(np.int64)
    if int(matrix.to_numpy().sum()) == 0:
        raise ValidationError("counts: every gene has zero reads in every sample; nothing to test")
    return matrix


def _full_rank_design(
    sample_groups: dict[str, str],
    covariates: Sequence[tuple[str, Mapping[str, str]]],
    interactions: Sequence[str],
) -> _FittedDesign:
    """The design of the samples, refused when its columns are not independent."""
    samples = list(sample_groups)
    groups = [sample_groups[s] for s in samples]
    levels = _sample_levels(samples, covariates)
    design = design_matrix(groups, levels, interactions=interactions)
    formula = design_formula([n for n, _ in levels], interactions)
    if np.linalg.matrix_rank(design.matrix) < design.matrix.shape[1]:
        raise ValidationError(f"covariates: the design {formula} is not of full rank")
    return _FittedDesign(samples, groups, levels, design, formula)


def _checked_lrt_coefficient(
    design: Design, reduced: Sequence[str], coefficient: str | None
) -> str:
    """The LRT's coefficient (the design's last column by default, as R's ``results()``),
    after checking that ``reduced`` is a proper subset of the full design's terms."""
    terms = [name for name, _ in design.blocks[1:]]
    unknown = [t for t in reduced if t not in terms]
    if unknown or set(reduced) >= set(terms):
        raise ValidationError(
            f"reduced: must be some of the full design's terms ({', '.join(terms)}), "
            f"not all of them; got {', '.join(reduced) or 'none'}"
        )
    coefficient = coefficient or design.columns[-1]
    if coefficient not in design.columns:
        raise ValidationError(
            f"coefficient: '{coefficient}' is not a column of the design "
            f"({', '.join(design.columns[1:])})"
        )
    return coefficient


def _data_set(matrix: pd.DataFrame, fitted: _FittedDesign, inference: Any) -> Any:
    """pydeseq2's data set on our own design matrix: genejobs builds it itself (as R's
    model.matrix), so contrasts and the re-levelled designs that shrinkage needs are
    plain vectors and matrices."""
    from genejobs.pipeline.de_inference import RDeseqDataSet

    samples = fitted.samples
    design_frame = pd.DataFrame(fitted.design.matrix, index=samples, columns=fitted.design.columns)
    metadata = pd.DataFrame({"group": fitted.groups}, index=samples)
    for name, values in fitted.levels:
        metadata[name] = values
    return RDeseqDataSet(
        counts=matrix.T,
        metadata=metadata,
        design=design_frame,
        refit_cooks=True,
        inference=inference,
        quiet=True,
    )


def _vst_or_note(dds: Any, matrix: pd.DataFrame, samples: list[str], notes: list[str]) -> Any:
    """The variance-stabilised counts for the PCA, or None with a note saying why."""
    try:
        dds.vst(use_design=False)
        return pd.DataFrame(dds.layers["vst_counts"].T, index=matrix.index, columns=samples)
    except Exception as exc:  # the report can live without PCA; say why
        notes.append(f"variance-stabilising transform failed: {exc}")
        return None


def _fit_and_test(
    matrix: pd.DataFrame,
    fitted: _FittedDesign,
    comparisons: list[tuple[str, str]],
    gene_names: dict[str, str],
    *,
    n_cpus: int,
    shrink: bool,
    lfc_threshold: float,
    test: str,
    reduced: Sequence[str],
    coefficient: str | None,
) -> _Fit:
    """DESeq2's procedure, then each comparison's table (or the LRT's one table); every
    warning pydeseq2 gives on the way becomes a note."""
    from genejobs.pipeline.de_inference import make_inference

    inference, inference_note = make_inference(n_cpus)
    notes: list[str] = [inference_note] if inference_note else []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dds = _data_set(matrix, fitted, inference)
        dds.deseq2()
        tables = (
            [_lrt_table(dds, inference, fitted.design, reduced, str(coefficient), gene_names)]
            if test == "LRT"
            else [
                _comparison_table(
                    dds,
                    inference,
                    fitted.design,
                    control,
                    treatment,
                    gene_names,
                    labelled=len(comparisons) > 1,
                    levels=fitted.levels,
                    groups=fitted.groups,
                    shrink=shrink,
                    lfc_threshold=lfc_threshold,
                )
                for control, treatment in comparisons
            ]
        )
        vst = _vst_or_note(dds, matrix, fitted.samples, notes)
    for w in caught:
        text = str(w.message).strip()
        if text and text not in notes:
            notes.append(text)
    return _Fit(dds, tables, vst, notes)


def _result(
    matrix: pd.DataFrame,
    fitted: _FittedDesign,
    fit: _Fit,
    comparisons: list[tuple[str, str]],
    sample_groups: dict[str, str],
    *,
    test: str,
    reduced: Sequence[str],
    coefficient: str | None,
    shrink: bool,
    lfc_threshold: float,
) -> DEResult:
    """The tables, the normalised counts and the design as run.json and the report state it."""
    samples = fitted.samples
    dds = fit.dds
    normalized = pd.DataFrame(dds.layers["normed_counts"].T, index=matrix.index, columns=samples)
    size_factors = pd.Series(np.asarray(dds.obs["size_factors"]), index=samples, name="size_factor")
    return DEResult(
        table=pd.concat(fit.tables, ignore_index=True),
        counts=matrix,
        normalized_counts=normalized,
        size_factors=size_factors,
        dispersions=_dispersions(dds, matrix.index, normalized),
        vst=fit.vst,
        comparisons=[lrt_label(fitted.formula, reduced)]
        if test == "LRT"
        else [f"{treatment}_vs_{control}" for control, treatment in comparisons],
        sample_groups=dict(sample_groups),
        notes=fit.notes,
        design=fitted.formula,
        test=test,
        reduced=terms_formula(reduced) if test == "LRT" else None,
        coefficient=coefficient if test == "LRT" else None,
        covariates={
            name: dict(zip(samples, values, strict=True)) for name, values in fitted.levels
        },
        shrink=shrink,
        lfc_threshold=float(lfc_threshold),
    )


def run_differential_expression(
    counts: pd.DataFrame,
    sample_groups: dict[str, str],
    gene_names: dict[str, str],
    comparisons: list[tuple[str, str]],
    *,
    n_cpus: int = 1,
    covariates: Sequence[tuple[str, Mapping[str, str]]] = (),
    shrink: bool = False,
    lfc_threshold: float = 0.0,
    interactions: Sequence[str] = (),
    test: str = "Wald",
    reduced: Sequence[str] = (),
    coefficient: str | None = None,
) -> DEResult:
    """Fit ``~ <covariates> + group [+ interactions]`` once and test each (control, treatment)
    comparison, or (``test="LRT"``) the full design against the ``reduced`` one.

    ``covariates`` are (name, sample -> level) in the design's order; ``shrink`` adds
    apeGLM-style shrunken fold changes (``lfc_shrunk``); ``lfc_threshold`` > 0 tests
    |log2 fold change| > threshold (DESeq2's ``altHypothesis="greaterAbs"``). An LRT
    gives one table whose fold changes are those of ``coefficient`` (a design column
    such as ``group[T.W]``; the last column, as R's ``results()``, when None).
    """
    comparisons = _checked_comparisons(counts, sample_groups, comparisons)
    if lfc_threshold < 0:
        raise ValidationError("lfc_threshold: must be at least 0")
    matrix = _checked_matrix(counts, list(sample_groups))
    fitted = _full_rank_design(sample_groups, covariates, interactions)
    if test == "LRT":
        coefficient = _checked_lrt_coefficient(fitted.design, reduced, coefficient)
    fit = _fit_and_test(
        matrix,
        fitted,
        comparisons,
        gene_names,
        n_cpus=n_cpus,
        shrink=shrink,
        lfc_threshold=lfc_threshold,
        test=test,
        reduced=reduced,
        coefficient=coefficient,
    )
    return _result(
        matrix,
        fitted,
        fit,
        comparisons,
        sample_groups,
        test=test,
        reduced=reduced,
        coefficient=coefficient,
        shrink=shrink,
        lfc_threshold=lfc_threshold,
    )
