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

import csv
import io
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, cast

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


# A table is text of genes x samples: 60,000 genes x 1,000 samples is ~400 MB of text.
# Past these bounds it is refused, naming the bound, before it can cost the server.
MAX_TABLE_BYTES = 512 * 1024 * 1024  # decompressed, read by the job's worker
DOOR_SAMPLE_BYTES = 8 * 1024 * 1024  # what submit and dry run read (header + first genes)
MAX_HEADER_BYTES = 1024 * 1024
MAX_COLUMNS = 10_000
MAX_GENES = 1_000_000
MAX_COUNT = 10**15  # more reads than any sequencer run gives; past 2**53 floats lose counts
MIN_GENES = 10  # fewer: the dispersion trend cannot be fitted (pydeseq2 fails at 3, at times at 4)
READ_CHUNK = 1024 * 1024


def read_bounded(source: IO[bytes], *, where: str, gz: bool, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the (decompressed) table, and whether that was all of it.

    Decompression is streamed in chunks and the lines are counted as they come, so a
    gzip bomb costs at most ``limit`` bytes and is usually refused after the first
    megabytes: past ``MAX_GENES`` lines, or a line longer than ``MAX_HEADER_BYTES``.
    """
    import gzip
    import zlib

    stream: IO[bytes] = cast(IO[bytes], gzip.GzipFile(fileobj=source, mode="rb")) if gz else source
    parts: list[bytes] = []
    total = lines = 0
    line_start = 0  # offset of the current line's first byte
    try:
        while total <= limit:
            chunk = stream.read(min(READ_CHUNK, limit + 1 - total))
            if not chunk:
                return b"".join(parts), True
            parts.append(chunk)
            lines += chunk.count(b"\n")
            last = chunk.rfind(b"\n")
            if last >= 0:
                line_start = total + last + 1
            total += len(chunk)
            if lines > MAX_GENES + 1:
                raise ValidationError(
                    f"{where}: more than {MAX_GENES:,} lines; a table may have at most "
                    f"{MAX_GENES:,} genes"
                )
            if total - line_start > MAX_HEADER_BYTES:
                raise ValidationError(
                    f"{where}: line {lines + 1} is longer than {MAX_HEADER_BYTES // 1024} KiB "
                    f"(a table may have at most {MAX_COLUMNS:,} columns)"
                )
    except (OSError, EOFError, zlib.error) as exc:
        raise ValidationError(f"{where}: not a readable gzip file ({exc})") from None
    return b"".join(parts)[:limit], False


def _match_any(column: str, samples: Sequence[str]) -> bool:
    return column in samples or (
        posixpath.basename(column.replace("\\", "/")).split(".")[0] in samples
    )


def read_count_table(
    source: bytes | IO[bytes],
    *,
    label: str,
    samples: Sequence[str],
    sample_fields: Mapping[str, str] | None = None,
    field_name: str = "counts",
    sample_only: bool = False,
    min_genes: int = MIN_GENES,
) -> CountTable:
    """The requested samples' columns as integer counts, or a ``ValidationError`` listing
    every problem (``sample_fields`` names the request field of each sample).

    ``sample_only`` (submit, dry run): read the header and the genes in the first
    ``DOOR_SAMPLE_BYTES``; the job's worker reads the whole table, up to ``MAX_TABLE_BYTES``.
    """
    where = f"{field_name}: '{label}'"
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    limit = DOOR_SAMPLE_BYTES if sample_only else MAX_TABLE_BYTES
    data, complete = read_bounded(
        stream, where=where, gz=label.lower().endswith(".gz"), limit=limit
    )
    if not complete:
        if not sample_only:
            raise ValidationError(
                f"{where}: larger than {MAX_TABLE_BYTES // (1024 * 1024)} MiB uncompressed; "
                "a counts table of genes x samples is far smaller"
            )
        data = data[: data.rfind(b"\n") + 1]  # whole lines only; the rest is the worker's
    start = 0
    while data.startswith(b"#", start):  # featureCounts' command line
        nl = data.find(b"\n", start)
        start = len(data) if nl < 0 else nl + 1
    end_of_header = data.find(b"\n", start)
    header_bytes = data[start : len(data) if end_of_header < 0 else end_of_header]
    if len(header_bytes) > MAX_HEADER_BYTES or (end_of_header < 0 and not complete):
        raise ValidationError(
            f"{where}: the header line is longer than {MAX_HEADER_BYTES // 1024} KiB "
            f"(a table may have at most {MAX_COLUMNS:,} columns)"
        )
    header_line = header_bytes.decode("utf-8", errors="replace").rstrip("\r")
    if not header_line.strip():
        raise ValidationError(f"{where}: the table is empty (no header, no genes)")
    sep = _separator(label, header_line)
    if header_line.count(sep) + 1 > MAX_COLUMNS:
        raise ValidationError(
            f"{where}: the header has {header_line.count(sep) + 1:,} columns; a table may "
            f"have at most {MAX_COLUMNS:,}"
        )
    lines = data.count(b"\n", start)
    if lines > MAX_GENES + 1:
        raise ValidationError(
            f"{where}: more than {MAX_GENES:,} lines; a table may have at most {MAX_GENES:,} genes"
        )
    skip = data.count(b"\n", 0, start)
    full_header = next(csv.reader([header_line], delimiter=sep), [])
    # only the columns used are parsed: a table of 10,000 samples costs what 3 columns do
    wanted = {0} | {
        i
        for i, name in enumerate(full_header)
        if name.lower() == "gene_name" or _match_any(name, samples)
    }
    try:
        frame = pd.read_csv(
            io.BytesIO(data[start:]),
            sep=sep,
            usecols=sorted(wanted),
            dtype=str,
            keep_default_na=False,
            encoding="utf-8",
            encoding_errors="replace",
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValidationError(f"{where}: not a readable table ({exc})") from None
    header = [str(c) for c in full_header]
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
        if (arr > MAX_COUNT).any():
            i = int(np.flatnonzero(arr > MAX_COUNT)[0])
            problems.append(
                f"{where}, column '{col}', gene '{gene_ids.iloc[i]}': {raw.iloc[i][:40]} is "
                f"larger than any read count (at most {MAX_COUNT:.0e})"
            )
            continue
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
    if complete and len(gene_ids) < min_genes:
        problems.append(
            f"{where}: only {len(gene_ids)} gene(s); differential expression needs at least "
            f"{min_genes} (DESeq2 fits its dispersion trend across genes)"
        )
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
