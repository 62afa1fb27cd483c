"""pydeseq2's ``DefaultInference`` with its per-gene Python loops done as arrays.

Why: pydeseq2 fits each gene's mean, dispersion and fold changes and runs each
Wald test in a Python loop (joblib over scipy calls): 60,000 genes took 200 s
against R's 14 s (bench/bench_de.py). pydeseq2's ``Inference`` interface is the
documented place to swap the numerics; the rest (trend, prior, Cook's outliers,
independent filtering) stays pydeseq2's.

The methods mirror private parts of pydeseq2 (``utils.fit_alpha_mle``'s loss,
``utils.irls_solver``'s steps, the argument lists of ``DefaultInference``), which
may change between its releases. They are checked (tests/unit/test_de_inference.py)
against the versions in ``CHECKED_PYDESEQ2``; with any other version installed,
``make_inference`` falls back to pydeseq2's own inference and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import version
from typing import Literal

import numpy as np
from pydeseq2.default_inference import DefaultInference
from pydeseq2.inference import Inference
from pydeseq2.utils import irls_solver, nb_nll
from scipy.special import gammaln
from scipy.stats import norm

log = logging.getLogger(__name__)

# pydeseq2 release series (major.minor) whose internals this module was checked
# against; the tests ran on 0.5.4.
CHECKED_PYDESEQ2: tuple[str, ...] = ("0.5",)
# L-BFGS-B's default gradient tolerance: a loss sloping less than this (per unit of
# log alpha) is flat, and the search stops there.
_PGTOL = 1e-5
_GRID_POINTS = 25
_GOLDEN = (np.sqrt(5) - 1) / 2

Optimizer = Literal["BFGS", "L-BFGS-B"]


def is_checked_version(installed: str) -> bool:
    """True when ``installed`` (e.g. "0.5.4") is in a series of ``CHECKED_PYDESEQ2``."""
    return any(installed == s or installed.startswith(f"{s}.") for s in CHECKED_PYDESEQ2)


def make_inference(n_cpus: int, *, installed: str | None = None) -> tuple[Inference, str | None]:
    """The vectorised inference, or pydeseq2's own with a note when its version is unchecked."""
    installed = installed or version("pydeseq2")
    if is_checked_version(installed):
        return VectorisedInference(n_cpus=n_cpus), None
    note = (
        f"pydeseq2 {installed} is not a version genejobs' fast inference is checked against "
        f"({', '.join(s + '.x' for s in CHECKED_PYDESEQ2)}); pydeseq2's own, slower one was used"
    )
    log.warning(note)
    return DefaultInference(n_cpus=n_cpus), note


