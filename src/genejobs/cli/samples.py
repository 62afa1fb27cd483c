"""The CLI's sample sheets: ``submit --samplesheet`` and ``samplesheet PREFIX``.

``samplesheet PREFIX`` lists a storage folder through the API, pairs its FASTQ files by
name (Illumina lanes, _R1/_R2, _1/_2; ``genejobs.jobs.request.fastq_names``) and writes
an nf-core/rnaseq sheet with a guessed ``condition`` column to edit; every file it could
not place is printed with the reason. ``submit --samplesheet sheet.csv`` sends the sheet
as the request's ``samplesheet`` (the server parses it: one parser for every door).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any

from genejobs.jobs.request.fastq_names import pair_files

URI_SCHEMES = ("s3a://", "s3://", "obs://", "file:")


def add_submit_options(submit: argparse.ArgumentParser) -> None:
    """``submit``'s options for a request made from a sample sheet (and a dry run)."""
    g = submit.add_argument_group("a request from a sample sheet (nf-core/rnaseq format)")
    g.add_argument(
        "--samplesheet",
        metavar="SHEET",
        help="sample,fastq_1,fastq_2,strandedness + a condition/group column (CSV or TSV): a "
        "local file (sent as text) or a storage URI the service reads",
    )
    g.add_argument("--group-column", help="the sheet's group column (default: condition, group)")
    g.add_argument(
        "--covariate-column",
        action="append",
        default=[],
        metavar="COLUMN",
        help="a sheet column that is a covariate (repeatable)",
    )
    g.add_argument("--ref", help="reference name (genejobs ref list)")
    g.add_argument("--gtf", help="annotation of that reference")
    g.add_argument("--output", help="output folder or .csv path")
    g.add_argument("--library-type", help="default: the sheet's strandedness, else fr-unstranded")
    g.add_argument("--adapt", help="adapter sequence to trim")
    g.add_argument("--name", help="a name for the job")
    g.add_argument("--quantifier", choices=["genome", "transcripts"])
    g.add_argument("--bed", help="gene-model BED: turns on QC (is_export_qc)")
    submit.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything and print the samples and file checks; submit nothing",
    )


def sheet_body(value: str, args: argparse.Namespace) -> dict[str, Any]:
    """The request's ``samplesheet`` object: a local file's text, or a URI."""
    sheet: dict[str, Any]
    path = Path(value)
    if not value.startswith(URI_SCHEMES) and path.is_file():
        try:
            sheet = {"text": path.read_text(encoding="utf-8-sig")}
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemExit(f"error: cannot read {value}: {exc}") from None
    else:
        sheet = {"uri": value}
    if args.group_column:
        sheet["group_column"] = args.group_column
    if args.covariate_column:
        sheet["covariate_columns"] = args.covariate_column
    return sheet


def request_from_args(args: argparse.Namespace, request: dict[str, Any] | None) -> dict[str, Any]:
    """The request file (if any) with the command line's sheet and settings over it."""
    body: dict[str, Any] = dict(request or {"job_type": "RNA_DIFF_EXPR"})
    if args.samplesheet:
        body.pop("inputs", None)
        body["samplesheet"] = sheet_body(args.samplesheet, args)
    for key, value in (
        ("ref", args.ref),
        ("gtf", args.gtf),
        ("output", args.output),
        ("library_type", args.library_type),
        ("adapt", args.adapt),
        ("name", args.name),
        ("quantifier", args.quantifier),
        ("bed", args.bed),
    ):
        if value is not None:
            body[key] = value
    if args.bed:
        body["is_export_qc"] = True
    return body


def print_dry_run(answer: dict[str, Any]) -> int:
    """The dry run as a person reads it; exit 1 when a file check found a problem."""
    samples = answer["samples"]
    groups = list(dict.fromkeys(s["group_name"] for s in samples))
    print(f"{len(samples)} samples in {len(groups)} groups ({', '.join(groups)})")
    for s in samples:
        runs = s["runs"]
        kind = "single-end" if runs and len(runs[0]) == 1 else "paired"
        print(f"  {s['sample_name']:<24} {s['group_name']:<12} {len(runs)} run(s), {kind}")
    lt = answer.get("request", {}).get("library_type", "fr-unstranded")
    print(f"library_type: {lt}")
    if answer.get("estimate_ms") is not None:
        print(f"estimated run time: {answer['estimate_ms'] / 60000:.1f} min")
    for line in answer.get("read_warnings", []):
        print(f"warning: {line}", file=sys.stderr)
    for line in answer.get("read_problems", []):
        print(f"problem: {line}", file=sys.stderr)
    if answer.get("reads_ok"):
        print("every file's head looks right")
        return 0
    return 1


def cmd_samplesheet(args: argparse.Namespace, client: Any) -> int:
    """List PREFIX through the API, pair its FASTQ files, write a sheet; name every orphan."""
    uris: list[str] = []
    marker: str | None = None
    while True:
        page = client.files(args.project, args.prefix, marker=marker)
        uris += [f["uri"] for f in page["files"]]
        marker = page.get("next_marker")
        if not marker:
            break
    found = pair_files(uris, single_end=args.single_end)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["sample", "fastq_1", "fastq_2", "strandedness", args.group_column])
    for sample in found.samples:
        for run in sample.runs:
            r2 = run[1] if len(run) > 1 else ""
            writer.writerow([sample.name, run[0], r2, args.strandedness, sample.group])
    if args.output and args.output != "-":
        Path(args.output).write_text(out.getvalue())
    else:
        sys.stdout.write(out.getvalue())
    runs = sum(len(s.runs) for s in found.samples)
    print(
        f"{len(found.samples)} samples ({runs} runs) from {len(uris)} files; the "
        f"'{args.group_column}' column is a guess from the names: edit it",
        file=sys.stderr,
    )
    for orphan in found.orphans:
        print(f"not used: {orphan.uri}: {orphan.reason}", file=sys.stderr)
    return 0 if found.samples else 1


def add_samplesheet_command(sub: Any, client_opts: Any, func: Any) -> None:
    sp = sub.add_parser(
        "samplesheet",
        help="pair the FASTQ files of a storage folder into an nf-core/rnaseq sample sheet",
    )
    sp.add_argument("prefix", help="a folder the service may read, e.g. s3a://lab/run42/")
    sp.add_argument("-o", "--output", help="file to write (default: stdout)")
    sp.add_argument("--single-end", action="store_true", help="one file per run")
    sp.add_argument("--group-column", default="condition", help="name of the group column")
    sp.add_argument(
        "--strandedness",
        default="auto",
        choices=["auto", "unstranded", "forward", "reverse"],
        help="written on every row (default auto)",
    )
    client_opts(sp)
    sp.set_defaults(func=func)
