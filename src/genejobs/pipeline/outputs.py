"""Write a job's files: the DE table last, everything else under ``<output>/<job_id>/``.

Each object is written whole (``Storage.write_bytes``: S3 PUT or temp + rename);
the table, which clients look for, is written after all the rest, so its
presence means the job's outputs are complete.
"""

from __future__ import annotations

import io
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import pandas as pd

from genejobs.pipeline.de import DEResult
from genejobs.pipeline.records import ALL_LIBRARY_TYPES, LibraryType, SampleResult
from genejobs.storage import Storage, parse_uri

# A cell starting with one of these is a formula to Excel, LibreOffice and Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text: str) -> str:
    """OWASP's advice against CSV injection: a text cell that a spreadsheet would run as a
    formula (``=HYPERLINK(...)``, ``+1``, ``@SUM``) gets a leading single quote."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _safe_text(df: pd.DataFrame, *, index: bool) -> pd.DataFrame:
    """``df`` with every text cell (and the index, when written) neutralised; numbers as is."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: neutralised(v) if isinstance(v, str) else v)
    if index and out.index.dtype == object:
        out.index = out.index.map(lambda v: neutralised(v) if isinstance(v, str) else v)
    return out


def _csv(df: pd.DataFrame, *, index: bool = False) -> bytes:
    buf = io.StringIO()
    _safe_text(df, index=index).to_csv(buf, index=index, na_rep="NA", float_format="%.6g")
    return buf.getvalue().encode()


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


TOOLS = (
    "genejobs",
    "mappy",
    "cutadapt",
    "dnaio",
    "pydeseq2",
    "RSeQC",
    "pysam",
    "multiqc",
    "gseapy",
    "pytximport",
)


def tool_versions() -> dict[str, str]:
    """Installed versions of the tools a job may use (``mappy`` is minimap2's binding)."""
    return {d: _version(d) for d in TOOLS}


RRNA_TYPES = frozenset({"rRNA", "Mt_rRNA", "rRNA_pseudogene"})


def assignment_table(
    results: list[SampleResult],
    library_type: LibraryType,
    rrna_genes: frozenset[str] = frozenset(),
) -> pd.DataFrame:
    """Per sample: pairs in, trimmed, aligned, unique, assigned, htseq's counters, rRNA share."""
    rows = []
    lt = library_type.value
    for r in results:
        rs, cs = r.read_stats, r.count_stats
        row: dict[str, Any] = {
            "sample": r.sample_name,
            "pairs_in": rs.pairs_in,
            "pairs_trimmed": rs.pairs_with_adapter,
            "pairs_too_short": rs.pairs_too_short,
            "aligned": cs.aligned,
            "unique": cs.unique,
            "multimapped": cs.multimapped,
            "not_aligned": cs.not_aligned,
            "assigned": cs.assigned.get(lt, 0),
            "no_feature": cs.no_feature.get(lt, 0),
            "ambiguous": cs.ambiguous.get(lt, 0),
        }
        if rrna_genes:
            vec = r.counts[lt]
            rrna = int(sum(int(c) for g, c in zip(r.gene_ids, vec, strict=True) if g in rrna_genes))
            row["rrna_pairs"] = rrna
            row["rrna_share"] = round(rrna / max(1, cs.assigned.get(lt, 0)), 4)
        for other in ALL_LIBRARY_TYPES:
            # salmon reports no unique/multi split: its shares are over mapped pairs
            share = cs.assigned.get(other.value, 0) / max(1, cs.unique or cs.aligned)
            row[f"assigned_share_{other.value}"] = round(share, 4)
        if r.qc is not None:
            observed = r.qc.observed_library_type
            row["qc_observed_library_type"] = observed.value if observed else ""
            row["qc_distribution_pairs"] = r.qc.distribution_pairs or ""
        if r.transcripts is not None:  # the transcript-level quantifier's own report
            row["quantifier"] = r.transcripts.engine
            row["mapping_rate"] = r.transcripts.mapping_rate
            row["salmon_library_type_used"] = r.transcripts.library_type_used
            row["salmon_library_type_seen"] = r.transcripts.library_type_seen
        row["from_cache"] = r.from_cache
        rows.append(row)
    return pd.DataFrame(rows)


