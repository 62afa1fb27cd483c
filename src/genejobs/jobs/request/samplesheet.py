"""nf-core/rnaseq sample sheets turned into the request's ``inputs``, with errors naming row
and column.

The sheet is ``sample,fastq_1,fastq_2,strandedness`` (fastq_2 empty for single-end;
strandedness ``unstranded|forward|reverse|auto``) plus a group column (``condition`` or
``group``, or the one named) and optional covariate columns; CSV or TSV. Rows with
the same sample are its runs, in order. Rows are counted as a spreadsheet shows them:
the header is row 1.

The sheet is read whole in the API process, so it is bounded (bytes, rows, columns)
before it is parsed; parsing uses the standard ``csv`` module. The rules between
fields (names unique, one bucket, single-end or paired as a whole...) are the request's
own and are checked on the request the sheet made; ``labels`` lets their messages name
the sheet's rows instead of ``inputs[0].group_inputs[1]``.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from genejobs.errors import GeneJobsError, ValidationError
from genejobs.jobs.request.fastq_names import FASTQ_RULE, is_fastq_name
from genejobs.jobs.request.schema import (
    LEVEL_PATTERN,
    LEVEL_RULE,
    MAX_SHEET_BYTES,
    NAME_PATTERN,
    NAME_RULE,
    SampleSheetRequest,
    problems,
)
from genejobs.storage import parse_uri

MAX_SHEET_ROWS = 10_000
MAX_SHEET_COLUMNS = 64
MAX_PROBLEMS = 50  # a sheet with a wrong column would otherwise list every row
MAX_SHOWN_CHARS = 120  # a cell echoed in a message
SHEET_SUFFIXES = (".csv", ".tsv", ".txt")
GROUP_COLUMNS = ("condition", "group")
STRANDEDNESS = {
    "unstranded": "fr-unstranded",
    "reverse": "fr-firststrand",
    "forward": "fr-secondstrand",
    "auto": "auto",
}
REQUIRED = ("sample", "fastq_1")


@dataclass
class SheetSample:
    name: str
    group: str
    rows: list[int] = field(default_factory=list)
    runs: list[list[str]] = field(default_factory=list)
    covariates: dict[str, str] = field(default_factory=dict)

    def request(self) -> dict[str, Any]:
        """The sample as the request writes it: ``files`` for one paired run, else ``runs``."""
        out: dict[str, Any] = {"sample_name": self.name}
        if len(self.runs) == 1 and len(self.runs[0]) == 2:
            out["files"] = list(self.runs[0])
        else:
            out["runs"] = [list(r) for r in self.runs]
        if self.covariates:
            out["covariates"] = dict(self.covariates)
        return out


@dataclass
class ParsedSheet:
    samples: list[SheetSample]
    library_type: str | None  # the request's spelling; None when the sheet has no strandedness
    problems: list[str]
    group_column: str | None
    ignored_columns: list[str]

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(s.group for s in self.samples))

    def inputs(self) -> list[dict[str, Any]]:
        return [
            {
                "group_name": g,
                "group_inputs": [s.request() for s in self.samples if s.group == g],
            }
            for g in self.groups
        ]

    def labels(self) -> dict[str, str]:
        """Field path of the request the sheet made -> where that is in the sheet."""
        out = {"inputs": "samplesheet"}
        for gi, g in enumerate(self.groups):
            where = f"samplesheet group '{g}' (column {self.group_column})"
            out[f"inputs[{gi}]"] = where
            members = [s for s in self.samples if s.group == g]
            for si, s in enumerate(members):
                spath = f"inputs[{gi}].group_inputs[{si}]"
                out[spath] = f"samplesheet sample '{s.name}' ({row_list(s.rows)})"
                for ri, row in enumerate(s.rows):
                    out[f"{spath}.runs[{ri}]"] = f"samplesheet row {row}"
                    for k, column in enumerate(("fastq_1", "fastq_2")):
                        place = f"samplesheet row {row}, column {column}"
                        out[f"{spath}.runs[{ri}][{k}]"] = place
                        if len(s.rows) == 1:
                            out[f"{spath}.files[{k}]"] = place
                if len(s.rows) == 1:
                    out[f"{spath}.files"] = f"samplesheet row {s.rows[0]}"
        return out


def row_list(rows: Iterable[int]) -> str:
    """``[2, 3, 4, 7]`` -> ``rows 2-4, 7``."""
    ordered = sorted(set(rows))
    spans: list[list[int]] = []
    for r in ordered:
        if spans and r == spans[-1][1] + 1:
            spans[-1][1] = r
        else:
            spans.append([r, r])
    text = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans)
    return ("rows " if len(ordered) > 1 else "row ") + text


def _shown(value: str) -> str:
    return value if len(value) <= MAX_SHOWN_CHARS else value[:MAX_SHOWN_CHARS] + "…"


def _delimiter(header: str) -> str | None:
    if "\t" in header:
        return "\t"
    if "," in header or ";" not in header:
        return ","
    return None


def _table_rows(text: str, found: list[str]) -> list[tuple[int, list[str]]] | None:
    """The sheet's non-blank rows as (row number, stripped cells), header first; None
    (with the problem in ``found``) when it is too long, empty or not CSV/TSV."""
    text = text.removeprefix("\ufeff")  # Excel's byte-order mark
    lines = text.splitlines()
    if len(lines) > MAX_SHEET_ROWS + 1:
        found.append(f"samplesheet: has {len(lines)} lines, at most {MAX_SHEET_ROWS} rows allowed")
        return None
    header_line = next((line for line in lines if line.strip()), "")
    if not header_line:
        found.append("samplesheet: is empty (the header row sample,fastq_1,fastq_2 comes first)")
        return None
    delimiter = _delimiter(header_line)
    if delimiter is None:
        found.append("samplesheet: columns must be separated by commas (CSV) or tabs (TSV)")
        return None
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    try:
        table = [(i + 1, [c.strip() for c in row]) for i, row in enumerate(reader)]
    except csv.Error as exc:
        found.append(f"samplesheet row {reader.line_num}: not valid CSV/TSV ({exc})")
        return None
    table = [(n, row) for n, row in table if any(row)]
    if not table:
        found.append("samplesheet: is empty (the header row sample,fastq_1,fastq_2 comes first)")
        return None
    return table


def _header_problems(found: list[str], header_row: int, columns: list[str]) -> None:
    """A column named twice, and each required column missing."""
    seen_columns: set[str] = set()
    for c in columns:
        if c in seen_columns:
            found.append(f"samplesheet row {header_row}: column '{_shown(c)}' appears twice")
        seen_columns.add(c)
    listed = ", ".join(_shown(c) for c in columns)
    for c in REQUIRED:
        if c not in columns:
            found.append(
                f"samplesheet: no '{c}' column (nf-core/rnaseq's sheet has "
                f"sample,fastq_1,fastq_2,strandedness, found: {listed})"
            )


def _group_column(found: list[str], columns: list[str], group_column: str | None) -> str | None:
    """The column of the samples' groups: the one named, else 'condition' or 'group'."""
    listed = ", ".join(_shown(c) for c in columns)
    group = group_column.lower() if group_column else None
    if group is None:
        group = next((c for c in GROUP_COLUMNS if c in columns), None)
        if group is None:
            found.append(
                "samplesheet: no group column: add a 'condition' or 'group' column, or name "
                f"the column that holds each sample's group (group_column, found: {listed})"
            )
    elif group not in columns:
        found.append(f"samplesheet.group_column: no column '{group}' in the sheet ({listed})")
    return group


