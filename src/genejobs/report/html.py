"""The results report: one self-contained, offline HTML file, plus figures for papers.

Interactive plots are drawn by plotly.js (embedded once, no CDN) from one compact
data block; static PNG/SVG figures are drawn with matplotlib. One failing figure
does not sink the report: it is replaced by a note and logged.
"""

from __future__ import annotations

import base64
import logging
import posixpath
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from importlib.resources import files as package_files
from typing import Any

import jinja2
import markupsafe
import matplotlib.pyplot as plt
import pandas as pd

from genejobs.pipeline.de import DEResult
from genejobs.pipeline.outputs import assignment_table, tool_versions
from genejobs.pipeline.records import LibraryType, SampleResult
from genejobs.pipeline.samplespace import (
    Pca,
    cluster_order,
    far_from_group,
    pca,
    sample_distances,
    top_gene_zscores,
)
from genejobs.report import figures
from genejobs.report.enrichment import enrichment_rows, split_stem
from genejobs.report.methods import MethodsInput, explain, methods_markdown, methods_text
from genejobs.report.model import LFC_LINE, PADJ, ComparisonView
from genejobs.report.payload import comparison_data, count_bytes, numbers, pack, to_json
from genejobs.report.tables import (
    QC_COLUMNS,
    parameter_rows,
    provenance_rows,
    qc_rows,
    sample_rows,
)

log = logging.getLogger(__name__)
PALETTE = ["#1f77b4", "#e6550d", "#31a354", "#756bb1", "#d62728", "#8c564b", "#e377c2"]
PALETTE += ["#7f7f7f", "#bcbd22", "#17becf"]
SOFTWARE_NAMES = {"mappy": "minimap2 (mappy)", "pydeseq2": "PyDESeq2", "multiqc": "MultiQC"}


def _template() -> jinja2.Template:
    folder = package_files("genejobs.report") / "templates"
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals["asset"] = lambda name: markupsafe.Markup((folder / name).read_text())
    return env.from_string((folder / "report.html.j2").read_text())


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    js: str = get_plotlyjs()
    return js.replace("</script", "<\\/script")


class _Space:
    """PCA, distances and the top-gene heatmap, each None when it could not be computed."""

    def __init__(self, de: DEResult, notes: list[str]) -> None:
        self.pca: Pca | None = None
        self.dist: pd.DataFrame | None = None
        self.dist_order: list[int] | None = None
        self.top: pd.DataFrame | None = None
        self.top_order: tuple[list[int], list[int]] | None = None
        self.far: list[str] = []
        if de.vst is None:
            return
        try:
            self.pca = pca(de.vst)
            self.far = far_from_group(self.pca.coords, de.sample_groups)
            self.dist = sample_distances(de.vst)
            self.dist_order = cluster_order(self.dist.to_numpy(), distances=True)
            self.top = top_gene_zscores(de.vst, de.table)
            if len(self.top) >= 2:
                self.top_order = (
                    cluster_order(self.top.to_numpy()),
                    cluster_order(self.top.to_numpy().T),
                )
        except Exception as exc:  # the report lives without these views; say why
            log.warning("sample-space views failed: %s", exc)
            notes.append(f"PCA/distance views could not be computed: {exc}")


def _space_data(space: _Space, samples: list[str], genes: pd.Index) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if space.pca is not None:
        c = space.pca.coords.reindex(samples)
        out["pca"] = {
            "x": numbers(c.iloc[:, 0].to_numpy()),
            "y": numbers(c.iloc[:, 1].to_numpy() if c.shape[1] > 1 else c.iloc[:, 0] * 0),
            "explained": [round(e, 4) for e in space.pca.explained],
        }
    if space.dist is not None and space.dist_order is not None:
        d = space.dist.reindex(index=samples, columns=samples).to_numpy()
        out["dist"] = {"order": space.dist_order, "z": [numbers(row, 3) for row in d]}
    if space.top is not None and space.top_order is not None:
        pos = {g: i for i, g in enumerate(genes)}
        z = space.top.reindex(columns=samples).to_numpy()
        out["heat"] = {
            "genes": [pos[g] for g in space.top.index],
            "rowOrder": space.top_order[0],
            "colOrder": space.top_order[1],
            "z": [numbers(row, 3) for row in z],
        }
    return out


