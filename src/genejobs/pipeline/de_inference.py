"""DESeq2's numerics (R 1.38) for pydeseq2's procedure, every gene at once.

Why: pydeseq2 fits each gene's mean, dispersion and fold changes and runs each Wald
test in a Python loop (joblib over scipy calls): 60,000 genes took 200 s against
R's 14 s (bench/bench_de.py). And it reaches its optima by other routes than R
(L-BFGS-B from other starting points, other stopping rules, another ridge, means
not floored in the standard errors): with 2-4 samples per group, where a
dispersion's likelihood is flat, that gave other NA sets and p-values than R
(bench/bench_de_small.py). So the per-gene steps here follow DESeq2's C++ and R
code step for step: the Armijo line search on log(alpha) with its grid fallback
(``fitDisp``, ``fitDispGrid``), the IRLS with a log2-scale ridge and means floored
at 0.5 (``fitBeta``), the gamma-GLM trend (``parametricDispersionFit``) and the MAP
start; the rest of the procedure (size factors, prior variance, Cook's distances,
refitting, independent filtering) is pydeseq2's, which agrees with R there.

Arrays run samples down the rows and genes across the columns (R's matrices are
transposed), as pydeseq2's ``Inference`` interface passes them.

The methods plug into pydeseq2 through its ``Inference`` interface and subclass
``DeseqDataSet``; they rely on its argument lists and attribute names, which may
change between releases. They are checked against the versions in
``CHECKED_PYDESEQ2``; with any other version installed, ``make_inference`` falls
back to pydeseq2's own inference and says so.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Literal

import numpy as np
import pandas as pd
from pydeseq2.dds import DeseqDataSet
from pydeseq2.default_inference import DefaultInference
from pydeseq2.inference import Inference
from pydeseq2.utils import irls_solver, lowess
from scipy.special import digamma, gammaln, xlogy
from scipy.stats import chi2, false_discovery_control, norm

log = logging.getLogger(__name__)

# pydeseq2 release series (major.minor) whose internals this module was checked
# against; the tests ran on 0.5.4.
CHECKED_PYDESEQ2: tuple[str, ...] = ("0.5",)

# DESeq2's fitDisp: Armijo line search on log(alpha).
_KAPPA_0 = 1.0
_DISP_TOL = 1e-6
_DISP_MAXIT = 100
_ARMIJO_EPSILON = 1e-4
_LOG_ALPHA_FLOOR, _LOG_ALPHA_CEILING = -30.0, 10.0
# DESeq2's fitBeta: IRLS on the natural-log scale with a ridge of 1e-6 on the log2 scale.
R_LAMBDA_LOG2 = 1e-6
R_BETA_MAXIT = 100
R_LARGE_BETA = 30.0

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


# --- DESeq2's own numerics (R 1.38, src/DESeq2.cpp and R/core.R), for every gene at once ---
# pydeseq2 reaches the same optima by other routes (L-BFGS-B, other starting points and
# stopping rules); on few samples the log-likelihood of a dispersion is flat, so where an
# optimiser stops decides the answer. These follow DESeq2's routes step for step.


def log_posterior(
    log_alpha: np.ndarray,
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    prior_mean: np.ndarray | None = None,
    prior_var: float = 1.0,
) -> np.ndarray:
    """DESeq2's ``log_posterior``: NB log-likelihood of each gene's dispersion, Cox-Reid
    adjusted, plus the normal prior on log(alpha) when ``prior_mean`` is given.

    Parameters
    ----------
    log_alpha : ndarray, shape (n_genes,)
        Natural log of each gene's dispersion.
    counts, mu : ndarray, shape (n_samples, n_genes)
        Counts and their fitted means (samples run down the rows).
    design : ndarray, shape (n_samples, n_coefficients)
    prior_mean : ndarray, shape (n_genes,), optional
        log of the trend's dispersion (the prior's centre); no prior when None.
    prior_var : float
        Variance of the prior on log(alpha).

    Returns
    -------
    ndarray, shape (n_genes,)
        The log posterior (larger is better), constants in the counts left out.
    """
    alpha = np.exp(log_alpha)
    inv = 1.0 / alpha
    w = 1.0 / (1.0 / mu + alpha)
    cr = -0.5 * np.linalg.slogdet(np.einsum("ip,ig,iq->gpq", design, w, design))[1]
    ll = (
        gammaln(counts + inv)
        - gammaln(inv)
        - counts * np.log(mu + inv)
        - inv * np.log1p(mu * alpha)
    ).sum(axis=0)
    prior = 0.0 if prior_mean is None else -0.5 * (log_alpha - prior_mean) ** 2 / prior_var
    return np.asarray(ll + cr + prior)


def dlog_posterior(
    log_alpha: np.ndarray,
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    prior_mean: np.ndarray | None = None,
    prior_var: float = 1.0,
) -> np.ndarray:
    """DESeq2's ``dlog_posterior``: derivative of :func:`log_posterior` in log(alpha).

    Same parameters as :func:`log_posterior`; returns shape (n_genes,).
    """
    alpha = np.exp(log_alpha)
    inv = 1.0 / alpha
    w = 1.0 / (1.0 / mu + alpha)
    b = np.einsum("ip,ig,iq->gpq", design, w, design)
    db = np.einsum("ip,ig,iq->gpq", design, -(w**2), design)
    cr = -0.5 * np.trace(np.linalg.solve(b, db), axis1=1, axis2=2)
    ll = inv**2 * (
        digamma(inv)
        + np.log1p(mu * alpha)
        - mu * alpha / (1.0 + mu * alpha)
        - digamma(counts + inv)
        + counts / (mu + inv)
    ).sum(axis=0)
    prior = 0.0 if prior_mean is None else -(log_alpha - prior_mean) / prior_var
    return np.asarray((ll + cr) * alpha + prior)


def line_search_dispersions(
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    log_alpha: np.ndarray,
    *,
    min_log_alpha: float,
    prior_mean: np.ndarray | None = None,
    prior_var: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """DESeq2's ``fitDisp`` (C++) on every gene at once: Armijo steps along the gradient.

    Parameters
    ----------
    counts, mu : ndarray, shape (n_samples, n_genes)
    design : ndarray, shape (n_samples, n_coefficients)
    log_alpha : ndarray, shape (n_genes,)
        Starting log dispersions.
    min_log_alpha : float
        A gene whose estimate falls below this stops (it is heading to zero).
    prior_mean, prior_var
        As in :func:`log_posterior` (MAP when ``prior_mean`` is given).

    Returns
    -------
    log_alpha, iterations, initial_lp, last_lp : ndarray, shape (n_genes,)
        Final estimates, steps taken (``_DISP_MAXIT`` means not converged) and the
        log posterior at the start and at the end.
    """
    a = np.array(log_alpha, dtype=float)
    n = a.size

    def at(idx: np.ndarray, la: np.ndarray, f: Callable[..., np.ndarray]) -> np.ndarray:
        pm = None if prior_mean is None else prior_mean[idx]
        return f(la, counts[:, idx], mu[:, idx], design, pm, prior_var)

    every = np.arange(n)
    lp = at(every, a, log_posterior)
    dlp = at(every, a, dlog_posterior)
    initial = lp.copy()
    kappa = np.full(n, _KAPPA_0)
    iters = np.zeros(n, dtype=int)
    accepts = np.zeros(n, dtype=int)
    active = np.ones(n, dtype=bool)
    for _ in range(_DISP_MAXIT):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        iters[idx] += 1
        ai, di, ki = a[idx], dlp[idx], kappa[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            prop = ai + ki * di
            ki = np.where(prop < _LOG_ALPHA_FLOOR, (_LOG_ALPHA_FLOOR - ai) / di, ki)
            ki = np.where(prop > _LOG_ALPHA_CEILING, (_LOG_ALPHA_CEILING - ai) / di, ki)
        trial = ai + ki * di
        new_lp = at(idx, trial, log_posterior)
        accept = -new_lp <= -lp[idx] - ki * _ARMIJO_EPSILON * di**2
        # Rejected steps halve kappa and try again.
        kappa[idx[~accept]] = ki[~accept] / 2.0
        acc = idx[accept]
        accepts[acc] += 1
        change = new_lp[accept] - lp[acc]
        a[acc] = trial[accept]
        lp[acc] = new_lp[accept]
        stop = (change < _DISP_TOL) | (a[acc] < min_log_alpha)
        active[acc[stop]] = False
        go = acc[~stop]
        if go.size:
            dlp[go] = at(go, a[go], dlog_posterior)
            k = np.minimum(ki[accept][~stop] * 1.1, _KAPPA_0)
            kappa[go] = np.where(accepts[go] % 5 == 0, k / 2.0, k)
    return a, iters, initial, lp


def grid_dispersions(
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    max_disp: float,
    prior_mean: np.ndarray | None = None,
    prior_var: float = 1.0,
) -> np.ndarray:
    """DESeq2's ``fitDispGrid``: the best of 20 log-spaced dispersions from 1e-8 to
    ``max_disp``, refined on 20 points around it. Shapes as in :func:`log_posterior`;
    returns the dispersions (not their logs), shape (n_genes,)."""
    n = counts.shape[1]
    grid = np.linspace(np.log(1e-8), np.log(max_disp), 20)
    delta = grid[1] - grid[0]

    def best(points: np.ndarray) -> np.ndarray:  # points: (20, n_genes)
        lps = np.stack(
            [log_posterior(p, counts, mu, design, prior_mean, prior_var) for p in points]
        )
        return np.asarray(points[np.argmax(lps, axis=0), np.arange(n)])

    coarse = best(np.repeat(grid[:, None], n, axis=1))
    fine = np.linspace(coarse - delta, coarse + delta, 20)
    return np.asarray(np.exp(best(fine)))


def genewise_dispersions_r(
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    alpha_init: np.ndarray,
    min_disp: float,
    max_disp: float,
) -> np.ndarray:
    """DESeq2's ``estimateDispersionsGeneEst`` after its means: line search from the rough
    estimate, the start kept where the likelihood did not rise, the grid where the search
    did not converge. Shapes as in :func:`line_search_dispersions`; returns (n_genes,)."""
    a, iters, initial, last = line_search_dispersions(
        counts, mu, design, np.log(alpha_init), min_log_alpha=np.log(min_disp / 10)
    )
    disp = np.minimum(np.exp(a), max_disp)
    no_increase = last < initial + np.abs(initial) / 1e6
    disp[no_increase] = alpha_init[no_increase]
    converged = (iters < _DISP_MAXIT) & (iters != 1)
    refit = ~converged & (disp > min_disp * 10)
    if refit.any():
        disp[refit] = grid_dispersions(counts[:, refit], mu[:, refit], design, max_disp)
    return np.asarray(np.clip(disp, min_disp, max_disp))


def map_dispersions_r(
    counts: np.ndarray,
    mu: np.ndarray,
    design: np.ndarray,
    genewise: np.ndarray,
    fitted: np.ndarray,
    prior_var: float,
    min_disp: float,
    max_disp: float,
) -> np.ndarray:
    """DESeq2's ``estimateDispersionsMAP``: line search with the log-normal prior around the
    trend, started at the gene-wise estimate unless it is below a tenth of the trend; the
    grid where it did not converge. Shapes as in :func:`line_search_dispersions`."""
    start = np.where(genewise > 0.1 * fitted, genewise, fitted)
    start = np.where(np.isnan(start), fitted, start)
    prior_mean = np.log(fitted)
    a, iters, _, _ = line_search_dispersions(
        counts,
        mu,
        design,
        np.log(start),
        min_log_alpha=np.log(min_disp / 10),
        prior_mean=prior_mean,
        prior_var=prior_var,
    )
    disp = np.exp(a)
    refit = iters >= _DISP_MAXIT
    if refit.any():
        disp[refit] = grid_dispersions(
            counts[:, refit], mu[:, refit], design, max_disp, prior_mean[refit], prior_var
        )
    return np.asarray(np.clip(disp, min_disp, max_disp))


def gamma_trend_fit(means: np.ndarray, disps: np.ndarray) -> np.ndarray | None:
    """DESeq2's ``parametricDispersionFit``: alpha = a0 + a1/mean by a gamma GLM (identity
    link), refitted on the genes within (1e-4, 15) times the curve until the coefficients
    settle. ``means``/``disps`` are per gene, shape (n_genes,); returns [a0, a1], or None
    where DESeq2 gives up on the parametric curve."""
    coefs = np.array([0.1, 1.0])
    x_all = np.column_stack([np.ones_like(means), 1.0 / means])
    for _ in range(11):
        resid = disps / (x_all @ coefs)
        good = (resid > 1e-4) & (resid < 15)
        x, y = x_all[good], disps[good]
        new, converged = coefs.copy(), False
        dev_old = np.inf
        for _ in range(25):  # R's glm.fit: IRLS, weights 1/mu^2, working response y
            fit = x @ new
            if (fit <= 0).any():
                return None
            sw = 1.0 / fit
            new = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
            fit = x @ new
            if (fit <= 0).any():
                return None
            dev = 2 * np.sum(-np.log(y / fit) + (y - fit) / fit)
            if abs(dev - dev_old) / (abs(dev) + 0.1) < 1e-8:
                converged = True
                break
            dev_old = dev
        old, coefs = coefs, new
        if not (coefs > 0).all():
            return None
        if np.sum(np.log(coefs / old) ** 2) < 1e-6 and converged:
            return coefs
    return None


def local_trend_fit(
    means: np.ndarray, disps: np.ndarray, at: np.ndarray, min_disp: float
) -> np.ndarray:
    """DESeq2's ``localDispersionFit`` approximated: a local quadratic regression of log
    dispersion on log mean (tricube weights over the nearest 70% of genes, times the
    genes' means as prior weights, as ``locfit(..., weights = means)``), evaluated
    directly on 200 points and interpolated (locfit interpolates its own tree of points,
    so values differ from R's by ~1% in the median, more at the ends).

    Parameters
    ----------
    means, disps : ndarray, shape (n_used,)
        baseMean and gene-wise dispersions of the genes fitted (dispersion >= 10 x min).
    at : ndarray, shape (n_genes,)
        baseMeans where the trend is wanted.

    Returns
    -------
    ndarray, shape (n_genes,)
    """
    if disps.size == 0:
        return np.full(len(at), min_disp)
    x, y = np.log(means), np.log(disps)
    k = max(3, int(np.floor(len(x) * 0.7)))
    where = np.log(at)
    grid = np.linspace(where.min(), where.max(), 200)
    values = np.empty(len(grid))
    for i, x0 in enumerate(grid):
        dist = np.abs(x - x0)
        h = max(float(np.partition(dist, min(k, len(x)) - 1)[min(k, len(x)) - 1]), 1e-12)
        w = means * (1 - np.clip(dist / h, 0, 1) ** 3) ** 3
        design = np.column_stack([np.ones_like(x), x - x0, (x - x0) ** 2]) * np.sqrt(w)[:, None]
        values[i] = np.linalg.lstsq(design, y * np.sqrt(w), rcond=None)[0][0]
    return np.asarray(np.exp(np.interp(where, grid, values)))


def nb_log_pmf(counts: np.ndarray, mu: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """R's ``dnbinom(log=TRUE)`` with mean ``mu`` and size 1/``disp``, element-wise;
    ``counts``/``mu`` are (n_samples, n_genes), ``disp`` is (n_genes,)."""
    r = 1.0 / disp
    return np.asarray(
        gammaln(counts + r)
        - gammaln(r)
        - gammaln(counts + 1)
        + r * np.log(r / (r + mu))
        + xlogy(counts, mu / (r + mu))
    )


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
    """DESeq2's ``fitBeta`` (C++) iterations on every gene at once.

    Parameters
    ----------
    y : ndarray, shape (n_samples, n_genes)
        Counts.
    x : ndarray, shape (n_samples, n_coefficients)
    disp : ndarray, shape (n_genes,)
    sf : ndarray, shape (n_samples, 1) or (n_samples, n_genes)
        Size factors (a column) or per-gene normalisation factors.

    Returns
    -------
    beta : ndarray, shape (n_genes, n_coefficients)
        Natural-log coefficients. The means are floored at ``min_mu`` in every step and
        the ridge is DESeq2's 1e-6 on the log2 scale, so a group of zeros ends where R's does.
    diverged : ndarray of bool, shape (n_genes,)
        A coefficient beyond ``max_beta``, a NaN deviance, or ``maxiter`` steps: the caller
        refits these (R uses optim there).
    """
    n_vars, n_genes = x.shape[1], y.shape[1]
    ridge = np.eye(n_vars) * R_LAMBDA_LOG2 / np.log(2) ** 2
    if np.linalg.matrix_rank(x) == n_vars:
        q, r = np.linalg.qr(x)
        beta = np.linalg.solve(r, q.T @ np.log(y / sf + 0.1)).T
    else:
        beta = np.zeros((n_genes, n_vars))
        with np.errstate(divide="ignore"):
            beta[:, 0] = np.log(y / sf).mean(axis=0)
    mu = np.maximum(sf * np.exp(x @ beta.T), min_mu)
    dev_old = np.zeros(n_genes)
    active = np.ones(n_genes, dtype=bool)
    diverged = np.zeros(n_genes, dtype=bool)
    for step in range(maxiter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        m, d = mu[:, idx], disp[idx]
        s = sf if sf.shape[1] == 1 else sf[:, idx]
        w = m / (1.0 + m * d)
        z = np.log(m / s) + (y[:, idx] - m) / m
        info = np.einsum("ip,ig,iq->gpq", x, w, x) + ridge
        beta_hat = np.linalg.solve(info, np.einsum("ip,ig->gp", x, w * z)[..., None])[..., 0]
        bad = (np.abs(beta_hat) > max_beta).any(axis=1)
        diverged[idx[bad]] = True
        active[idx[bad]] = False
        good = idx[~bad]
        s = sf if sf.shape[1] == 1 else sf[:, good]
        beta[good] = beta_hat[~bad]
        mu[:, good] = np.maximum(s * np.exp(x @ beta[good].T), min_mu)
        dev = -2 * nb_log_pmf(y[:, good], mu[:, good], disp[good]).sum(axis=0)
        conv = np.abs(dev - dev_old[good]) / (np.abs(dev) + 0.1)
        nan = np.isnan(conv)
        diverged[good[nan]] = True
        done = nan | ((step > 0) & (conv < beta_tol))
        active[good[done]] = False
        dev_old[good] = dev
    diverged |= active  # maxiter reached
    return beta, diverged


def r_weights(mu: np.ndarray, disp: np.ndarray, min_mu: float) -> np.ndarray:
    """GLM weights as DESeq2's fitBeta leaves them: means floored at ``min_mu``.

    ``mu`` is (n_samples, n_genes), ``disp`` (n_genes,); returns (n_samples, n_genes)."""
    m = np.maximum(mu, min_mu)
    return np.asarray(m / (1.0 + m * disp))


@dataclass(frozen=True)
class _ShrinkageProblem:
    """apeGLM's objective for every gene: the NB likelihood with a Cauchy prior on the
    shrunk coefficient ``k`` and a normal prior on the others; ``g`` picks the genes."""

    x: np.ndarray  # samples x coefficients
    y: np.ndarray  # genes x samples
    size: np.ndarray  # genes x 1: NB size, 1 / dispersion
    off: np.ndarray  # 1 x samples: log size factors
    k: int
    keep: np.ndarray  # 1 for the coefficients with a normal prior, 0 for k
    s2: float  # Cauchy scale, squared
    n2: float  # normal scale, squared
    log_size: np.ndarray  # log(size), computed once

    def loss(self, beta: np.ndarray, g: np.ndarray) -> np.ndarray:
        x, y, size, keep, k = self.x, self.y, self.size, self.keep, self.k
        xb = beta @ x.T
        prior = ((beta * keep) ** 2).sum(1) / (2 * self.n2) + np.log1p(beta[:, k] ** 2 / self.s2)
        nll = (y[g] * xb - (y[g] + size[g]) * np.logaddexp(xb + self.off, self.log_size[g])).sum(1)
        return np.asarray(prior - nll)

    def derivatives(self, beta: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y, size, keep, k, s2, n2 = self.x, self.y, self.size, self.keep, self.k, self.s2, self.n2
        t = beta @ x.T + self.off - self.log_size[g]
        p = 1.0 / (1.0 + np.exp(-np.clip(t, -500, 500)))  # e^(xb+off) / (size + e^...)
        bk = beta[:, k]
        grad = beta * keep / n2 - (y[g] - (y[g] + size[g]) * p) @ x
        grad[:, k] += 2 * bk / (s2 + bk**2)
        hess = np.einsum("gi,ip,iq->gpq", (y[g] + size[g]) * p * (1 - p), x, x)
        hess += np.diag(keep / n2)[None]
        hess[:, k, k] += 2 * (s2 - bk**2) / (s2 + bk**2) ** 2
        return grad, hess


def _damped_newton(problem: _ShrinkageProblem) -> tuple[np.ndarray, np.ndarray]:
    """Every gene's minimum by Levenberg-damped Newton steps from pydeseq2's starting
    point; a gene stops when its loss no longer falls, its step vanishes or its damping
    explodes. Returns the coefficients and which genes are still active (unconverged)."""
    n_genes, n_vars = problem.y.shape[0], problem.x.shape[1]
    beta = np.tile(0.1 * (-1.0) ** np.arange(n_vars), (n_genes, 1))
    current = problem.loss(beta, np.arange(n_genes))
    damping = np.full(n_genes, 1e-3)
    active = np.ones(n_genes, dtype=bool)
    eye = np.eye(n_vars)[None]
    for _ in range(200):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        grad, hess = problem.derivatives(beta[idx], idx)
        step = np.linalg.solve(hess + damping[idx, None, None] * eye, grad[..., None])
        trial = beta[idx] - step[..., 0]
        new = problem.loss(trial, idx)
        better = np.isfinite(new) & (new <= current[idx])
        gain = current[idx] - new
        beta[idx[better]] = trial[better]
        current[idx[better]] = new[better]
        damping[idx] = np.where(better, damping[idx] / 10, damping[idx] * 10)
        small = np.abs(step[..., 0]).max(1) < 1e-9
        done = (better & (gain <= 1e-12 * (1 + np.abs(current[idx])))) | small
        done |= damping[idx] > 1e12
        active[idx[done]] = False
    return beta, active


class VectorisedInference(DefaultInference):
    """``DefaultInference`` whose mean, dispersion, IRLS and Wald steps follow DESeq2's
    numerics, on all genes at once.

    pydeseq2 calls these with samples down the rows and genes across the columns; the
    rough dispersion estimates and the trend's gamma GLM stay pydeseq2's (they agree
    with R), LFC shrinkage is pydeseq2's objective minimised for all genes at once.
    """

    def lin_reg_mu(
        self,
        counts: np.ndarray,
        size_factors: np.ndarray,
        design_matrix: np.ndarray,
        min_mu: float,
    ) -> np.ndarray:
        """DESeq2's ``linearModelMu``: least squares of normalised counts on the design.

        Parameters
        ----------
        counts : ndarray, shape (n_samples, n_genes)
        size_factors : ndarray, shape (n_samples,)
        design_matrix : ndarray, shape (n_samples, n_coefficients)
        min_mu : float
            Floor of the fitted means (DESeq2's minmu, 0.5).

        Returns
        -------
        ndarray, shape (n_samples, n_genes)
            Fitted means on the counts' scale.
        """
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
        """Each gene's dispersion by DESeq2's route (:func:`genewise_dispersions_r`, or
        :func:`map_dispersions_r` with the prior).

        Parameters
        ----------
        counts, mu : ndarray, shape (n_samples, n_genes)
        design_matrix : ndarray, shape (n_samples, n_coefficients)
        alpha_hat : ndarray, shape (n_genes,)
            The rough (moments) estimates, or the trend's values with the prior.
        min_disp, max_disp : float
            DESeq2's bounds, 1e-8 and max(10, n_samples).

        Returns
        -------
        dispersions, converged : ndarray, shape (n_genes,)
            ``converged`` is all True: genes the line search leaves unconverged have
            been refitted on the grid, as DESeq2 does.
        """
        counts = np.asarray(counts, dtype=float)
        design = np.asarray(design_matrix, dtype=float)
        alpha_hat = np.asarray(alpha_hat, dtype=float)
        if alpha_hat.size == 0:
            return alpha_hat, np.ones(0, dtype=bool)
        # DESeq2 floors the means at 0.5 before fitting dispersions (minmu).
        mu = np.maximum(np.asarray(mu, dtype=float), 0.5)
        if prior_reg and prior_disp_var is not None:
            # The start DESeq2 would take from the gene-wise estimates is unknown here
            # (pydeseq2's Cook's refit): start at the trend, as DESeq2 does for genes
            # far below it.
            alpha = map_dispersions_r(
                counts, mu, design, alpha_hat, alpha_hat, prior_disp_var, min_disp, max_disp
            )
        else:
            alpha = genewise_dispersions_r(counts, mu, design, alpha_hat, min_disp, max_disp)
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
        maxiter: int = R_BETA_MAXIT,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """DESeq2's ``fitBeta`` on every gene at once (:func:`_irls_steps`); a gene that
        diverges takes pydeseq2's per-gene path (L-BFGS-B, then a grid), where R uses optim.

        Parameters
        ----------
        counts : ndarray, shape (n_samples, n_genes)
        size_factors : ndarray, shape (n_samples,)
        design_matrix : ndarray, shape (n_samples, n_coefficients)
        disp : ndarray, shape (n_genes,)
        min_mu, beta_tol : float
            Floor of the means in each step (0.5) and the relative deviance change that
            ends the iterations (1e-8).

        Returns
        -------
        beta : ndarray, shape (n_genes, n_coefficients)
            Natural-log coefficients.
        mu : ndarray, shape (n_samples, n_genes)
            Fitted means (not floored: Cook's distances and the LRT use these, as R).
        hat : ndarray, shape (n_samples, n_genes)
            Diagonal of the hat matrix, from the floored means and the ridge (as R).
        converged : ndarray of bool, shape (n_genes,)
        """
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
        mu = sf * np.exp(x @ beta.T)
        w = r_weights(mu, disp, min_mu)
        ridge = np.eye(x.shape[1]) * R_LAMBDA_LOG2 / np.log(2) ** 2
        inv = np.linalg.inv(np.einsum("ip,ig,iq->gpq", x, w, x) + ridge)
        hat = w * np.einsum("ip,gpq,iq->ig", x, inv, x)
        return beta, mu, hat, converged

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
        """Wald tests of every gene at once: two-sided, or DESeq2's lfcThreshold test
        (``greaterAbs``).

        Parameters
        ----------
        design_matrix : ndarray, shape (n_samples, n_coefficients)
        disp : ndarray, shape (n_genes,)
        lfc : ndarray, shape (n_genes, n_coefficients)
            Natural-log coefficients.
        mu : ndarray, shape (n_samples, n_genes)
        ridge_factor : ndarray
            Ignored: DESeq2's ridge (1e-6 on the log2 scale) is used.
        contrast : ndarray, shape (n_coefficients,)
        lfc_null : ndarray
            The natural-log threshold (``greaterAbs``) or the null value per coefficient.

        Returns
        -------
        pvalues, stats, se : ndarray, shape (n_genes,)
            ``se`` is on the natural-log scale, as pydeseq2 expects.
        """
        if alt_hypothesis not in (None, "greaterAbs"):  # not used by genejobs: pydeseq2's loop
            pvals, stats, se = super().wald_test(
                design_matrix, disp, lfc, mu, ridge_factor, contrast, lfc_null, alt_hypothesis
            )
            return pvals, stats, se
        x = np.asarray(design_matrix, dtype=float)
        # DESeq2's standard errors: weights from the means floored at 0.5, the ridge of
        # 1e-6 on the log2 scale (pydeseq2 passes 1e-6 on the natural-log scale).
        w = r_weights(np.asarray(mu, dtype=float), np.asarray(disp, dtype=float), 0.5)
        info = np.einsum("ip,ig,iq->gpq", x, w, x)
        ridge = np.eye(x.shape[1]) * R_LAMBDA_LOG2 / np.log(2) ** 2
        hc = np.linalg.inv(info + ridge) @ np.asarray(contrast, dtype=float)
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
        """pydeseq2's ``utils.nbinomGLM`` (NB likelihood, apeGLM's Cauchy prior on one
        coefficient, normal on the others) minimised for every gene at once by damped
        Newton steps from pydeseq2's starting point (pydeseq2 runs L-BFGS-B gene by
        gene: 2,000 genes took minutes).

        Parameters
        ----------
        design_matrix : ndarray, shape (n_samples, n_coefficients)
        counts : ndarray, shape (n_samples, n_genes)
        size : ndarray, shape (n_genes,)
            NB size, 1 / dispersion.
        offset : ndarray, shape (n_samples,)
            log size factors.
        prior_no_shrink_scale, prior_scale : float
            Scales of the normal and Cauchy priors.
        shrink_index : int
            The coefficient shrunk.

        Returns
        -------
        beta : ndarray, shape (n_genes, n_coefficients)
        inverse_hessian : ndarray, shape (n_genes, n_coefficients, n_coefficients)
        converged : ndarray of bool, shape (n_genes,)
        """
        x = np.asarray(design_matrix, dtype=float)
        n_vars = x.shape[1]
        k = int(shrink_index)
        keep = np.ones(n_vars)
        keep[k] = 0.0
        nb_size = np.asarray(size, dtype=float)[:, None]
        problem = _ShrinkageProblem(
            x=x,
            y=np.asarray(counts, dtype=float).T,  # genes x samples
            size=nb_size,
            off=np.asarray(offset, dtype=float)[None, :],
            k=k,
            keep=keep,
            s2=float(prior_scale) ** 2,
            n2=float(prior_no_shrink_scale) ** 2,
            log_size=np.log(nb_size),
        )
        beta, active = _damped_newton(problem)
        _, hess = problem.derivatives(beta, np.arange(beta.shape[0]))
        with np.errstate(all="ignore"):
            inv = np.linalg.pinv(hess)
        return beta, inv, ~active


class RDeseqDataSet(DeseqDataSet):
    """pydeseq2's ``DeseqDataSet`` whose trend and MAP steps follow DESeq2's R code.

    The trend is fitted on genes whose gene-wise dispersion is above 100 x min_disp, each
    round choosing genes within (1e-4, 15) x the current curve (pydeseq2 fits all
    non-zero genes and drops genes for good); where that fails, a local trend as
    DESeq2's (:func:`local_trend_fit`); the MAP search starts from the gene-wise
    estimate (pydeseq2 starts from the trend). With another inference than
    :class:`VectorisedInference`, pydeseq2's own steps run.
    """

    def _fit_parametric_dispersion_trend(self, vst: bool = False) -> None:
        if vst or not isinstance(self.inference, VectorisedInference):
            super()._fit_parametric_dispersion_trend(vst)
            return
        nz = self.var["non_zero"].to_numpy()
        means = self.var["_normed_means"].to_numpy(dtype=float)[nz]
        disps = self.var["genewise_dispersions"].to_numpy(dtype=float)[nz]
        use = disps > 100 * self.min_disp
        coefs = gamma_trend_fit(means[use], disps[use]) if use.any() else None
        if coefs is None and self._may_use_local_trend():
            # DESeq2's localDispersionFit (locfit) where its parametric fit fails.
            local = disps >= 10 * self.min_disp
            fitted = np.full(self.n_vars, np.nan)
            fitted[nz] = local_trend_fit(means[local], disps[local], means, self.min_disp)
            self.uns["disp_function_type"] = "local"
            self.var["fitted_dispersions"] = fitted
            warnings.warn(
                "The parametric dispersion trend did not converge; a local regression "
                "trend was fitted instead (as DESeq2 does)",
                UserWarning,
                stacklevel=2,
            )
            return
        if coefs is None:
            # DESeq2 switches to a local regression (locfit) here, which genejobs does not
            # have; pydeseq2's own parametric fit (which drops far genes for good, so it
            # often still converges) is the nearer of what there is, its mean trend next.
            warnings.warn(
                "DESeq2's parametric dispersion trend did not converge (R would use a local "
                "fit); pydeseq2's parametric fit was used instead",
                UserWarning,
                stacklevel=2,
            )
            super()._fit_parametric_dispersion_trend(vst)
            return
        self.uns["trend_coeffs"] = pd.Series(coefs, index=["a0", "a1"])
        self.uns["disp_function_type"] = "parametric"
        fitted = np.full(self.n_vars, np.nan)
        fitted[nz] = coefs[0] + coefs[1] / self.var["_normed_means"].to_numpy(dtype=float)[nz]
        self.var["fitted_dispersions"] = fitted

    def _may_use_local_trend(self) -> bool:
        """The local trend has no formula to hand to pydeseq2's Cook's refit, which runs
        only where a group has 7 or more samples; there pydeseq2's fall-backs stay."""
        design = self.obsm["design_matrix"]
        return int(design.value_counts().max()) < 7

    def fit_MAP_dispersions(self) -> None:
        if not isinstance(self.inference, VectorisedInference):
            super().fit_MAP_dispersions()
            return
        if "prior_disp_var" not in self.uns:
            self.fit_dispersion_prior()
        nz = self.var["non_zero"].to_numpy()
        genewise = self.var["genewise_dispersions"].to_numpy(dtype=float)
        fitted = self.var["fitted_dispersions"].to_numpy(dtype=float)
        dispersions = map_dispersions_r(
            np.asarray(self.X[:, nz], dtype=float),
            np.maximum(self.layers["_mu_hat"][:, nz], 0.5),
            self.obsm["design_matrix"].to_numpy(dtype=float),
            genewise[nz],
            fitted[nz],
            float(self.uns["prior_disp_var"]),
            self.min_disp,
            self.max_disp,
        )
        self.var["MAP_dispersions"] = np.full(self.n_vars, np.nan)
        self.var.loc[self.var["non_zero"], "MAP_dispersions"] = dispersions
        self.var["_MAP_converged"] = pd.array([pd.NA] * self.n_vars, dtype="boolean")
        self.var.loc[self.var["non_zero"], "_MAP_converged"] = True
        # DESeq2 keeps the gene-wise estimate of genes more than 2 SD above the trend.
        self.var["dispersions"] = self.var["MAP_dispersions"].copy()
        outlier = np.log(genewise) > np.log(fitted) + 2 * np.sqrt(self.uns["_squared_logres"])
        self.var["_outlier_genes"] = outlier
        self.var.loc[outlier, "dispersions"] = self.var.loc[outlier, "genewise_dispersions"]
        if self.low_memory:
            del self.layers["_mu_hat"]


def independent_filtering(base_mean: np.ndarray, pvalues: np.ndarray, alpha: float) -> np.ndarray:
    """DESeq2's ``pvalueAdjustment``: BH-adjusted p-values after dropping the genes with the
    lowest mean counts, at the cut (one of 50 quantiles) whose number of rejections at
    ``alpha`` comes within one residual SD of the lowess-smoothed maximum.

    Parameters
    ----------
    base_mean, pvalues : ndarray, shape (n_genes,)
        Mean of normalised counts and p-values (NaN where untested).
    alpha : float
        The FDR at which rejections are counted (R's ``results(alpha=0.1)``).

    Returns
    -------
    ndarray, shape (n_genes,)
        Adjusted p-values, NaN for the filtered genes and where ``pvalues`` is NaN.
    """
    lower = float(np.mean(base_mean == 0))
    theta = np.linspace(lower, 0.95 if lower < 0.95 else 1.0, 50)
    cutoffs = np.quantile(base_mean, theta)
    padj = np.full((len(base_mean), len(theta)), np.nan)
    tested = ~np.isnan(pvalues)
    for i, cut in enumerate(cutoffs):
        use = (base_mean >= cut) & tested
        if use.any():
            padj[use, i] = false_discovery_control(pvalues[use], method="bh")
    rejections = (padj < alpha).sum(axis=0)
    fit = lowess(theta, rejections, frac=1 / 5)
    j = 0
    if rejections.max() > 10:
        positive = rejections > 0
        residual = rejections[positive] - fit[positive] if positive.any() else np.zeros(1)
        top = fit.max()
        for bar in (top - np.sqrt(np.mean(residual**2)), 0.9 * top, 0.8 * top):
            if (rejections > bar).any():
                j = int(np.flatnonzero(rejections > bar)[0])
                break
    return np.asarray(padj[:, j])


def likelihood_ratio_test(
    inference: VectorisedInference,
    counts: np.ndarray,
    size_factors: np.ndarray,
    full: np.ndarray,
    reduced: np.ndarray,
    disp: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """DESeq2's ``nbinomLRT``: both designs fitted with the same (full-design) dispersions;
    the statistic is twice the gain in NB log-likelihood, chi-squared on the difference in
    coefficients.

    Parameters
    ----------
    counts : ndarray, shape (n_samples, n_genes)
    size_factors : ndarray, shape (n_samples,)
    full : ndarray, shape (n_samples, p_full)
    reduced : ndarray, shape (n_samples, p_reduced)
        A design nested in ``full`` (p_reduced < p_full).
    disp : ndarray, shape (n_genes,)

    Returns
    -------
    stat, pvalue : ndarray, shape (n_genes,)
    beta : ndarray, shape (n_genes, p_full)
        The full design's natural-log coefficients.
    mu : ndarray, shape (n_samples, n_genes)
        The full design's fitted means.
    """
    beta, mu_full, _, _ = inference.irls(counts, size_factors, full, disp, 0.5, 1e-8)
    _, mu_reduced, _, _ = inference.irls(counts, size_factors, reduced, disp, 0.5, 1e-8)
    gain = nb_log_pmf(counts, mu_full, disp).sum(axis=0) - nb_log_pmf(counts, mu_reduced, disp).sum(
        axis=0
    )
    stat = 2 * gain
    pvalue = chi2.sf(stat, full.shape[1] - reduced.shape[1])
    return np.asarray(stat), np.asarray(pvalue), beta, mu_full