def _covariate_columns(
    found: list[str], columns: list[str], covariate_columns: Sequence[str], group: str | None
) -> list[str]:
    """The covariate columns asked for, each a column of the sheet and not a reserved one."""
    listed = ", ".join(_shown(c) for c in columns)
    covariates = [c.lower() for c in covariate_columns]
    for c in covariates:
        if c not in columns:
            found.append(f"samplesheet.covariate_columns: no column '{c}' in the sheet ({listed})")
        elif c in (*REQUIRED, "fastq_2", "strandedness", group):
            found.append(f"samplesheet.covariate_columns: '{c}' is not a covariate column")
    return covariates


def _capped(found: list[str]) -> None:
    """At most ``MAX_PROBLEMS`` problems listed, and how many more there were."""
    if len(found) > MAX_PROBLEMS:
        more = len(found) - MAX_PROBLEMS
        del found[MAX_PROBLEMS:]
        found.append(f"samplesheet: {more} more problems not listed")


def parse_sheet(
    text: str,
    *,
    group_column: str | None = None,
    covariate_columns: Sequence[str] = (),
    base: str | None = None,
) -> ParsedSheet:
    """Parse a sheet; every problem is listed (up to ``MAX_PROBLEMS``), each naming its place.

    ``base`` is the folder relative FASTQ paths are read from (the sheet's own folder
    when it was given by URI); without it a relative path is a problem.
    """
    found: list[str] = []
    empty = ParsedSheet([], None, found, group_column, [])
    table = _table_rows(text, found)
    if table is None:
        return empty
    header_row, header = table[0]
    columns = [c.lower() for c in header]
    if len(columns) > MAX_SHEET_COLUMNS:
        found.append(f"samplesheet: has {len(columns)} columns, at most {MAX_SHEET_COLUMNS}")
        return empty
    _header_problems(found, header_row, columns)
    group = _group_column(found, columns, group_column)
    covariates = _covariate_columns(found, columns, covariate_columns, group)
    if found:
        return ParsedSheet([], None, found, group, [])
    assert group is not None
    known = {*REQUIRED, "fastq_2", "strandedness", group, *covariates}
    parsed = ParsedSheet([], None, found, group, [c for c in columns if c not in known])
    _rows(parsed, table[1:], columns, covariates, base)
    _capped(found)
    return parsed


