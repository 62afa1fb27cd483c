"""Static figures for papers (matplotlib → ``plots/<name>.png|svg``).

The interactive report draws the same views with Plotly; these are the files a
reader puts in a manuscript. Large scatters are rasterised inside the SVG so that
60,000 points stay a small file.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from genejobs.pipeline.samplespace import Pca  # noqa: E402
from genejobs.report.labels import place_labels  # noqa: E402
from genejobs.report.model import PADJ, ComparisonView  # noqa: E402

UP, DOWN, GREY = "#c0392b", "#2471a3", "#b3b3b3"


def render(fig: plt.Figure) -> tuple[bytes, bytes]:
    """SVG and PNG bytes of a figure, which is closed afterwards."""
    try:
        fig.tight_layout()
        svg, png = io.BytesIO(), io.BytesIO()
        fig.savefig(svg, format="svg", dpi=110)
        fig.savefig(png, format="png", dpi=150)
        return svg.getvalue(), png.getvalue()
    finally:
        plt.close(fig)


def assignment(table: pd.DataFrame, unit: str = "read pairs") -> plt.Figure:
    """Where each sample's read pairs (``unit``: "reads" when single-end) went, as shares
    of those read."""
    parts = ["assigned", "no_feature", "ambiguous", "multimapped", "not_aligned", "pairs_too_short"]
    share = table[parts].div(table["pairs_in"].clip(lower=1), axis=0) * 100
    fig, ax = plt.subplots(figsize=(7, 1.4 + 0.22 * len(table)))
    left = np.zeros(len(table))
    for part in parts:
        ax.barh(table["sample"], share[part], left=left, label=part.replace("_", " "), height=0.8)
        left += share[part].to_numpy()
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"% of {unit}")
    ax.tick_params(axis="y", labelsize=6 if len(table) > 40 else 8)
    ax.legend(fontsize=7, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    ax.set_title(f"Where the {unit} went")
    return fig


def pca(p: Pca, groups: dict[str, str], colors: dict[str, str]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    xy = p.coords.to_numpy()
    y = xy[:, 1] if xy.shape[1] > 1 else np.zeros(len(xy))
    for g, c in colors.items():
        idx = [i for i, s in enumerate(p.coords.index) if groups[s] == g]
        ax.scatter(xy[idx, 0], y[idx], color=c, s=36, label=g, edgecolor="white", lw=0.5)
    if len(xy) <= 30:
        for i, s in enumerate(p.coords.index):
            ax.annotate(s, (xy[i, 0], y[i]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.legend(fontsize=8, frameon=False)
    ax.set_xlabel(f"PC1 ({p.explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({p.explained[1]:.0%} of variance)" if len(p.explained) > 1 else "PC2")
    ax.set_title("PCA of variance-stabilised counts (500 most variable genes)")
    return fig


def distances(d: pd.DataFrame, order: list[int]) -> plt.Figure:
    names = [d.index[i] for i in order]
    m = d.loc[names, names].to_numpy()
    size = min(9.0, 3.5 + 0.12 * len(names))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(m, cmap="viridis_r", interpolation="nearest")
    if len(names) <= 60:
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=ax, label="Euclidean distance (VST)", shrink=0.8)
    ax.set_title("Sample-to-sample distances (clustered)")
    return fig


def volcano(v: ComparisonView) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 5))
    ok = v.volcano_mask()
    x, y = v.x_lfc[ok], v.neg_log_padj[ok]
    up, down = v.up[ok], v.down[ok]
    rest = ~(up | down)
    ax.scatter(x[rest], y[rest], s=4, color=GREY, rasterized=True, lw=0)
    ax.scatter(x[up], y[up], s=6, color=UP, rasterized=True, lw=0, label=f"up ({v.n_up})")
    ax.scatter(x[down], y[down], s=6, color=DOWN, rasterized=True, lw=0, label=f"down ({v.n_down})")
    xr, yr = v.volcano_ranges()
    ax.set_xlim(*xr)
    ax.set_ylim(*yr)
    ax.axhline(-np.log10(PADJ), color="#555", lw=0.7, ls="--")
    for s in (-v.lfc_line, v.lfc_line):
        ax.axvline(s, color="#999", lw=0.6, ls=":")
    lx, ly, lt = v.label_candidates()
    w, h = fig.get_size_inches() * fig.dpi * np.array([0.8, 0.78])
    for lab in place_labels(lx, ly, lt, x_range=xr, y_range=yr, size_px=(w, h), font_px=8):
        ax.annotate(
            lab.text,
            (lx[lab.index], ly[lab.index]),
            xytext=(lab.dx * 72 / fig.dpi, lab.dy * 72 / fig.dpi),
            textcoords="offset points",
            fontsize=6.5,
            ha="center",
            va="center",
            arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "#444"},
        )
    ax.set_xlabel(v.lfc_label)
    ax.set_ylabel("-log10 adjusted p-value")
    ax.set_title(f"{v.title}: {v.n_up} up, {v.n_down} down (padj < {PADJ})", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="upper left")
    return fig


def ma(v: ComparisonView) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ok = v.ma_mask()
    x, y = v.base_mean[ok], v.x_lfc[ok]
    sig = (v.up | v.down)[ok]
    ax.scatter(x[~sig], y[~sig], s=4, color=GREY, rasterized=True, lw=0)
    ax.scatter(x[sig], y[sig], s=6, color=UP, rasterized=True, lw=0, label=f"padj < {PADJ}")
    ax.set_xscale("log")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("mean of normalised counts")
    ax.set_ylabel(v.lfc_label)
    ax.set_title(f"MA plot {v.title}", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    return fig


def dispersion(d: pd.DataFrame) -> plt.Figure:
    """Gene-wise, fitted and final dispersions; floored gene-wise estimates sit on the
    bottom edge instead of stretching the axis over decades nobody reads."""
    d = d[d["baseMean"] > 0]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    final = d["final"].to_numpy(dtype=float)
    floor = max(float(np.nanmin(final)) / 10 if len(final) else 1e-3, 1e-4)
    gw = d["genewise"].clip(lower=floor)
    ax.scatter(d["baseMean"], gw, s=3, color="black", label="gene-wise", rasterized=True, lw=0)
    ax.scatter(
        d["baseMean"], d["final"], s=3, color="#2471a3", label="final", rasterized=True, lw=0
    )
    ax.scatter(
        d["baseMean"], d["fitted"], s=2, color=UP, label="fitted trend", rasterized=True, lw=0
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor * 0.8)
    ax.set_xlabel("mean of normalised counts")
    ax.set_ylabel("dispersion")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Dispersion estimates")
    return fig


def gsea_dots(res: pd.DataFrame, label: str) -> plt.Figure:
    top = res.copy()
    top["NES"] = pd.to_numeric(top["NES"], errors="coerce")
    top["FDR q-val"] = pd.to_numeric(top["FDR q-val"], errors="coerce")
    top = top.dropna(subset=["NES"]).sort_values("FDR q-val").head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 1 + 0.3 * len(top)))
    size = 20 + 200 * -np.log10(top["FDR q-val"].clip(lower=1e-4))
    colors = np.where(top["NES"] > 0, UP, DOWN)
    ax.scatter(top["NES"], range(len(top)), s=size, c=colors)
    ax.set_yticks(range(len(top)), [str(t)[:45] for t in top["Term"]], fontsize=7)
    ax.axvline(0, color="black", lw=0.5)
    ax.set_xlabel("normalised enrichment score (dot size: -log10 FDR)")
    ax.set_title(f"Gene-set enrichment {label}", fontsize=10)
    return fig
