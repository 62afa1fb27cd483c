"""DESeq2-style statistics with pydeseq2: design ``~ <covariates> + group``, Wald tests, BH, Cook's.

A thin, validated wrapper: pydeseq2 does the mathematics (size factors,
dispersions, independent filtering, outlier refitting); this module chooses the
comparisons, names the columns as DESeq2 does and records its warnings.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import gammaln

from genejobs.errors import ValidationError

log = logging.getLogger(__name__)
# A design needs this many samples beyond its coefficients to estimate dispersions.
MIN_RESIDUAL_DF = 1
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
    # -- statistics additions (issue 18) --
    design: str = "~ group"
    covariates: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> sample -> level
    shrink: bool = False
    lfc_threshold: float = 0.0

    def design_info(self) -> dict[str, object]:
        """The model as run.json and the report state it."""
        return {
            "design": self.design,
            "covariates": self.covariates,
            "shrink": self.shrink,
            "lfc_threshold": self.lfc_threshold,
            "alt_hypothesis": "greaterAbs" if self.lfc_threshold > 0 else "two-sided",
        }

    def table_for(self, comparison: str) -> pd.DataFrame:
        if "comparison" not in self.table.columns:
            return self.table
        return self.table[self.table["comparison"] == comparison]


# L-BFGS-B's default gradient tolerance: a loss sloping less than this (per unit of
# log alpha) is flat, and the search stops there.
_PGTOL = 1e-5


def _alpha_losses(
    log_alpha: np.ndarray,
    counts: np.ndarray,
    design: np.ndarray,
    mu: np.ndarray,
    log_alpha_hat: np.ndarray,
    prior_disp_var: float | None,
    cr_reg: bool,
    prior_reg: bool,
) -> np.ndarray:
    """pydeseq2's per-gene dispersion loss (``utils.fit_alpha_mle``) for all genes at once.

    Negative NB log-likelihood in log(alpha), plus the Cox-Reid term and the log-normal
    prior around the trend when asked; ``counts``/``mu`` are samples x genes.
    """
    alpha = np.exp(log_alpha)
    r = 1.0 / alpha
    logbinom = gammaln(counts + r) - gammaln(counts + 1) - gammaln(r)
    nll = counts.shape[0] * r * np.log(alpha) + (
        -logbinom + (counts + r) * np.log(r + mu) - counts * np.log(mu)
    ).sum(axis=0)
    if cr_reg:
        w = mu / (1 + mu * alpha)
        info = np.einsum("ip,ig,iq->gpq", design, w, design)
        nll = nll + 0.5 * np.linalg.slogdet(info)[1]
    if prior_reg and prior_disp_var is not None:
        nll = nll + (log_alpha - log_alpha_hat) ** 2 / (2 * prior_disp_var)
    return np.asarray(nll)


def _vectorised_inference(n_cpus: int):  # type: ignore[no-untyped-def]
    """pydeseq2's ``DefaultInference`` with its per-gene Python loops done as arrays.

    Written here because pydeseq2 fits each gene's mean, dispersion and fold changes
    and runs each Wald test in a Python loop (joblib over scipy calls): 60,000 genes
    took 200 s against R's 14 s (bench/bench_de.py). pydeseq2's ``Inference``
    interface is the documented place to swap the numerics; the rest (trend, prior,
    Cook's outliers, independent filtering) stays pydeseq2's.
    """
    from pydeseq2.default_inference import DefaultInference

    class VectorisedInference(DefaultInference):  # type: ignore[misc]
        def lin_reg_mu(self, counts, size_factors, design_matrix, min_mu):  # type: ignore[no-untyped-def]
            # Least squares of normalised counts on the design, every gene in one call.
            coef, *_ = np.linalg.lstsq(design_matrix, counts / size_factors[:, None], rcond=None)
            return np.maximum(size_factors[:, None] * (design_matrix @ coef), min_mu)

        def alpha_mle(  # type: ignore[no-untyped-def]
            self,
            counts,
            design_matrix,
            mu,
            alpha_hat,
            min_disp,
            max_disp,
            prior_disp_var=None,
            cr_reg=True,
            prior_reg=False,
            optimizer="L-BFGS-B",
        ):
            # A grid over the allowed range; from the grid point nearest each gene's
            # starting estimate, walk downhill to the local minimum (the one a
            # gradient method started there finds, as pydeseq2 and DESeq2 do: the
            # loss can also fall towards max_disp for genes with few reads), then
            # narrow that basin down to 1e-8 by golden-section search.
            counts = np.asarray(counts, dtype=float)
            mu = np.asarray(mu, dtype=float)
            design = np.asarray(design_matrix, dtype=float)
            log_hat = np.log(np.asarray(alpha_hat, dtype=float))
            if log_hat.size == 0:
                return log_hat, np.ones(0, dtype=bool)
            lo, hi = np.log(min_disp), np.log(max_disp)
            args = (counts, design, mu, log_hat, prior_disp_var, cr_reg, prior_reg)
            grid = np.linspace(lo, hi, 25)
            losses = np.stack([_alpha_losses(np.full(len(log_hat), g), *args) for g in grid])
            losses = np.where(np.isfinite(losses), losses, np.inf)
            genes = np.arange(len(log_hat))
            step = grid[1] - grid[0]
            flat = _PGTOL * step
            best = np.clip(np.rint((log_hat - lo) / step), 0, len(grid) - 1).astype(int)
            for _ in range(len(grid)):
                left = losses[np.maximum(best - 1, 0), genes]
                right = losses[np.minimum(best + 1, len(grid) - 1), genes]
                here = losses[best, genes]
                # A flat stretch stops the walk, as a vanishing gradient stops L-BFGS-B.
                left_ok, right_ok = left < here - flat, right < here - flat
                move = np.where(left_ok & (left <= right), -1, np.where(right_ok, 1, 0))
                if not move.any():
                    break
                best = best + move
            a = np.maximum(grid[best] - step, lo)
            b = np.minimum(grid[best] + step, hi)
            ratio = (np.sqrt(5) - 1) / 2
            c, d = b - ratio * (b - a), a + ratio * (b - a)
            fc, fd = _alpha_losses(c, *args), _alpha_losses(d, *args)
            while np.max(b - a) > 1e-8:
                left = fc < fd  # the minimum lies in [a, d]
                b = np.where(left, d, b)
                a = np.where(left, a, c)
                new_c, new_d = b - ratio * (b - a), a + ratio * (b - a)
                c, d = np.where(left, new_c, d), np.where(left, c, new_d)
                # Each gene has one new point (c on the left, d on the right): one loss.
                fx = _alpha_losses(np.where(left, c, d), *args)
                fc, fd = np.where(left, fx, fd), np.where(left, fc, fx)
            alpha = np.exp(np.clip((a + b) / 2, lo, hi))
            return alpha, np.ones(len(alpha), dtype=bool)

        def irls(  # type: ignore[no-untyped-def]
            self,
            counts,
            size_factors,
            design_matrix,
            disp,
            min_mu,
            beta_tol,
            min_beta=-30,
            max_beta=30,
            optimizer="L-BFGS-B",
            maxiter=250,
        ):
            # pydeseq2's utils.irls_solver, step for step, on every gene at once; a gene
            # that diverges takes pydeseq2's own per-gene path (L-BFGS-B, then a grid).
            from pydeseq2.utils import irls_solver, nb_nll

            y = np.asarray(counts, dtype=float)
            x = np.asarray(design_matrix, dtype=float)
            disp = np.asarray(disp, dtype=float)
            sf = np.asarray(size_factors, dtype=float)[:, None]
            n_vars, n_genes = x.shape[1], y.shape[1]
            ridge = np.eye(n_vars) * 1e-6
            if np.linalg.matrix_rank(x) == n_vars:
                q, r = np.linalg.qr(x)
                beta = np.linalg.solve(r, q.T @ np.log(y / sf + 0.1)).T
            else:
                beta = np.zeros((n_genes, n_vars))
                with np.errstate(divide="ignore"):
                    beta[:, 0] = np.log(y / sf).mean(axis=0)
            mu = np.maximum(sf * np.exp(x @ beta.T), min_mu)
            dev = np.full(n_genes, 1000.0)
            active = np.ones(n_genes, dtype=bool)
            diverged = np.zeros(n_genes, dtype=bool)
            step = 0
            while active.any():
                idx = np.flatnonzero(active)
                m, d = mu[:, idx], disp[idx]
                w = m / (1.0 + m * d)
                z = np.log(m / sf) + (y[:, idx] - m) / m
                info = np.einsum("ip,ig,iq->gpq", x, w, x) + ridge
                beta_hat = np.linalg.solve(info, np.einsum("ip,ig->gp", x, w * z)[..., None])
                beta_hat = beta_hat[..., 0]
                step += 1
                bad = (np.abs(beta_hat) > max_beta).any(axis=1) | (step >= maxiter)
                diverged[idx[bad]] = True
                active[idx[bad]] = False
                good = idx[~bad]
                beta[good] = beta_hat[~bad]
                mu[:, good] = np.maximum(sf * np.exp(x @ beta[good].T), min_mu)
                old = dev[good]
                dev[good] = -2 * np.asarray(
                    nb_nll(y[:, good], mu[:, good], disp[good]), dtype=float
                ).reshape(-1)
                done = np.abs(dev[good] - old) / (np.abs(dev[good]) + 0.1) <= beta_tol
                active[good[done]] = False
            converged = np.ones(n_genes, dtype=bool)
            for i in np.flatnonzero(diverged):
                beta[i], _, _, converged[i] = irls_solver(
                    counts=y[:, i],
                    size_factors=sf[:, 0],
                    design_matrix=x,
                    disp=disp[i],
                    min_mu=min_mu,
                    beta_tol=beta_tol,
                    min_beta=min_beta,
                    max_beta=max_beta,
                    optimizer=optimizer,
                    maxiter=maxiter,
                )
            mu = np.maximum(sf * np.exp(x @ beta.T), min_mu)
            w = mu / (1.0 + mu * disp)
            inv = np.linalg.inv(np.einsum("ip,ig,iq->gpq", x, w, x) + ridge)
            hat = w * np.einsum("ip,gpq,iq->ig", x, inv, x)
            return beta, sf * np.exp(x @ beta.T), hat, converged

        def lfc_shrink_nbinom_glm(  # type: ignore[no-untyped-def]
            self,
            design_matrix,
            counts,
            size,
            offset,
            prior_no_shrink_scale,
            prior_scale,
            optimizer,
            shrink_index,
        ):
            # pydeseq2's utils.nbinomGLM (NB likelihood + apeGLM's Cauchy prior on one
            # coefficient, normal on the others) minimised for every gene at once by
            # damped Newton steps from pydeseq2's own starting point; pydeseq2 runs
            # L-BFGS-B gene by gene (2,000 genes took minutes).
            x = np.asarray(design_matrix, dtype=float)
            y = np.asarray(counts, dtype=float).T  # genes x samples
            size = np.asarray(size, dtype=float)[:, None]
            off = np.asarray(offset, dtype=float)[None, :]
            n_genes, n_vars = y.shape[0], x.shape[1]
            k = int(shrink_index)
            keep = np.ones(n_vars)
            keep[k] = 0.0
            s2, n2 = float(prior_scale) ** 2, float(prior_no_shrink_scale) ** 2
            log_size = np.log(size)

            def loss(beta: np.ndarray, g: np.ndarray) -> np.ndarray:
                xb = beta @ x.T
                prior = ((beta * keep) ** 2).sum(1) / (2 * n2) + np.log1p(beta[:, k] ** 2 / s2)
                nll = (y[g] * xb - (y[g] + size[g]) * np.logaddexp(xb + off, log_size[g])).sum(1)
                return np.asarray(prior - nll)

            def derivatives(beta: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                t = beta @ x.T + off - log_size[g]
                p = 1.0 / (1.0 + np.exp(-np.clip(t, -500, 500)))  # e^(xb+off) / (size + e^...)
                bk = beta[:, k]
                grad = beta * keep / n2 - (y[g] - (y[g] + size[g]) * p) @ x
                grad[:, k] += 2 * bk / (s2 + bk**2)
                hess = np.einsum("gi,ip,iq->gpq", (y[g] + size[g]) * p * (1 - p), x, x)
                hess += np.diag(keep / n2)[None]
                hess[:, k, k] += 2 * (s2 - bk**2) / (s2 + bk**2) ** 2
                return grad, hess

            beta = np.tile(0.1 * (-1.0) ** np.arange(n_vars), (n_genes, 1))
            every = np.arange(n_genes)
            current = loss(beta, every)
            damping = np.full(n_genes, 1e-3)
            active = np.ones(n_genes, dtype=bool)
            eye = np.eye(n_vars)[None]
            for _ in range(200):
                idx = np.flatnonzero(active)
                if idx.size == 0:
                    break
                grad, hess = derivatives(beta[idx], idx)
                step = np.linalg.solve(hess + damping[idx, None, None] * eye, grad[..., None])
                trial = beta[idx] - step[..., 0]
                new = loss(trial, idx)
                better = np.isfinite(new) & (new <= current[idx])
                gain = current[idx] - new
                beta[idx[better]] = trial[better]
                current[idx[better]] = new[better]
                damping[idx] = np.where(better, damping[idx] / 10, damping[idx] * 10)
                small = np.abs(step[..., 0]).max(1) < 1e-9
                done = (better & (gain <= 1e-12 * (1 + np.abs(current[idx])))) | small
                done |= damping[idx] > 1e12
                active[idx[done]] = False
            _, hess = derivatives(beta, every)
            with np.errstate(all="ignore"):
                inv = np.linalg.pinv(hess)
            return beta, inv, ~active

        def wald_test(  # type: ignore[no-untyped-def]
            self,
            design_matrix,
            disp,
            lfc,
            mu,
            ridge_factor,
            contrast,
            lfc_null,
            alt_hypothesis=None,
        ):
            if alt_hypothesis not in (None, "greaterAbs"):  # not used by genejobs
                return super().wald_test(
                    design_matrix, disp, lfc, mu, ridge_factor, contrast, lfc_null, alt_hypothesis
                )
            from scipy.stats import norm

            x = np.asarray(design_matrix, dtype=float)
            mu = np.asarray(mu, dtype=float)
            w = mu / (1 + mu * np.asarray(disp, dtype=float))
            info = np.einsum("ip,ig,iq->gpq", x, w, x)
            hc = np.linalg.inv(info + ridge_factor) @ np.asarray(contrast, dtype=float)
            se = np.sqrt(np.einsum("gp,gpq,gq->g", hc, info, hc))
            if alt_hypothesis == "greaterAbs":
                # DESeq2's lfcThreshold test on the contrast's fold change: |c'b| > T.
                # (pydeseq2 thresholds each coefficient before applying the contrast; the
                # two agree whenever the contrast is one coefficient, as against the
                # reference group.)
                threshold = float(np.max(np.abs(np.asarray(lfc_null, dtype=float))))
                effect = np.asarray(lfc, dtype=float) @ contrast
                stat = np.sign(effect) * np.fmax((np.abs(effect) - threshold) / se, 0)
                return 2 * norm.sf(np.abs(stat)), stat, se
            null = np.asarray(lfc_null, dtype=float)
            if null.ndim == 1:
                null = null[:, None]
            stat = ((np.asarray(lfc, dtype=float) - null) @ contrast) / se
            return 2 * norm.sf(np.abs(stat)), stat, se

    return VectorisedInference(n_cpus=n_cpus)


def default_comparisons(groups: list[str]) -> list[tuple[str, str]]:
    """Each group against the first one (the control), as the original console did."""
    return [(groups[0], g) for g in groups[1:]]


def design_formula(covariates: Sequence[str]) -> str:
    """``~ batch + donor + group``: covariates in the order given, the groups last."""
    return "~ " + " + ".join([*covariates, "group"])


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
) -> Design:
    """The design of ``~ <covariates> + group`` for samples in order, as R's model.matrix.

    Each factor's reference level is its first level in sample order (the group's
    ``reference`` when given); the other levels get one 0/1 column each.
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


