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


@dataclass(frozen=True)
class _Header:
    """Where the table's header line is, and what it says: the parse starts from here."""

    start: int  # offset of the header line (past featureCounts' "#" command line)
    skip: int  # lines before the header (reported line numbers count them)
    line: str
    sep: str
    names: list[str]  # the header's column names, as the csv module splits them


def _bounded_text(
    stream: IO[bytes], *, where: str, label: str, sample_only: bool
) -> tuple[bytes, bool]:
    """The table's bytes and whether they are all of it: the door reads its first whole
    lines, the worker the whole table or a clear refusal past ``MAX_TABLE_BYTES``."""
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
    return data, complete


def _checked_header(data: bytes, *, complete: bool, where: str, label: str) -> _Header:
    """The header line past featureCounts' command line, refused when it is missing, too
    long or too wide, or when the table has more lines than ``MAX_GENES``."""
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
    names = next(csv.reader([header_line], delimiter=sep), [])
    return _Header(start, data.count(b"\n", 0, start), header_line, sep, names)


def _used_columns(data: bytes, header: _Header, samples: Sequence[str], where: str) -> pd.DataFrame:
    """The gene id, gene name and requested samples' columns as text: only the columns
    used are parsed, so a table of 10,000 samples costs what 3 columns do."""
    wanted = {0} | {
        i
        for i, name in enumerate(header.names)
        if name.lower() == "gene_name" or _match_any(name, samples)
    }
    try:
        frame = pd.read_csv(
            io.BytesIO(data[header.start :]),
            sep=header.sep,
            usecols=sorted(wanted),
            dtype=str,
            keep_default_na=False,
            encoding="utf-8",
            encoding_errors="replace",
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValidationError(f"{where}: not a readable table ({exc})") from None
    if frame.empty:
        raise ValidationError(f"{where}: the table has a header but no genes")
    return frame


def _gene_id_problems(gene_ids: pd.Series, *, skip: int, where: str) -> list[str]:
    """An empty gene id and duplicated ids, with their line numbers in the file."""
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
    return problems


def _sample_columns(
    samples: Sequence[str],
    candidates: list[str],
    *,
    sample_fields: Mapping[str, str] | None,
    field_name: str,
    label: str,
) -> tuple[dict[str, str], list[str]]:
    """Each sample's column, and a problem naming the sample's request field for each
    sample without one."""
    columns: dict[str, str] = {}
    problems: list[str] = []
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
    return columns, problems


def _column_counts(
    raw: pd.Series, gene_ids: pd.Series, *, col: str, where: str, fractional_ok: bool
) -> np.ndarray | str:
    """One column's integer counts, or the problem with its first bad value."""
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        return (
            f"{where}, column '{col}', gene '{gene_ids.iloc[i]}': '{raw.iloc[i][:40]}' is "
            "not a number"
        )
    arr: np.ndarray = num.to_numpy(dtype=float)
    if (arr > MAX_COUNT).any():
        i = int(np.flatnonzero(arr > MAX_COUNT)[0])
        return (
            f"{where}, column '{col}', gene '{gene_ids.iloc[i]}': {raw.iloc[i][:40]} is "
            f"larger than any read count (at most {MAX_COUNT:.0e})"
        )
    if (arr < 0).any():
        i = int(np.flatnonzero(arr < 0)[0])
        return (
            f"{where}, column '{col}', gene '{gene_ids.iloc[i]}': {raw.iloc[i]} is negative "
            "(counts are numbers of reads)"
        )
    fractional = arr != np.round(arr)
    if fractional.any():
        if not fractional_ok:
            i = int(np.flatnonzero(fractional)[0])
            return (
                f"{where}, column '{col}', gene '{gene_ids.iloc[i]}': {raw.iloc[i]} is not "
                "a whole number (counts must be integers, and only a table in nf-core/rnaseq's "
                "salmon layout, gene_id then gene_name, is rounded)"
            )
        arr = np.round(arr)
    return arr.astype(np.int64)


def _rounding_notes(
    frame: pd.DataFrame, columns: dict[str, str], *, fractional_ok: bool, field_name: str
) -> list[str]:
    """A note when salmon's fractional estimates were rounded, as tximport does."""
    if fractional_ok and any(
        (frame[c].astype(str).str.contains(r"\.\d*[1-9]", regex=True)).any()
        for c in columns.values()
    ):
        return [
            f"{field_name}: fractional (estimated) counts rounded to whole numbers, as "
            "tximport does for DESeq2"
        ]
    return []


def _table_format(header: _Header, names: list[str], *, fractional_ok: bool, label: str) -> str:
    """What the table looked like, for run.json: layout, delimiter, compression."""
    layout = (
        "featureCounts"
        if header.skip or names[1:3] == ["Chr", "Start"]
        else "nf-core/rnaseq salmon (gene_id, gene_name)"
        if fractional_ok
        else "genes x samples"
    )
    delimiter = "CSV" if header.sep == "," else "TSV"
    compressed = ", gzip" if label.lower().endswith(".gz") else ""
    return f"{layout}, {delimiter}{compressed}"


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
    data, complete = _bounded_text(stream, where=where, label=label, sample_only=sample_only)
    header = _checked_header(data, complete=complete, where=where, label=label)
    frame = _used_columns(data, header, samples, where)
    names = [str(c) for c in header.names]
    gene_ids = frame.iloc[:, 0].astype(str).str.strip()
    problems = _gene_id_problems(gene_ids, skip=header.skip, where=where)
    name_col = next((c for c in names[1:] if c.lower() == "gene_name"), None)
    columns, missing = _sample_columns(
        samples,
        [c for c in names[1:] if c != name_col],
        sample_fields=sample_fields,
        field_name=field_name,
        label=label,
    )
    problems += missing
    # salmon's estimated counts (nf-core's merged layout) are fractional by nature;
    # DESeq2 users round them (tximport's DESeqDataSetFromTximport does).
    fractional_ok = names[0].lower() == "gene_id" and name_col == names[1] if names else False
    values: dict[str, np.ndarray] = {}
    for sample, col in columns.items():
        raw = frame[col].astype(str).str.strip()
        counted = _column_counts(raw, gene_ids, col=col, where=where, fractional_ok=fractional_ok)
        if isinstance(counted, str):
            problems.append(counted)
        else:
            values[sample] = counted
    if complete and len(gene_ids) < min_genes:
        problems.append(
            f"{where}: only {len(gene_ids)} gene(s); differential expression needs at least "
            f"{min_genes} (DESeq2 fits its dispersion trend across genes)"
        )
    if problems:
        raise ValidationError("; ".join(problems[:MAX_PROBLEMS]))
    counts = pd.DataFrame(values, index=pd.Index(gene_ids.to_list(), name="gene_id"))
    gene_names: dict[str, str] = {}
    if name_col is not None:
        gene_names = {
            g: n.strip() or g for g, n in zip(gene_ids, frame[name_col].astype(str), strict=True)
        }
    return CountTable(
        counts=counts[list(samples)],
        gene_names=gene_names,
        columns=columns,
        notes=_rounding_notes(frame, columns, fractional_ok=fractional_ok, field_name=field_name),
        format=_table_format(header, names, fractional_ok=fractional_ok, label=label),
    )
