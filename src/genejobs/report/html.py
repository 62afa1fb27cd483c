"""The results report: figures with matplotlib, inlined as SVG in one offline HTML file.

One failing figure does not sink the report: it is replaced by a note and logged.
"""

from __future__ import annotations

import html
import io
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from genejobs.pipeline.de import DEResult  # noqa: E402
from genejobs.pipeline.outputs import assignment_table  # noqa: E402
from genejobs.pipeline.records import LibraryType, SampleResult  # noqa: E402

log = logging.getLogger(__name__)
PADJ = 0.05


def _colors(groups: list[str]) -> dict[str, str]:
    palette = plt.get_cmap("tab10").colors  # type: ignore[attr-defined]  # tab10 is a ListedColormap; get_cmap is typed as any Colormap
    return {g: matplotlib.colors.to_hex(palette[i % 10]) for i, g in enumerate(groups)}


def _fig_assignment(table: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * len(table)))
    parts = ["assigned", "no_feature", "ambiguous", "multimapped", "not_aligned", "pairs_too_short"]
    left = np.zeros(len(table))
    for part in parts:
        ax.barh(table["sample"], table[part], left=left, label=part)
        left += table[part].to_numpy()
    ax.set_xlabel("read pairs")
    ax.legend(fontsize=7, ncol=6, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    ax.set_title("Library size and assignment")
    return fig


def _fig_pca(de: DEResult) -> plt.Figure:
    if de.vst is None:
        raise ValueError("no variance-stabilised counts")
    top = de.vst.loc[de.vst.var(axis=1).sort_values(ascending=False).index[:500]]
    x = (top.T - top.T.mean()).to_numpy()
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    pcs = u * s
    explained = s**2 / max(float((s**2).sum()), 1e-12)
    groups = list(dict.fromkeys(de.sample_groups.values()))
    colors = _colors(groups)
    fig, ax = plt.subplots(figsize=(5, 4))
    for i, sample in enumerate(top.columns):
        g = de.sample_groups[sample]
        ax.scatter(pcs[i, 0], pcs[i, 1] if pcs.shape[1] > 1 else 0, color=colors[g], s=40)
        ax.annotate(sample, (pcs[i, 0], pcs[i, 1] if pcs.shape[1] > 1 else 0), fontsize=7)
    for g in groups:
        ax.scatter([], [], color=colors[g], label=g)
    ax.legend(fontsize=8)
    ax.set_xlabel(f"PC1 ({explained[0]:.0%})")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%})" if len(explained) > 1 else "PC2")
    ax.set_title("PCA of variance-stabilised counts")
    return fig


def _fig_distance(de: DEResult) -> plt.Figure:
    data = de.vst if de.vst is not None else np.log2(de.normalized_counts + 1)
    arr = data.to_numpy().T
    dist = np.sqrt(((arr[:, None, :] - arr[None, :, :]) ** 2).sum(axis=2))
    fig, ax = plt.subplots(figsize=(5, 4))
    im = ax.imshow(dist, cmap="viridis_r")
    ax.set_xticks(range(len(data.columns)), data.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(data.columns)), data.columns, fontsize=7)
    fig.colorbar(im, ax=ax, label="Euclidean distance")
    ax.set_title("Sample-to-sample distances")
    return fig


def _fig_volcano(t: pd.DataFrame, label: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ok = t.dropna(subset=["pvalue", "log2FoldChange"])
    sig = ok["padj"] < PADJ
    y = -np.log10(ok["pvalue"].clip(lower=1e-300))
    ax.scatter(ok["log2FoldChange"][~sig], y[~sig], s=6, color="#999999", label="not significant")
    ax.scatter(ok["log2FoldChange"][sig], y[sig], s=8, color="#d62728", label=f"padj < {PADJ}")
    for _, row in ok[sig].nsmallest(10, "padj").iterrows():
        ax.annotate(
            str(row["gene_name"]),
            (row["log2FoldChange"], -np.log10(max(row["pvalue"], 1e-300))),
            fontsize=6,
        )
    ax.set_xlabel("log2 fold change")
    ax.set_ylabel("-log10 p-value")
    ax.set_title(f"Volcano plot {label}")
    ax.legend(fontsize=7)
    return fig


def _fig_ma(t: pd.DataFrame, label: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ok = t.dropna(subset=["log2FoldChange"])
    ok = ok[ok["baseMean"] > 0]
    sig = ok["padj"] < PADJ
    ax.scatter(ok["baseMean"][~sig], ok["log2FoldChange"][~sig], s=6, color="#999999")
    ax.scatter(ok["baseMean"][sig], ok["log2FoldChange"][sig], s=8, color="#d62728")
    ax.set_xscale("log")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel("mean of normalised counts")
    ax.set_ylabel("log2 fold change")
    ax.set_title(f"MA plot {label}")
    return fig


def _fig_dispersion(de: DEResult) -> plt.Figure:
    d = de.dispersions[de.dispersions["baseMean"] > 0]
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.scatter(d["baseMean"], d["genewise"], s=5, color="black", label="gene-wise")
    ax.scatter(d["baseMean"], d["final"], s=5, color="#1f77b4", label="final")
    ax.scatter(d["baseMean"], d["fitted"], s=3, color="#d62728", label="fitted")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mean of normalised counts")
    ax.set_ylabel("dispersion")
    ax.legend(fontsize=7)
    ax.set_title("Dispersion estimates")
    return fig


def _fig_gsea_dots(res: pd.DataFrame, label: str) -> plt.Figure:
    top = res.copy()
    top["NES"] = pd.to_numeric(top["NES"], errors="coerce")
    top["FDR q-val"] = pd.to_numeric(top["FDR q-val"], errors="coerce")
    top = top.dropna(subset=["NES"]).sort_values("FDR q-val").head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 1 + 0.3 * len(top)))
    size = 20 + 200 * -np.log10(top["FDR q-val"].clip(lower=1e-4))
    colors = np.where(top["NES"] > 0, "#d62728", "#1f77b4")
    ax.scatter(top["NES"], range(len(top)), s=size, c=colors)
    ax.set_yticks(range(len(top)), [str(t)[:40] for t in top["Term"]], fontsize=7)
    ax.axvline(0, color="black", lw=0.5)
    ax.set_xlabel("normalised enrichment score (dot size: -log10 FDR)")
    ax.set_title(f"Gene-set enrichment {label}")
    return fig


