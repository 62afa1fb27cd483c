"""Read a genes x samples counts table (a job from counts instead of reads).

Accepted as labs have them: TSV or CSV, the first column the gene id, an optional
``gene_name`` column; nf-core/rnaseq's ``salmon.merged.gene_counts.tsv`` (gene_id,
gene_name, one column per sample, salmon's estimated counts) and featureCounts'
output (a ``#`` command line, then Geneid, Chr, Start, End, Strand, Length and one
column per BAM path). A requested sample matches a column of its name, or one whose
file name up to its first dot is its name (featureCounts' ``/data/K1.sorted.bam``).
Every problem with the table is reported at once, naming the table and the place.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from genejobs.errors import ValidationError

MAX_PROBLEMS = 10


@dataclass
class CountTable:
    counts: pd.DataFrame  # genes x requested samples (in request order), int64, index gene_id
    gene_names: dict[str, str]  # from the table's gene_name column (empty without one)
    columns: dict[str, str]  # sample name -> the table's column it was read from
    notes: list[str] = field(default_factory=list)
    # What the table looked like, for run.json: layout, delimiter, compression.
    format: str = ""


def _separator(label: str, header: str) -> str:
    if label.lower().endswith((".csv", ".csv.gz")):
        return ","
    return "\t" if "\t" in header else ","


def _match(sample: str, columns: Sequence[str]) -> str | None:
    if sample in columns:
        return sample
    hits = [c for c in columns if posixpath.basename(c.replace("\\", "/")).split(".")[0] == sample]
    return hits[0] if len(hits) == 1 else None


def read_count_table(
    data: bytes,
    *,
    label: str,
    samples: Sequence[str],
    sample_fields: Mapping[str, str] | None = None,
    field_name: str = "counts",
) -> CountTable:
    """The requested samples' columns as integer counts, or a ``ValidationError`` listing
    every problem (``sample_fields`` names the request field of each sample)."""
    where = f"{field_name}: '{label}'"
    if label.lower().endswith(".gz"):
        import gzip

        try:
            data = gzip.decompress(data)
        except OSError as exc:
            raise ValidationError(f"{where}: not a readable gzip file ({exc})") from None
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    skip = 0
    while skip < len(lines) and lines[skip].startswith("#"):
        skip += 1  # featureCounts' command line
    if skip >= len(lines) or not lines[skip].strip():
        raise ValidationError(f"{where}: the table is empty (no header, no genes)")
    sep = _separator(label, lines[skip])
    try:
        frame = pd.read_csv(
            io.StringIO("\n".join(lines[skip:])),
            sep=sep,
            dtype=str,
            keep_default_na=False,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValidationError(f"{where}: not a readable table ({exc})") from None
    header = [str(c) for c in frame.columns]
    if frame.empty:
        raise ValidationError(f"{where}: the table has a header but no genes")
    gene_ids = frame.iloc[:, 0].astype(str).str.strip()
    problems: list[str] = []
    if (gene_ids == "").any():
        line = int(np.flatnonzero(gene_ids == "")[0]) + skip + 2
        problems.append(f"{where}, line {line}: the gene id (first column) is empty")
    dup = gene_ids[gene_ids.duplicated(keep=False) & (gene_ids != "")]
    if not dup.empty:
        first = dup.iloc[0]
        lines_of = [int(i) + skip + 2 for i in np.flatnonzero(gene_ids == first)[:3]]
        problems.append(
            f"{where}: gene id '{first}' appears more than once (lines "
            f"{', '.join(map(str, lines_of))}), {dup.nunique()} duplicated id(s) in all"
        )
    name_col = next((c for c in header[1:] if c.lower() == "gene_name"), None)
    candidates = [c for c in header[1:] if c != name_col]
    columns: dict[str, str] = {}
    for sample in samples:
        col = _match(sample, candidates)
        if col is None:
            path = (sample_fields or {}).get(sample, field_name)
            shown = ", ".join(candidates[:12]) + (", ..." if len(candidates) > 12 else "")
            problems.append(
                f"{path}: '{sample}' is not a column of {field_name} '{label}' "
                f"(columns: {shown or 'none'})"
            )
        else:
            columns[sample] = col
    # salmon's estimated counts (nf-core's merged layout) are fractional by nature;
    # DESeq2 users round them (tximport's DESeqDataSetFromTximport does).
    fractional_ok = header[0].lower() == "gene_id" and name_col == header[1] if header else False
    notes: list[str] = []
    values: dict[str, np.ndarray] = {}
    for sample, col in columns.items():
        raw = frame[col].astype(str).str.strip()
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            problems.append(
                f"{where}, column '{col}', gene '{gene_ids.iloc[i]}': '{raw.iloc[i][:40]}' is "
                "not a number"
            )
            continue
        arr = num.to_numpy(dtype=float)
        if (arr < 0).any():
            i = int(np.flatnonzero(arr < 0)[0])
            problems.append(
                f"{where}, column '{col}', gene '{gene_ids.iloc[i]}': {raw.iloc[i]} is negative "
                "(counts are numbers of reads)"
            )
            continue
        fractional = arr != np.round(arr)
        if fractional.any():
            if not fractional_ok:
                i = int(np.flatnonzero(fractional)[0])
                problems.append(
                    f"{where}, column '{col}', gene '{gene_ids.iloc[i]}': {raw.iloc[i]} is not "
                    "a whole number (counts must be integers, and only a table in nf-core/rnaseq's "
                    "salmon layout, gene_id then gene_name, is rounded)"
                )
                continue
            arr = np.round(arr)
        values[sample] = arr.astype(np.int64)
    if problems:
        raise ValidationError("; ".join(problems[:MAX_PROBLEMS]))
    if fractional_ok and any(
        (frame[c].astype(str).str.contains(r"\.\d*[1-9]", regex=True)).any()
        for c in columns.values()
    ):
        notes.append(
            f"{field_name}: fractional (estimated) counts rounded to whole numbers, as "
            "tximport does for DESeq2"
        )
    counts = pd.DataFrame(values, index=pd.Index(gene_ids.to_list(), name="gene_id"))
    counts = counts[list(samples)]
    names: dict[str, str] = {}
    if name_col is not None:
        names = {
            g: n.strip() or g for g, n in zip(gene_ids, frame[name_col].astype(str), strict=True)
        }
    layout = (
        "featureCounts"
        if skip or header[1:3] == ["Chr", "Start"]
        else "nf-core/rnaseq salmon (gene_id, gene_name)"
        if fractional_ok
        else "genes x samples"
    )
    delimiter = "CSV" if sep == "," else "TSV"
    compressed = ", gzip" if label.lower().endswith(".gz") else ""
    return CountTable(
        counts=counts,
        gene_names=names,
        columns=columns,
        notes=notes,
        format=f"{layout}, {delimiter}{compressed}",
    )