@dataclass
class _SheetRows:
    """What the rows read so far add up to: the samples by name, where each file was
    seen, and the rows of each strandedness and layout (a job has one of each)."""

    by_name: dict[str, SheetSample] = field(default_factory=dict)
    file_rows: dict[str, tuple[int, str]] = field(default_factory=dict)  # uri -> row, column
    strands: dict[str, list[int]] = field(default_factory=dict)
    single: list[int] = field(default_factory=list)
    paired: list[int] = field(default_factory=list)


def _row_levels(
    found: list[str], where: str, row: dict[str, str], covariates: list[str]
) -> dict[str, str]:
    """The row's covariate levels, each checked against the level rule."""
    levels = {}
    for c in covariates:
        if not re.fullmatch(LEVEL_PATTERN, row[c]):
            found.append(f"{where} {c}: '{_shown(row[c])}' {LEVEL_RULE}")
        levels[c] = row[c]
    return levels


def _row_run(
    found: list[str],
    where: str,
    n: int,
    row: dict[str, str],
    base: str | None,
    state: _SheetRows,
) -> list[str]:
    """The row's FASTQ URIs (read 1, then read 2 when given); a file may appear once."""
    run: list[str] = []
    for c in ("fastq_1", "fastq_2"):
        value = row.get(c, "")
        if not value:
            if c == "fastq_1":
                found.append(f"{where} fastq_1: is empty (read 1, or the single-end reads)")
            continue
        uri = _fastq_uri(found, f"{where} {c}", value, base)
        if uri is None:
            continue
        if uri in state.file_rows:
            other, other_column = state.file_rows[uri]
            found.append(
                f"{where} {c}: '{_shown(value)}' is also on row {other} ({other_column}): "
                "every file appears once in a job"
            )
            continue
        state.file_rows[uri] = (n, c)
        run.append(uri)
    return run


def _row_strand(
    found: list[str], where: str, n: int, row: dict[str, str], state: _SheetRows
) -> None:
    """The row's strandedness, when the sheet has the column, checked and noted."""
    if "strandedness" not in row:
        return
    value = row["strandedness"].lower()
    if value not in STRANDEDNESS:
        found.append(
            f"{where} strandedness: '{_shown(row['strandedness'])}' must be one of "
            f"{', '.join(STRANDEDNESS)}"
        )
    else:
        state.strands.setdefault(value, []).append(n)


