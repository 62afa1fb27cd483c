"""The report's small tables: QC summary with flags, parameters, provenance, versions.

Each function returns rows (lists of plain strings) for the template; percentages
and flags are shares of counts the pipeline already recorded.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from genejobs.pipeline.count import infer_library_type
from genejobs.pipeline.records import LibraryType, SampleResult

LOW_ASSIGNED = 0.40  # share of read pairs assigned to genes below which a sample is flagged
HIGH_RRNA = 0.10  # share of assigned pairs on rRNA genes above which a sample is flagged
MIN_STRANDED_PAIRS = 1000  # fewer strand-informative pairs: no strand verdict


@dataclass
class QcRow:
    sample: str
    group: str
    pairs: int
    cells: dict[str, str]  # column title -> formatted percentage
    flags: list[str] = field(default_factory=list)


QC_COLUMNS = ["trimmed", "aligned", "assigned", "multimapped", "rRNA", "strand agreement"]


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole > 0 else "–"


def _strand(result: SampleResult, used: LibraryType) -> tuple[str, str | None]:
    """'% agreeing with the library type used', and a flag when the reads disagree."""
    stats = result.count_stats
    first = stats.assigned.get(LibraryType.FIRSTSTRAND.value, 0)
    second = stats.assigned.get(LibraryType.SECONDSTRAND.value, 0)
    if first + second < MIN_STRANDED_PAIRS:
        return "–", None
    observed, share = infer_library_type(stats)
    if used is LibraryType.FIRSTSTRAND:
        cell = _pct(first, first + second)
    elif used is LibraryType.SECONDSTRAND:
        cell = _pct(second, first + second)
    else:
        cell = f"{_pct(max(first, second), first + second)} on one strand"
    if observed is not used:
        return cell, (
            f"strandedness: the reads look {observed.value} ({share:.0%}), "
            f"but the job counted them as {used.value}"
        )
    return cell, None


def qc_rows(
    assignment: pd.DataFrame,
    results: list[SampleResult],
    groups: dict[str, str],
    used: LibraryType,
    far_in_pca: list[str],
) -> list[QcRow]:
    """One row per sample: percentages of its read pairs and what looks wrong, in words;
    flagged samples first (at 200 samples nobody scrolls to find them)."""
    by_name = {r.sample_name: r for r in results}
    rows = []
    for rec in assignment.to_dict("records"):
        name, pairs = str(rec["sample"]), int(rec["pairs_in"])
        assigned = int(rec["assigned"])
        strand, strand_flag = _strand(by_name[name], used)
        rrna = rec.get("rrna_share")
        cells = {
            "trimmed": _pct(rec["pairs_trimmed"], pairs),
            "aligned": _pct(rec["aligned"], pairs),
            "assigned": _pct(assigned, pairs),
            "multimapped": _pct(rec["multimapped"], rec["aligned"]),
            "rRNA": f"{100 * float(rrna):.1f}%" if rrna is not None and rrna == rrna else "–",
            "strand agreement": strand,
        }
        flags = []
        if pairs > 0 and assigned / pairs < LOW_ASSIGNED:
            flags.append(f"low assignment: {assigned / pairs:.0%} of pairs counted on genes")
        if rrna is not None and rrna == rrna and float(rrna) > HIGH_RRNA:
            flags.append(f"high rRNA: {float(rrna):.0%} of counted pairs")
        if strand_flag:
            flags.append(strand_flag)
        if name in far_in_pca:
            flags.append("far from its group in the PCA: check for a swap or a failed library")
        rows.append(QcRow(name, groups.get(name, ""), pairs, cells, flags))
    return sorted(rows, key=lambda r: not r.flags)  # flagged samples first, else job order


def _base(uri: str) -> str:
    return posixpath.basename(str(uri).rstrip("/")) or str(uri)


def parameter_rows(job: dict[str, Any], comparisons: list[str]) -> list[tuple[str, str]]:
    """The settings a reader needs to repeat the analysis, as (name, value) text."""
    declared = job.get("library_type_declared") or job.get("library_type") or ""
    used = job.get("library_type", "")
    lt = used if declared in ("", used) else f"{used} (declared {declared})"
    table = str(job.get("counts_table") or "")
    rows = [
        ("reference genome", str(job.get("ref") or "none")),
        ("annotation", _base(job.get("gtf") or "") or "none"),
    ]
    if table:
        fmt = str(job.get("counts_table_format") or "")
        rows.append(("counts table", _base(table) + (f" ({fmt})" if fmt else "")))
        rows.append(("reads processed", "none: counts were read from the table"))
    else:
        rows += [("library type", lt), ("adapter", str(job.get("adapter") or "none declared"))]
        if job.get("read_layout"):
            rows.append(("reads", str(job["read_layout"])))
        fld = job.get("salmon_single_end_fragment_length")
        if fld:
            rows.append(
                ("fragment length prior", f"mean {fld.get('mean')}, SD {fld.get('sd')} (salmon)")
            )
    rows += [
        ("design", str(job.get("design") or "~ group")),
        ("comparisons", ", ".join(c.replace("_vs_", " vs ") for c in comparisons)),
        ("significance", "adjusted p-value < 0.05 (Benjamini-Hochberg)"),
    ]
    threshold = float(job.get("lfc_threshold") or 0.0)
    if threshold > 0:
        rows.append(
            ("fold-change threshold", f"tested |log2 fold change| > {threshold:g} (greaterAbs)")
        )
    if job.get("shrink"):
        rows.append(
            (
                "shrunken fold changes",
                "lfc_shrunk (apeGLM-style prior); the volcano, MA plot and GSEA ranking use it",
            )
        )
    rows.append(("QC (RSeQC, MultiQC)", "yes" if job.get("is_export_qc") else "no"))
    if job.get("gene_sets"):
        rows.append(("gene sets", _base(job["gene_sets"])))
    return rows


def sample_rows(job: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(sample, group, covariates, read files by name) — file names only, not storage paths."""
    out = []
    for name, info in (job.get("samples") or {}).items():
        files = ", ".join(_base(f) for f in info.get("files", []))
        covs = ", ".join(f"{k}={v}" for k, v in (info.get("covariates") or {}).items())
        out.append((str(name), str(info.get("group", "")), covs, files or "counts table"))
    return out