def _render(fig_fn: Callable[[], plt.Figure]) -> tuple[bytes, bytes]:
    fig = fig_fn()
    try:
        fig.tight_layout()
        svg, png = io.BytesIO(), io.BytesIO()
        fig.savefig(svg, format="svg")
        fig.savefig(png, format="png", dpi=110)
        return svg.getvalue(), png.getvalue()
    finally:
        plt.close(fig)


_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach((th, i) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const rows = Array.from(body.rows);
  const dir = th.dataset.dir = th.dataset.dir === 'asc' ? 'desc' : 'asc';
  rows.sort((a, b) => {
    const x = a.cells[i].dataset.v ?? a.cells[i].textContent, y = b.cells[i].dataset.v ?? b.cells[i].textContent;
    const nx = parseFloat(x), ny = parseFloat(y);
    const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return dir === 'asc' ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
}));
"""


def _table_html(df: pd.DataFrame, *, sortable: bool = False) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cells = []
        for v in row:
            if isinstance(v, float):
                text = "NA" if np.isnan(v) else f"{v:.4g}"
                cells.append(f'<td data-v="{v}">{text}</td>')
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cls = ' class="sortable"' if sortable else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_report(
    de: DEResult,
    sample_results: list[SampleResult],
    *,
    job: dict[str, Any],
    library_type: LibraryType,
    rrna_genes: frozenset[str] = frozenset(),
    enrichment: dict[str, pd.DataFrame] | None = None,
) -> dict[str, bytes]:
    """Return ``report.html`` and ``plots/<name>.{png,svg}`` as bytes."""
    assignment = assignment_table(sample_results, library_type, rrna_genes)
    figures: list[tuple[str, str, Callable[[], plt.Figure], dict[str, str]]] = [
        ("assignment", "Library sizes and assignment", lambda: _fig_assignment(assignment), {}),
        ("pca", "PCA", lambda: _fig_pca(de), {}),
        ("distances", "Sample distances", lambda: _fig_distance(de), {}),
        ("dispersion", "Dispersion", lambda: _fig_dispersion(de), {}),
    ]
    for label in de.comparisons:
        t = de.table_for(label)
        n_sig = int((t["padj"] < PADJ).sum())
        figures.append(
            (
                f"volcano-{label}",
                f"Volcano {label}",
                partial(_fig_volcano, t, label),
                {"data-significant": str(n_sig)},
            )
        )
        figures.append((f"ma-{label}", f"MA {label}", partial(_fig_ma, t, label), {}))
    for stem, res in (enrichment or {}).items():
        if stem.endswith("_gsea_prerank") and len(res):
            label = stem.removesuffix("_gsea_prerank")
            figures.append(
                (
                    f"enrichment-{label}",
                    f"Enrichment {label}",
                    partial(_fig_gsea_dots, res, label),
                    {},
                )
            )
    files: dict[str, bytes] = {}
    sections = []
    for fig_id, title, fn, attrs in figures:
        extra = "".join(f' {k}="{html.escape(v)}"' for k, v in attrs.items())
        try:
            svg, png = _render(fn)
        except Exception as exc:
            log.warning("figure %s failed: %s", fig_id, exc)
            sections.append(
                f'<figure id="fig-{fig_id}" class="failed"{extra}><h3>{html.escape(title)}</h3><p>This figure could not be drawn: {html.escape(str(exc))}</p></figure>'
            )
            continue
        files[f"plots/{fig_id}.svg"] = svg
        files[f"plots/{fig_id}.png"] = png
        body = svg.decode()
        body = body[body.find("<svg") :]
        sections.append(
            f'<figure id="fig-{fig_id}"{extra}><h3>{html.escape(title)}</h3>{body}</figure>'
        )
    top_tables = []
    for label in de.comparisons:
        t = de.table_for(label).dropna(subset=["padj"]).nsmallest(50, "padj")
        t = t[["gene_id", "gene_name", "baseMean", "log2FoldChange", "lfcSE", "pvalue", "padj"]]
        top_tables.append(
            f"<h3>Top 50 genes {html.escape(label)}</h3>" + _table_html(t, sortable=True)
        )
    settings = {k: v for k, v in job.items() if k != "inputs"}
    settings_rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in settings.items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in de.notes)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>genejobs report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:2px 6px}}figure{{display:inline-block;vertical-align:top;margin:1em}}
figure svg{{max-width:520px;height:auto}}th{{cursor:pointer;background:#f3f3f3}}</style></head><body>
<h1>RNA-seq differential expression</h1>
<h2>Settings</h2><table>{settings_rows}</table>
<h2>Samples</h2><div style="overflow-x:auto">{_table_html(assignment)}</div>
<h2>Figures</h2>{"".join(sections)}
<h2>Top genes</h2>{"".join(top_tables)}
<h2>Notes from the statistics</h2><ul>{notes or "<li>none</li>"}</ul>
<script>{_SORT_JS}</script></body></html>"""
    files["report.html"] = page.encode()
    return files
