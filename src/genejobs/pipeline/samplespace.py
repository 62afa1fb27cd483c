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


def far_from_group(coords: pd.DataFrame, groups: dict[str, str], cutoff: float = 5.0) -> list[str]:
    """Samples that sit away from their group in the first two PCs.

    A sample is flagged when it lies closer to another group's median than to its
    own (a likely swap), or, in groups of at least five, when its distance to its
    group's median is an outlier: beyond the median distance plus ``cutoff`` robust
    standard deviations (1.4826 x MAD) over all such samples. Groups of three or four
    have too few samples to tell an outlier from ordinary spread. Distances from a
    centre in two dimensions have a long right tail, hence 5 rather than 3: with 3,
    one sample in 150 of a well-behaved group would be flagged.
    """
    xy = coords.iloc[:, :2].to_numpy(dtype=float)
    names = list(coords.index)
    members = {
        g: [i for i, s in enumerate(names) if groups.get(s) == g] for g in set(groups.values())
    }
    centres = {g: np.median(xy[idx], axis=0) for g, idx in members.items() if len(idx) >= 2}
    flagged = set()
    for g, idx in members.items():
        if g not in centres or len(centres) < 2:
            continue
        for i in idx:
            own = np.linalg.norm(xy[i] - centres[g])
            if any(np.linalg.norm(xy[i] - c) < own for h, c in centres.items() if h != g):
                flagged.add(i)
    big = [i for g, idx in members.items() if len(idx) >= 5 for i in idx]
    if len(big) >= 5:
        dist = np.array([np.linalg.norm(xy[i] - centres[groups[names[i]]]) for i in big])
        med = float(np.median(dist))
        spread = max(1.4826 * float(np.median(np.abs(dist - med))), 0.1 * med, 1e-9)
        flagged.update(i for i, d in zip(big, dist, strict=True) if d > med + cutoff * spread)
    return [names[i] for i in sorted(flagged)]


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