def provenance_rows(job: dict[str, Any], generated: str) -> list[tuple[str, str]]:
    rows = [("job id", str(job.get("job_id", "")))]
    if job.get("name"):
        rows.append(("job name", str(job["name"])))
    rows.append(("report generated", generated))
    ref, ann = job.get("reference") or {}, job.get("annotation") or {}
    if ref:
        rows.append(
            ("reference", f"{ref.get('name', '')} (FASTA sha256 {ref.get('fasta_sha256', '?')})")
        )
        p = ref.get("provenance") or {}
        if p:
            verified = "checksums verified" if p.get("checksums_verified") else "not verified"
            rows.append(
                (
                    "reference source",
                    f"{p.get('catalogue_name', '')}: {p.get('source', '')} release "
                    f"{p.get('release', '')}, fetched {p.get('fetched', '')}, {verified}"
                    + (f", via mirror {p['mirror']}" if p.get("mirror") else ""),
                )
            )
    for c in job.get("gene_set_collections") or []:
        rows.append(
            (
                f"gene sets {c.get('name', '')}",
                f"{c.get('origin', '')}"
                + (f", release {c['release']}" if c.get("release") else "")
                + f", {c.get('n_sets', '?')} sets",
            )
        )
    if ann:
        rows.append(
            ("annotation", f"{ann.get('name', '')} (GTF sha256 {ann.get('gtf_sha256', '?')})")
        )
    return rows