def _shrunk_lfc(  # type: ignore[no-untyped-def]
    stats,
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
) -> DEResult:
    """Fit ``~ <covariates> + group`` once and test each (control, treatment) comparison.

    ``covariates`` are (name, sample -> level) in the design's order; ``shrink`` adds
    apeGLM-style shrunken fold changes (``lfc_shrunk``); ``lfc_threshold`` > 0 tests
    |log2 fold change| > threshold (DESeq2's ``altHypothesis="greaterAbs"``).
    """
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    samples = list(sample_groups)
    missing = [s for s in samples if s not in counts.columns]
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
    if lfc_threshold < 0:
        raise ValidationError("lfc_threshold: must be at least 0")
    matrix = counts[samples].astype(np.int64)
    if int(matrix.to_numpy().sum()) == 0:
        raise ValidationError("counts: every gene has zero reads in every sample; nothing to test")

    sample_group_list = [sample_groups[s] for s in samples]
    levels = _sample_levels(samples, covariates)
    design = design_matrix(sample_group_list, levels)
    if np.linalg.matrix_rank(design.matrix) < design.matrix.shape[1]:
        raise ValidationError(
            f"covariates: the design {design_formula([n for n, _ in levels])} is not of full rank"
        )
    design_frame = pd.DataFrame(design.matrix, index=samples, columns=design.columns)
    metadata = pd.DataFrame({"group": sample_group_list}, index=samples)
    for name, values in levels:
        metadata[name] = values
    inference = _vectorised_inference(n_cpus)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dds = DeseqDataSet(
            counts=matrix.T,
            metadata=metadata,
            design=design_frame,
            refit_cooks=True,
            inference=inference,
            quiet=True,
        )
        dds.deseq2()
        tables = []
        labels = []
        for control, treatment in comparisons:
            stats = DeseqStats(
                dds,
                contrast=design.contrast(control, treatment),
                inference=inference,
                quiet=True,
                lfc_null=lfc_threshold,
                alt_hypothesis="greaterAbs" if lfc_threshold > 0 else None,
            )
            stats.summary()
            res = stats.results_df.copy()
            label = f"{treatment}_vs_{control}"
            labels.append(label)
            res.insert(0, "gene_name", [gene_names.get(g, g) for g in res.index])
            res.insert(0, "gene_id", res.index)
            columns = list(TABLE_COLUMNS)
            if shrink:
                shrunk = _shrunk_lfc(stats, sample_group_list, levels, control, treatment)
                # Genes pydeseq2 does not fit (all zero) have no fold change to shrink.
                res["lfc_shrunk"] = np.where(res["log2FoldChange"].isna(), np.nan, shrunk)
                columns.insert(columns.index("log2FoldChange") + 1, "lfc_shrunk")
            res = res[columns]
            if lfc_threshold > 0:
                res["lfc_threshold"] = lfc_threshold
            if len(comparisons) > 1:
                res.insert(0, "comparison", label)
            tables.append(res.reset_index(drop=True))
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
    var = dds.var
    dispersions = pd.DataFrame(
        {
            "gene_id": matrix.index,
            "baseMean": normalized.mean(axis=1).to_numpy(),
            "genewise": np.asarray(var.get("genewise_dispersions", np.nan)),
            "fitted": np.asarray(var.get("fitted_dispersions", np.nan)),
            "final": np.asarray(var.get("dispersions", np.nan)),
        }
    )
    return DEResult(
        table=pd.concat(tables, ignore_index=True),
        counts=matrix,
        normalized_counts=normalized,
        size_factors=size_factors,
        dispersions=dispersions,
        vst=vst,
        comparisons=labels,
        sample_groups=dict(sample_groups),
        notes=notes,
        design=design_formula([n for n, _ in levels]),
        covariates={name: dict(zip(samples, values, strict=True)) for name, values in levels},
        shrink=shrink,
        lfc_threshold=float(lfc_threshold),
    )
