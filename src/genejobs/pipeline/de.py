"""DESeq2-style statistics with pydeseq2: design ``~group``, Wald tests, BH, Cook's.

A thin, validated wrapper: pydeseq2 does the mathematics (size factors,
dispersions, independent filtering, outlier refitting); this module chooses the
comparisons, names the columns as DESeq2 does and records its warnings.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import gammaln

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
            if alt_hypothesis is not None:  # not used by genejobs: pydeseq2's own loop
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
            null = np.asarray(lfc_null, dtype=float)
            if null.ndim == 1:
                null = null[:, None]
            stat = ((np.asarray(lfc, dtype=float) - null) @ contrast) / se
            return 2 * norm.sf(np.abs(stat)), stat, se

    return VectorisedInference(n_cpus=n_cpus)


def default_comparisons(groups: list[str]) -> list[tuple[str, str]]:
    """Each group against the first one (the control), as the original console did."""
    return [(groups[0], g) for g in groups[1:]]


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
    matrix = counts[samples].astype(np.int64)
    if int(matrix.to_numpy().sum()) == 0:
        raise ValidationError("counts: every gene has zero reads in every sample; nothing to test")

    metadata = pd.DataFrame({"group": [sample_groups[s] for s in samples]}, index=samples)
    inference = _vectorised_inference(n_cpus)
    notes: list[str] = []
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
        tables = []
        labels = []
        for control, treatment in comparisons:
            stats = DeseqStats(
                dds, contrast=["group", treatment, control], inference=inference, quiet=True
            )
            stats.summary()
            res = stats.results_df.copy()
            label = f"{treatment}_vs_{control}"
            labels.append(label)
            res.insert(0, "gene_name", [gene_names.get(g, g) for g in res.index])
            res.insert(0, "gene_id", res.index)
            res = res[TABLE_COLUMNS]
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
    )