def _static_figures(
    de: DEResult,
    views: list[ComparisonView],
    space: _Space,
    assignment: pd.DataFrame,
    colors: dict[str, str],
    enrichment: dict[str, pd.DataFrame],
    unit: str = "read pairs",
) -> tuple[dict[str, bytes], list[str]]:
    """plots/<name>.png|svg for papers; the names of figures that failed, with why."""
    todo: list[tuple[str, Callable[[], plt.Figure]]] = [
        ("dispersion", partial(figures.dispersion, de.dispersions)),
    ]
    if len(assignment):  # a job from a counts table has no reads to account for
        todo.insert(0, ("assignment", partial(figures.assignment, assignment, unit)))
    if space.pca is not None:
        todo.append(("pca", partial(figures.pca, space.pca, de.sample_groups, colors)))
    if space.dist is not None and space.dist_order is not None:
        todo.append(("distances", partial(figures.distances, space.dist, space.dist_order)))
    for v in views:
        todo.append((f"volcano-{v.label}", partial(figures.volcano, v)))
        todo.append((f"ma-{v.label}", partial(figures.ma, v)))
    for stem, res in enrichment.items():
        if stem.endswith("_gsea_prerank") and len(res):
            label = stem.removesuffix("_gsea_prerank")
            parts = split_stem(stem, [v.label for v in views])
            title = f"{parts[0]} ({parts[1]})" if parts else label
            todo.append((f"enrichment-{label}", partial(figures.gsea_dots, res, title)))
    out: dict[str, bytes] = {}
    failed = []
    for name, fn in todo:
        try:
            svg, png = figures.render(fn())
        except Exception as exc:
            log.warning("figure %s failed: %s", name, exc)
            failed.append(f"figure {name} could not be drawn: {exc}")
            continue
        out[f"plots/{name}.svg"], out[f"plots/{name}.png"] = svg, png
    return out, failed


def _embedded(files: dict[str, bytes], prefix: str) -> list[tuple[str, str, str]]:
    """(label, file stem, PNG as a data URI) of the static figures under ``prefix``,
    inlined so that the report stays one self-contained file."""
    out = []
    for name in sorted(n for n in files if n.startswith(prefix) and n.endswith(".png")):
        stem = name[len("plots/") : -len(".png")]
        uri = "data:image/png;base64," + base64.b64encode(files[name]).decode("ascii")
        out.append((stem[len(prefix) - len("plots/") :], stem, uri))
    return out


def _methods(
    job: dict[str, Any], de: DEResult, views: list[ComparisonView], enrichment: bool
) -> tuple[str, list[str]]:
    ref = job.get("reference") or {}
    ann = job.get("annotation") or {}
    return methods_text(
        MethodsInput(
            versions=job.get("versions") or tool_versions(),
            reference=str(ref.get("name") or job.get("ref", "")),
            annotation=str(ann.get("name") or job.get("gtf", "")),
            library_type=str(job.get("library_type", "")),
            adapter=str(job.get("adapter") or ""),
            comparisons=list(de.comparisons),
            n_samples=len(de.sample_groups),
            n_groups=len(set(de.sample_groups.values())),
            qc=bool(job.get("is_export_qc")),
            enrichment=enrichment,
            gene_sets=list(job.get("gene_set_collections") or []),
            shrunk=any(v.shrunk is not None for v in views),
            design=de.design,
            lfc_threshold=de.lfc_threshold,
            counts_table=posixpath.basename(str(job.get("counts_table") or "").rstrip("/")),
            single_end=job.get("read_layout") == "single-end",
            fragment_length=dict(job.get("salmon_single_end_fragment_length") or {}),
        )
    )