def htseq_summary(result: SampleResult, library_type: LibraryType) -> bytes:
    """htseq-count's output format, so MultiQC's htseq module reads our counts."""
    lt = library_type.value
    cs = result.count_stats
    lines = [f"{g}\t{int(c)}" for g, c in zip(result.gene_ids, result.counts[lt], strict=True)]
    lines += [
        f"__no_feature\t{cs.no_feature.get(lt, 0)}",
        f"__ambiguous\t{cs.ambiguous.get(lt, 0)}",
        "__too_low_aQual\t0",  # no pair is dropped for its mapping quality (CountStats)
        f"__not_aligned\t{cs.not_aligned}",
        f"__alignment_not_unique\t{cs.multimapped}",
    ]
    return ("\n".join(lines) + "\n").encode()


def by_significance(table: pd.DataFrame) -> pd.DataFrame:
    """The results table as a person reads it: most significant first (padj, then p-value,
    then gene id; genes without a p-value last), comparison by comparison in their order."""
    keys = ["padj", "pvalue", "gene_id"]
    if "comparison" in table.columns:
        order = {c: i for i, c in enumerate(dict.fromkeys(table["comparison"]))}
        ranked = table.assign(_cmp=table["comparison"].map(order))
        ranked = ranked.sort_values(["_cmp", *keys], na_position="last", kind="stable")
        return ranked.drop(columns="_cmp").reset_index(drop=True)
    return table.sort_values(keys, na_position="last", kind="stable").reset_index(drop=True)


def write_job_outputs(
    storage: Storage,
    *,
    table_uri: str,
    artifacts_uri: str,
    de: DEResult,
    sample_results: list[SampleResult],
    library_type: LibraryType,
    run_info: dict[str, Any],
    extra_files: dict[str, bytes] | None = None,
    rrna_genes: frozenset[str] = frozenset(),
    record: list[tuple[str, int]] | None = None,
) -> dict[str, str]:
    """Write all files; returns logical name → URI.

    ``record`` (when given) receives every file written, (URI, bytes), for the job's
    manifest; ``manifest.json`` beside the files lists them too, with the samples' QC
    files already in ``record``. If a write fails, what this call wrote is removed
    again (no half-written outputs), and the error goes on.
    """
    folder = parse_uri(artifacts_uri)
    files: dict[str, bytes] = {
        "counts.csv": _csv(de.counts.rename_axis("gene_id"), index=True),
        "normalized_counts.csv": _csv(de.normalized_counts.rename_axis("gene_id"), index=True),
        "size_factors.csv": _csv(de.size_factors.rename_axis("sample").reset_index()),
        "dispersions.csv": _csv(de.dispersions),
    }
    if sample_results:  # a job from a counts table has no reads to account for
        files["assignment.csv"] = _csv(assignment_table(sample_results, library_type, rrna_genes))
    for r in sample_results:
        files[f"counts_summary/{r.sample_name}.htseq.txt"] = htseq_summary(r, library_type)
    info = dict(run_info)
    info["versions"] = tool_versions()
    info["library_type_used"] = library_type.value
    info["notes"] = de.notes
    files["run.json"] = json.dumps(info, indent=1, default=str).encode()
    files.update(extra_files or {})
    table = _csv(by_significance(de.table))
    record = record if record is not None else []
    done: list[str] = []
    listed = [*record, *((folder.join(n).original, len(d)) for n, d in files.items())]
    listed.append((table_uri, len(table)))
    files["manifest.json"] = json.dumps(
        {
            "table": table_uri,
            "folder": folder.original,
            "files": [{"uri": uri, "size": size} for uri, size in listed],
        },
        indent=1,
    ).encode()
    written: dict[str, str] = {}
    try:
        for name, data in files.items():
            loc = folder.join(name)
            storage.write_bytes(loc, data)
            done.append(loc.original)
            record.append((loc.original, len(data)))
            written[name] = loc.original
        storage.write_bytes(parse_uri(table_uri), table)
        record.append((table_uri, len(table)))
    except BaseException:
        for uri in done:
            try:
                storage.remove_file(parse_uri(uri))
            except Exception:  # already failing: the first error is the one to report
                continue
        raise
    written["table"] = table_uri
    return written
