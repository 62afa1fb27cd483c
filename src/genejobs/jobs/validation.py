"""Validate a submitted RNA_DIFF_EXPR request at the door, with the contract's rules.

Every violation is a ``ValidationError`` whose message starts with the field
path (``inputs[1].group_inputs[0].files``) and says the rule.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from genejobs.errors import Unsupported, ValidationError
from genejobs.jobs.spec import (
    JOB_TYPE_RNA_DIFF_EXPR,
    RnaDiffExprSpec,
    artifacts_folder,
    spec_from_request,
)
from genejobs.storage import parse_uri
from genejobs.storage.store import is_same_bucket

NAME_RULE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,127}$")
ADAPTER_RULE = re.compile(r"^[ACGTNacgtn]+$")
LIBRARY_TYPES = ("fr-unstranded", "fr-firststrand", "fr-secondstrand", "auto")
TOP_FIELDS = {
    "job_type",
    "inputs",
    "output",
    "adapt",
    "ref",
    "gtf",
    "is_export_qc",
    "bed",
    "library_type",
    "comparisons",
    "gene_sets",
}
GROUP_FIELDS = {"group_name", "group_inputs"}
SAMPLE_FIELDS = {"sample_name", "files"}
COMPARISON_FIELDS = {"control", "treatment"}


def _fail(path: str, rule: str) -> ValidationError:
    return ValidationError(f"{path}: {rule}")


def _object(value: Any, path: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path or "body", "must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise _fail(where, f"unknown field (allowed: {', '.join(sorted(allowed))})")
    return value


def _string(obj: dict[str, Any], key: str, path: str, *, required: bool) -> str | None:
    full = f"{path}.{key}" if path else key
    if key not in obj or obj[key] is None:
        if required:
            raise _fail(full, "is required")
        return None
    if not isinstance(obj[key], str):
        raise _fail(full, "must be a string")
    return obj[key]


def _name(obj: dict[str, Any], key: str, path: str) -> str:
    value = _string(obj, key, path, required=True)
    assert value is not None
    if not NAME_RULE.match(value):
        raise _fail(
            f"{path}.{key}",
            "must start with a letter, then letters, digits, '_' or '-', 1-128 characters",
        )
    return value


def _uri(value: str, path: str) -> str:
    parse_uri(value, field=path)
    return value


def validate_request(
    body: Any, *, job_id: str, references: Mapping[str, Sequence[str]]
) -> tuple[RnaDiffExprSpec, dict[str, Any]]:
    """Return the typed spec and the request to store (``output`` resolved)."""
    req = _object(body, "", TOP_FIELDS)
    job_type = _string(req, "job_type", "", required=True)
    if job_type != JOB_TYPE_RNA_DIFF_EXPR:
        raise Unsupported(
            f"job_type: '{job_type}' is not supported (supported: {JOB_TYPE_RNA_DIFF_EXPR})"
        )
    inputs = req.get("inputs")
    if not isinstance(inputs, list):
        raise _fail("inputs", "is required and must be an array of groups")
    if len(inputs) < 2:
        raise _fail("inputs", "at least two groups are required (e.g. treated and control)")
    group_names: set[str] = set()
    sample_names: set[str] = set()
    all_files: list[str] = []
    for gi, group in enumerate(inputs):
        gpath = f"inputs[{gi}]"
        g = _object(group, gpath, GROUP_FIELDS)
        gname = _name(g, "group_name", gpath)
        if gname in group_names:
            raise _fail(f"{gpath}.group_name", f"'{gname}' is used by another group")
        group_names.add(gname)
        samples = g.get("group_inputs")
        if not isinstance(samples, list):
            raise _fail(f"{gpath}.group_inputs", "is required and must be an array of samples")
        if len(samples) < 2:
            raise _fail(f"{gpath}.group_inputs", "at least two samples per group are required")
        for si, sample in enumerate(samples):
            spath = f"{gpath}.group_inputs[{si}]"
            s = _object(sample, spath, SAMPLE_FIELDS)
            sname = _name(s, "sample_name", spath)
            if sname in sample_names:
                raise _fail(f"{spath}.sample_name", f"'{sname}' is used by another sample")
            sample_names.add(sname)
            files = s.get("files")
            fpath = f"{spath}.files"
            if (
                not isinstance(files, list)
                or len(files) != 2
                or not all(isinstance(f, str) and f.endswith(".fastq.gz") for f in files)
            ):
                raise _fail(fpath, "exactly two .fastq.gz files are required (read 1, then read 2)")
            if files[0] == files[1]:
                raise _fail(fpath, "read 1 and read 2 must be different files")
            for k, f in enumerate(files):
                _uri(f, f"{fpath}[{k}]")
                if f in all_files:
                    raise _fail(f"{fpath}[{k}]", f"'{f}' is already used by another sample")
                all_files.append(f)
    output = _string(req, "output", "", required=True)
    assert output is not None
    _uri(output, "output")
    adapt = _string(req, "adapt", "", required=False)
    if adapt and not ADAPTER_RULE.match(adapt):
        raise _fail("adapt", "must be a DNA sequence of the letters A, C, G, T or N")
    ref = _string(req, "ref", "", required=True)
    gtf = _string(req, "gtf", "", required=True)
    if ref not in references:
        names = ", ".join(sorted(references)) or "none registered"
        raise _fail("ref", f"'{ref}' is not a registered reference (available: {names})")
    if gtf not in references[ref]:
        names = ", ".join(sorted(references[ref])) or "none"
        raise _fail("gtf", f"'{gtf}' is not registered for reference '{ref}' (available: {names})")
    qc = req.get("is_export_qc", False)
    if not isinstance(qc, bool):
        raise _fail("is_export_qc", "must be a boolean")
    bed = _string(req, "bed", "", required=bool(qc))
    if bed is not None:
        _uri(bed, "bed")
    library_type = _string(req, "library_type", "", required=False) or "fr-unstranded"
    if library_type not in LIBRARY_TYPES:
        raise _fail("library_type", f"must be one of {', '.join(LIBRARY_TYPES)}")
    comparisons = req.get("comparisons")
    if comparisons is not None:
        if not isinstance(comparisons, list) or not comparisons:
            raise _fail("comparisons", "must be a non-empty array of {control, treatment}")
        seen = set()
        for ci, comp in enumerate(comparisons):
            cpath = f"comparisons[{ci}]"
            c = _object(comp, cpath, COMPARISON_FIELDS)
            pair = []
            for key in ("control", "treatment"):
                value = _string(c, key, cpath, required=True)
                if value not in group_names:
                    raise _fail(
                        f"{cpath}.{key}",
                        f"'{value}' is not one of the groups ({', '.join(sorted(group_names))})",
                    )
                pair.append(value)
            if pair[0] == pair[1]:
                raise _fail(cpath, "control and treatment must be different groups")
            if tuple(pair) in seen:
                raise _fail(cpath, "this comparison is listed twice")
            seen.add(tuple(pair))
    gene_sets = _string(req, "gene_sets", "", required=False)
    if gene_sets is not None:
        _uri(gene_sets, "gene_sets")
    uris = all_files + [output] + [u for u in (bed, gene_sets) if u]
    if not is_same_bucket(uris):
        raise _fail("inputs", "all input and output files of a job must be in the same bucket")
    stored = copy.deepcopy(req)
    table_uri, _ = artifacts_folder(output, job_id)
    stored["output"] = table_uri
    return spec_from_request(stored, job_id=job_id), stored