def alpha_losses(
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


def _walk_downhill(losses: np.ndarray, start: np.ndarray, step: float) -> np.ndarray:
    """From grid index ``start`` of each gene (column), the local minimum of its losses.

    A flat stretch stops the walk, as a vanishing gradient stops L-BFGS-B.
    """
    n_grid = losses.shape[0]
    genes = np.arange(losses.shape[1])
    flat = _PGTOL * step
    best = start
    for _ in range(n_grid):
        left = losses[np.maximum(best - 1, 0), genes]
        right = losses[np.minimum(best + 1, n_grid - 1), genes]
        here = losses[best, genes]
        left_ok, right_ok = left < here - flat, right < here - flat
        move = np.where(left_ok & (left <= right), -1, np.where(right_ok, 1, 0))
        if not move.any():
            break
        best = best + move
    return best


def _golden_section(
    a: np.ndarray, b: np.ndarray, loss: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Each gene's minimum of ``loss`` inside its [a, b], to 1e-8, all genes at once."""
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = loss(c), loss(d)
    while np.max(b - a) > 1e-8:
        left = fc < fd  # the minimum lies in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new_c, new_d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        c, d = np.where(left, new_c, d), np.where(left, c, new_d)
        # Each gene has one new point (c on the left, d on the right): one loss.
        fx = loss(np.where(left, c, d))
        fc, fd = np.where(left, fx, fd), np.where(left, fc, fx)
    return np.asarray((a + b) / 2)


def _irls_steps(
    y: np.ndarray,
    x: np.ndarray,
    disp: np.ndarray,
    sf: np.ndarray,
    *,
    min_mu: float,
    beta_tol: float,
    max_beta: float,
    maxiter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """pydeseq2's ``utils.irls_solver`` iterations on every gene at once.

    Returns the coefficients (genes x variables) and which genes diverged (a
    coefficient beyond ``max_beta`` or ``maxiter`` reached); those are refitted by
    the caller. ``sf`` is the size factors as a column.
    """
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
        beta_hat = np.linalg.solve(info, np.einsum("ip,ig->gp", x, w * z)[..., None])[..., 0]
        step += 1
        bad = (np.abs(beta_hat) > max_beta).any(axis=1) | (step >= maxiter)
        diverged[idx[bad]] = True
        active[idx[bad]] = False
        good = idx[~bad]
        beta[good] = beta_hat[~bad]
        mu[:, good] = np.maximum(sf * np.exp(x @ beta[good].T), min_mu)
        old = dev[good]
        dev[good] = -2 * np.asarray(nb_nll(y[:, good], mu[:, good], disp[good]), float).reshape(-1)
        done = np.abs(dev[good] - old) / (np.abs(dev[good]) + 0.1) <= beta_tol
        active[good[done]] = False
    return beta, diverged


class VectorisedInference(DefaultInference):
    """``DefaultInference`` whose mean, dispersion, IRLS and Wald steps work on all genes at once.

    The trend fit and LFC shrinkage stay pydeseq2's own (they are not per-gene loops).
    """

    def lin_reg_mu(
        self,
        counts: np.ndarray,
        size_factors: np.ndarray,
        design_matrix: np.ndarray,
        min_mu: float,
    ) -> np.ndarray:
        """Least squares of normalised counts on the design, every gene in one call."""
        coef, *_ = np.linalg.lstsq(design_matrix, counts / size_factors[:, None], rcond=None)
        return np.asarray(np.maximum(size_factors[:, None] * (design_matrix @ coef), min_mu))

    def alpha_mle(
        self,
        counts: np.ndarray,
        design_matrix: np.ndarray,
        mu: np.ndarray,
        alpha_hat: np.ndarray,
        min_disp: float,
        max_disp: float,
        prior_disp_var: float | None = None,
        cr_reg: bool = True,
        prior_reg: bool = False,
        optimizer: Optimizer = "L-BFGS-B",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each gene's dispersion: the local minimum its starting estimate leads to.

        A grid over the allowed range; from the grid point nearest each gene's
        starting estimate, walk downhill to the local minimum (the one a gradient
        method started there finds, as pydeseq2 and DESeq2 do: the loss can also
        fall towards max_disp for genes with few reads), then narrow that basin
        down to 1e-8 by golden-section search.
        """
        counts = np.asarray(counts, dtype=float)
        mu = np.asarray(mu, dtype=float)
        design = np.asarray(design_matrix, dtype=float)
        log_hat = np.log(np.asarray(alpha_hat, dtype=float))
        if log_hat.size == 0:
            return log_hat, np.ones(0, dtype=bool)
        lo, hi = np.log(min_disp), np.log(max_disp)

        def loss(log_alpha: np.ndarray) -> np.ndarray:
            return alpha_losses(
                log_alpha, counts, design, mu, log_hat, prior_disp_var, cr_reg, prior_reg
            )

        grid = np.linspace(lo, hi, _GRID_POINTS)
        losses = np.stack([loss(np.full(len(log_hat), g)) for g in grid])
        losses = np.where(np.isfinite(losses), losses, np.inf)
        step = grid[1] - grid[0]
        start = np.clip(np.rint((log_hat - lo) / step), 0, len(grid) - 1).astype(int)
        best = _walk_downhill(losses, start, step)
        a = np.maximum(grid[best] - step, lo)
        b = np.minimum(grid[best] + step, hi)
        alpha = np.exp(np.clip(_golden_section(a, b, loss), lo, hi))
        return alpha, np.ones(len(alpha), dtype=bool)

    def irls(
        self,
        counts: np.ndarray,
        size_factors: np.ndarray,
        design_matrix: np.ndarray,
        disp: np.ndarray,
        min_mu: float,
        beta_tol: float,
        min_beta: float = -30,
        max_beta: float = 30,
        optimizer: Optimizer = "L-BFGS-B",
        maxiter: int = 250,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """pydeseq2's ``utils.irls_solver``, step for step, on every gene at once; a
        gene that diverges takes pydeseq2's own per-gene path (L-BFGS-B, then a grid)."""
        y = np.asarray(counts, dtype=float)
        x = np.asarray(design_matrix, dtype=float)
        disp = np.asarray(disp, dtype=float)
        sf = np.asarray(size_factors, dtype=float)[:, None]
        beta, diverged = _irls_steps(
            y, x, disp, sf, min_mu=min_mu, beta_tol=beta_tol, max_beta=max_beta, maxiter=maxiter
        )
        converged = np.ones(y.shape[1], dtype=bool)
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
        ridge = np.eye(x.shape[1]) * 1e-6
        inv = np.linalg.inv(np.einsum("ip,ig,iq->gpq", x, w, x) + ridge)
        hat = w * np.einsum("ip,gpq,iq->ig", x, inv, x)
        return beta, sf * np.exp(x @ beta.T), hat, converged

    def wald_test(
        self,
        design_matrix: np.ndarray,
        disp: np.ndarray,
        lfc: np.ndarray,
        mu: np.ndarray,
        ridge_factor: np.ndarray,
        contrast: np.ndarray,
        lfc_null: np.ndarray,
        alt_hypothesis: Literal["greaterAbs", "lessAbs", "greater", "less"] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Wald tests of every gene at once (p-values, statistics, standard errors): two-sided,
        or DESeq2's lfcThreshold test (``greaterAbs``)."""
        if alt_hypothesis not in (None, "greaterAbs"):  # not used by genejobs: pydeseq2's loop
            pvals, stats, se = super().wald_test(
                design_matrix, disp, lfc, mu, ridge_factor, contrast, lfc_null, alt_hypothesis
            )
            return pvals, stats, se
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

    def lfc_shrink_nbinom_glm(
        self,
        design_matrix: np.ndarray,
        counts: np.ndarray,
        size: np.ndarray,
        offset: np.ndarray,
        prior_no_shrink_scale: float,
        prior_scale: float,
        optimizer: str,
        shrink_index: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
