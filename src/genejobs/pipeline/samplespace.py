"""Where samples and genes sit relative to each other: PCA, distances, clustering.

Plain functions over the variance-stabilised matrix (genes x samples) that DE
already returns, so the report only draws what is computed here (as DESeq2's
vignette does: PCA on the 500 most variable genes, Euclidean distances between
samples, hierarchical clustering for the heatmaps' order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import pdist, squareform

PCA_TOP_GENES = 500


@dataclass(frozen=True)
class Pca:
    coords: pd.DataFrame  # samples x PC1..PCk
    explained: list[float]  # share of variance per component


def pca(vst: pd.DataFrame, n_top: int = PCA_TOP_GENES, n_components: int = 3) -> Pca:
    """PCA of the ``n_top`` most variable genes, as DESeq2's ``plotPCA``."""
    top = vst.loc[vst.var(axis=1).sort_values(ascending=False).index[:n_top]]
    x = top.T.to_numpy(dtype=float)
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    k = min(n_components, len(s))
    total = max(float((s**2).sum()), 1e-12)
    coords = pd.DataFrame(
        (u * s)[:, :k], index=vst.columns, columns=[f"PC{i + 1}" for i in range(k)]
    )
    return Pca(coords=coords, explained=[float(v) / total for v in (s**2)[:k]])


def sample_distances(vst: pd.DataFrame) -> pd.DataFrame:
    """Euclidean distances between samples over every gene (DESeq2's vignette).

    Through one matrix product (|a|^2 + |b|^2 - 2ab): 200 samples x 60,000 genes take
    milliseconds, where pairwise loops take seconds."""
    x = vst.T.to_numpy(dtype=float)
    x = x - x.mean(axis=0)  # centring changes no distance and keeps the product accurate
    sq = (x * x).sum(axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * (x @ x.T), 0.0)
    np.fill_diagonal(d2, 0.0)
    return pd.DataFrame(np.sqrt(d2), index=vst.columns, columns=vst.columns)


def cluster_order(matrix: np.ndarray, *, distances: bool = False) -> list[int]:
    """Leaf order of average-linkage clustering of the rows (or of a distance matrix)."""
    n = matrix.shape[0]
    if n < 3:
        return list(range(n))
    condensed = squareform(matrix, checks=False) if distances else pdist(matrix)
    condensed = np.nan_to_num(condensed)
    return [int(i) for i in leaves_list(linkage(condensed, "average", optimal_ordering=n <= 300))]


def far_from_group(coords: pd.DataFrame, groups: dict[str, str], cutoff: float = 3.0) -> list[str]:
    """Samples whose distance to their group's median (first two PCs) is an outlier.

    An outlier is further than the median such distance plus ``cutoff`` robust
    standard deviations (1.4826 x MAD) over all samples; groups of fewer than three
    samples have no median worth trusting and are skipped.
    """
    xy = coords.iloc[:, :2].to_numpy(dtype=float)
    names = list(coords.index)
    dist = np.full(len(names), np.nan)
    for g in set(groups.values()):
        idx = [i for i, s in enumerate(names) if groups.get(s) == g]
        if len(idx) >= 3:
            centre = np.median(xy[idx], axis=0)
            dist[idx] = np.linalg.norm(xy[idx] - centre, axis=1)
    ok = dist[~np.isnan(dist)]
    if len(ok) < 3:
        return []
    med = float(np.median(ok))
    spread = 1.4826 * float(np.median(np.abs(ok - med)))
    limit = med + cutoff * max(spread, 0.1 * med, 1e-9)
    return [names[i] for i in range(len(names)) if not np.isnan(dist[i]) and dist[i] > limit]


def top_gene_zscores(
    vst: pd.DataFrame, table: pd.DataFrame, n_genes: int = 50, padj: float = 0.05
) -> pd.DataFrame:
    """Z-scored VST rows of the ``n_genes`` smallest-padj genes (over all comparisons).

    Only genes significant at ``padj`` in some comparison; fewer rows when fewer are.
    """
    sig = table[table["padj"] < padj]
    best = sig.groupby("gene_id")["padj"].min().sort_values().index[:n_genes]
    rows = vst.loc[[g for g in best if g in vst.index]]
    sd = rows.std(axis=1).replace(0, np.nan)
    return rows.sub(rows.mean(axis=1), axis=0).div(sd, axis=0).fillna(0.0)