def _page_data(
    de: DEResult,
    views: list[ComparisonView],
    space: _Space,
    colors: dict[str, str],
    enrichment: dict[str, pd.DataFrame],
) -> dict[str, Any]:
    """What the page's interactive figures draw: the genes, each comparison, the
    samples and their colours, the PCA space and the enrichment rows."""
    genes = pd.Index(de.counts.index)
    samples = list(de.sample_groups)
    return {
        "genes": {
            "id": [str(g) for g in genes],
            "name": [str(n) for n in views[0].gene_names] if views else [],
            "baseMean": numbers(views[0].base_mean) if views else [],
        },
        "comparisons": [comparison_data(v) for v in views],
        "samples": samples,
        "groups": [de.sample_groups[s] for s in samples],
        "colors": colors,
        # name -> level per sample, in sample order: the PCA can be coloured by each
        "covariates": {n: [lv[s] for s in samples] for n, lv in de.covariates.items()},
        "padj": PADJ,
        "lfcLine": LFC_LINE,
        **_space_data(space, samples, genes),
        "enrichment": enrichment_rows(enrichment, list(de.comparisons)),
    }


def _version_rows(job: dict[str, Any]) -> list[tuple[str, str]]:
    """The software and its versions, by display name, in alphabetical order."""
    return [
        (SOFTWARE_NAMES.get(k, k), v)
        for k, v in sorted(
            (job.get("versions") or tool_versions()).items(), key=lambda kv: kv[0].lower()
        )
    ]


def render_report(
    de: DEResult,
    sample_results: list[SampleResult],
    *,
    job: dict[str, Any],
    library_type: LibraryType,
    rrna_genes: frozenset[str] = frozenset(),
    enrichment: dict[str, pd.DataFrame] | None = None,
    multiqc: bool = False,
) -> dict[str, bytes]:
    """Return ``report.html``, ``methods.md`` and ``plots/<name>.{png,svg}`` as bytes.

    ``job`` carries the run information (job id, optional name, reference and
    annotation with checksums, settings, ``table_file``: the table's file name).
    """
    enrichment = enrichment or {}
    notes = list(de.notes)
    genes = pd.Index(de.counts.index)
    samples = list(de.sample_groups)
    groups = list(dict.fromkeys(de.sample_groups.values()))
    colors = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(groups)}
    views = [ComparisonView.from_table(c, de.table_for(c), genes) for c in de.comparisons]
    assignment = assignment_table(sample_results, library_type, rrna_genes)
    space = _Space(de, notes)
    # what a fragment is, in the reader's words: a read pair, or a read when single-end
    unit = "reads" if job.get("read_layout") == "single-end" else "read pairs"
    files, failed = _static_figures(de, views, space, assignment, colors, enrichment, unit)
    notes += failed
    title = str(job.get("name") or f"job {job.get('job_id', '')}".strip())
    text, refs = _methods(job, de, views, bool(enrichment))
    files["methods.md"] = methods_markdown(title, text, refs).encode()
    data = _page_data(de, views, space, colors, enrichment)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = _template().render(
        title=title,
        job=job,
        generated=generated,
        views=views,
        padj=PADJ,
        qc_columns=QC_COLUMNS,
        qc=qc_rows(assignment, sample_results, de.sample_groups, library_type, space.far),
        unit=unit,
        multiqc=multiqc,
        parameters=parameter_rows(job, list(de.comparisons)),
        samples=sample_rows(job),
        provenance=provenance_rows(job, generated),
        versions=_version_rows(job),
        methods=text,
        references=refs,
        notes=[(n, explain(n)) for n in notes],
        table_file=job.get("table_file"),
        static=[n for n in files if n.endswith(".png")],
        enrichment_figs=_embedded(files, "plots/enrichment-"),
        enrichment_any=bool(enrichment),
        gene_set_collections=job.get("gene_set_collections") or [],
        data=pack(to_json(data).encode()),
        counts=pack(count_bytes(de.normalized_counts, genes, samples)),
        plotly_js=_plotly_js(),
    )
    files["report.html"] = page.encode()
    return files