def _sample_of(
    found: list[str],
    where: str,
    state: _SheetRows,
    name: str,
    group: tuple[str, str],
    levels: dict[str, str],
) -> SheetSample:
    """The row's sample: new, or the one of an earlier row, whose group and covariate
    levels this row must repeat (``group`` is the column and the row's value)."""
    group_col, group_name = group
    sample = state.by_name.get(name)
    if sample is None:
        sample = state.by_name[name] = SheetSample(name, group_name, covariates=levels)
        return sample
    first = sample.rows[0]
    if group_name != sample.group:
        found.append(
            f"{where} {group_col}: '{_shown(group_name)}', but row {first} puts sample "
            f"'{name}' in '{sample.group}' (a sample's rows must agree)"
        )
    for c, level in levels.items():
        if level != sample.covariates[c]:
            found.append(
                f"{where} {c}: '{_shown(level)}', but row {first} gives sample "
                f"'{name}' {c} '{sample.covariates[c]}' (a sample's rows must agree)"
            )
    return sample


def _across_rows(parsed: ParsedSheet, state: _SheetRows) -> None:
    """What the rows must agree on as a whole: one layout, and one strandedness (the
    job's library type)."""
    found = parsed.problems
    if state.single and state.paired:
        found.append(
            f"samplesheet column fastq_2: empty on {row_list(state.single)} (single-end) but "
            f"given on {row_list(state.paired)} (paired): a job is single-end or paired as a whole"
        )
    if len(state.strands) > 1:
        spread = " and ".join(f"{v} on {row_list(rs)}" for v, rs in state.strands.items())
        found.append(
            f"samplesheet column strandedness: the rows disagree ({spread}): a job has one "
            "library type"
        )
    elif state.strands:
        parsed.library_type = STRANDEDNESS[next(iter(state.strands))]


def _rows(
    parsed: ParsedSheet,
    rows: list[tuple[int, list[str]]],
    columns: list[str],
    covariates: list[str],
    base: str | None,
) -> None:
    found = parsed.problems
    group = parsed.group_column
    assert group is not None
    if not rows:
        found.append("samplesheet: has a header but no rows")
        return
    state = _SheetRows()
    for n, cells in rows:
        if len(cells) > len(columns) and any(cells[len(columns) :]):
            found.append(f"samplesheet row {n}: has {len(cells)} cells, the header {len(columns)}")
            continue
        row = dict(zip(columns, cells + [""] * (len(columns) - len(cells)), strict=False))
        where = f"samplesheet row {n}, column"
        before = len(found)
        name, group_name = row["sample"], row[group]
        _name_rule(found, f"{where} sample", name)
        _name_rule(found, f"{where} {group}", group_name)
        levels = _row_levels(found, where, row, covariates)
        run = _row_run(found, where, n, row, base, state)
        _row_strand(found, where, n, row, state)
        if len(found) > before:
            continue
        (state.paired if len(run) == 2 else state.single).append(n)
        sample = _sample_of(found, where, state, name, (group, group_name), levels)
        sample.rows.append(n)
        sample.runs.append(run)
    _across_rows(parsed, state)
    parsed.samples = list(state.by_name.values())


def _name_rule(found: list[str], where: str, value: str) -> None:
    if not value:
        found.append(f"{where}: is empty")
    elif not re.fullmatch(NAME_PATTERN, value):
        found.append(f"{where}: '{_shown(value)}' {NAME_RULE}")


def _fastq_uri(found: list[str], where: str, value: str, base: str | None) -> str | None:
    """The cell as a URI (relative to ``base``), or ``None`` with the problem recorded."""
    uri = value
    if "://" not in value and not value.startswith(("/", "file:")):
        if base is None:
            found.append(
                f"{where}: '{_shown(value)}' is a relative path: give a full URI or absolute "
                "path, or submit the sheet by uri (relative paths are then read from its folder)"
            )
            return None
        uri = posixpath.join(base.rstrip("/"), value)
    try:
        parse_uri(uri, field="")
    except GeneJobsError as err:
        found.append(f"{where}{err.message}")
        return None
    if not is_fastq_name(uri):
        found.append(f"{where}: '{_shown(value)}' {FASTQ_RULE}")
        return None
    return uri


def sheet_request(body: Any) -> SampleSheetRequest:
    """The ``samplesheet`` object of a body, or a ``ValidationError`` naming its fields."""
    import pydantic

    try:
        sheet = SampleSheetRequest.model_validate(body)
    except pydantic.ValidationError as err:
        lines = [f"samplesheet.{p}" for p in problems(err.errors())]
        raise ValidationError("; ".join(lines).replace("samplesheet.body", "samplesheet")) from None
    if (sheet.text is None) == (sheet.uri is None):
        raise ValidationError("samplesheet: give the sheet as text or as uri (exactly one)")
    if sheet.uri is not None and not sheet.uri.lower().endswith(SHEET_SUFFIXES):
        raise ValidationError(
            f"samplesheet.uri: '{_shown(sheet.uri)}' must name a .csv, .tsv or .txt file"
        )
    return sheet


# reads a sheet URI, at most MAX_SHEET_BYTES; raises ValidationError/NotFound/...
SheetReader = Callable[[str], str]


def read_sheet(body: Any, reader: SheetReader | None) -> ParsedSheet:
    """Parse the ``samplesheet`` object of a request (or of the sheet route)."""
    sheet = sheet_request(body)
    if sheet.text is not None:
        text, base = sheet.text, None
    else:
        assert sheet.uri is not None
        if reader is None:
            raise ValidationError("samplesheet.uri: cannot be read here: give the sheet as text")
        text, base = reader(sheet.uri), posixpath.dirname(sheet.uri.rstrip("/"))
    return parse_sheet(
        text,
        group_column=sheet.group_column,
        covariate_columns=sheet.covariate_columns or (),
        base=base,
    )


def decode_sheet(data: bytes, uri: str) -> str:
    """The bytes of a sheet read from storage as text, or a ``ValidationError``."""
    if len(data) > MAX_SHEET_BYTES:
        raise ValidationError(
            f"samplesheet.uri: '{_shown(uri)}' is larger than {MAX_SHEET_BYTES // 1024} KiB"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"samplesheet.uri: '{_shown(uri)}' is not UTF-8 text (byte {exc.start})"
        ) from None


def expand_samplesheet(
    body: Any, reader: SheetReader | None
) -> tuple[Any, Mapping[str, str], ParsedSheet | None]:
    """A body with ``samplesheet`` -> the same body with ``inputs`` (and ``library_type``).

    Returns the body to validate, the labels for messages, and the parsed sheet (None
    when the body has no sheet, which is then returned as it is).
    """
    if not isinstance(body, dict) or body.get("samplesheet") is None:
        if isinstance(body, dict) and "samplesheet" in body:  # null: as if absent
            body = {k: v for k, v in body.items() if k != "samplesheet"}
        return body, {}, None
    if "inputs" in body:
        raise ValidationError(
            "inputs: not allowed with samplesheet (the sheet gives the samples and groups)"
        )
    if body.get("counts"):
        raise ValidationError("samplesheet: not allowed with counts (a counts table has no reads)")
    parsed = read_sheet(body["samplesheet"], reader)
    found = list(parsed.problems)
    expanded = {k: v for k, v in body.items() if k != "samplesheet"}
    declared = body.get("library_type")
    if parsed.library_type is not None:
        if declared is not None and declared != parsed.library_type:
            found.append(
                f"library_type: '{_shown(str(declared))}', but the samplesheet's strandedness "
                f"means '{parsed.library_type}': give one, or make them agree"
            )
        expanded["library_type"] = parsed.library_type
    if found:
        raise ValidationError("; ".join(found))
    expanded["inputs"] = parsed.inputs()
    return expanded, parsed.labels(), parsed


def relabel(message: str, labels: Mapping[str, str]) -> str:
    """Rewrite each ``path: rule`` problem of ``message`` to name the sheet's place.

    The longest labelled prefix of the path wins; prefixes are looked up, never scanned
    (a sheet of 10,000 rows has tens of thousands of labels).
    """
    if not labels:
        return message
    out = []
    for problem in message.split("; "):
        path, sep, rule = problem.partition(": ")
        cuts = [i for i, ch in enumerate(path) if ch in ".["] + [len(path)]
        best = next((path[:i] for i in reversed(cuts) if path[:i] in labels), None)
        if best is not None and sep:
            rest = path[len(best) :].lstrip(".")
            problem = f"{labels[best]}{', ' + rest if rest else ''}: {rule}"
        out.append(problem)
    return "; ".join(out)
