"""Validate a submitted RNA_DIFF_EXPR request at the door, with the contract's rules.

The request's shape, types and bounds are ``genejobs.jobs.request.SubmitRequest``
(the same schema the OpenAPI document shows); this module adds what needs more
than one field or the server's state: unique names and files, comparisons that
name real groups, ``bed`` with QC, one bucket, registered references. Every
problem becomes one line of one ``ValidationError`` naming the field path, all
problems at once.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

from genejobs.errors import Unsupported, ValidationError
from genejobs.jobs.notify import NotifyPolicy
from genejobs.jobs.request import JOB_TYPE_RNA_DIFF_EXPR, SubmitRequest, problems
from genejobs.jobs.spec import RnaDiffExprSpec, artifacts_folder, spec_from_model
from genejobs.storage.store import is_same_bucket


def parse_request(body: Any) -> SubmitRequest:
    """The typed request, or a ``ValidationError`` listing every field problem."""
    if isinstance(body, dict):
        job_type = body.get("job_type")
        if isinstance(job_type, str) and job_type != JOB_TYPE_RNA_DIFF_EXPR:
            raise Unsupported(
                f"job_type: '{job_type[:64]}' is not supported "
                f"(supported: {JOB_TYPE_RNA_DIFF_EXPR})"
            )
    try:
        return SubmitRequest.model_validate(body)
    except pydantic.ValidationError as err:
        raise ValidationError("; ".join(problems(err.errors()))) from None


def _names_and_files(req: SubmitRequest) -> list[str]:
    found: list[str] = []
    groups: set[str] = set()
    samples: set[str] = set()
    files: set[str] = set()
    for gi, group in enumerate(req.inputs):
        if group.group_name in groups:
            found.append(f"inputs[{gi}].group_name: '{group.group_name}' is used by another group")
        groups.add(group.group_name)
        for si, sample in enumerate(group.group_inputs):
            spath = f"inputs[{gi}].group_inputs[{si}]"
            if sample.sample_name in samples:
                found.append(
                    f"{spath}.sample_name: '{sample.sample_name}' is used by another sample"
                )
            samples.add(sample.sample_name)
            if sample.files[0] == sample.files[1]:
                found.append(f"{spath}.files: read 1 and read 2 must be different files")
                continue
            for k, uri in enumerate(sample.files):
                if uri in files:
                    found.append(f"{spath}.files[{k}]: '{uri}' is already used by another sample")
                files.add(uri)
    return found


def _comparisons(req: SubmitRequest) -> list[str]:
    found: list[str] = []
    groups = [g.group_name for g in req.inputs]
    seen: set[tuple[str, str]] = set()
    for ci, comp in enumerate(req.comparisons or ()):
        cpath = f"comparisons[{ci}]"
        for key, value in (("control", comp.control), ("treatment", comp.treatment)):
            if value not in groups:
                found.append(
                    f"{cpath}.{key}: '{value}' is not one of the groups ({', '.join(groups)})"
                )
        if comp.control == comp.treatment:
            found.append(f"{cpath}: control and treatment must be different groups")
        elif (comp.control, comp.treatment) in seen:
            found.append(f"{cpath}: this comparison is listed twice")
        seen.add((comp.control, comp.treatment))
    return found


def _references(req: SubmitRequest, references: Mapping[str, Sequence[str]]) -> list[str]:
    if req.ref not in references:
        names = ", ".join(sorted(references)) or "none registered"
        return [f"ref: '{req.ref}' is not a registered reference (available: {names})"]
    if req.gtf not in references[req.ref]:
        names = ", ".join(sorted(references[req.ref])) or "none"
        return [
            f"gtf: '{req.gtf}' is not registered for reference '{req.ref}' (available: {names})"
        ]
    return []


def cross_field_problems(
    req: SubmitRequest,
    references: Mapping[str, Sequence[str]],
    notify_policy: NotifyPolicy | None = None,
) -> list[str]:
    """Rules between fields and against the server's registry and settings, each naming its field."""
    found = _names_and_files(req) + _comparisons(req) + _references(req, references)
    found += (notify_policy or NotifyPolicy()).problems(req.notify)
    if req.is_export_qc and not req.bed:
        found.append("bed: is required when is_export_qc is true")
    uris = [f for g in req.inputs for s in g.group_inputs for f in s.files]
    uris += [req.output] + [u for u in (req.bed, req.gene_sets) if u]
    if not is_same_bucket(uris):
        found.append("inputs: all input and output files of a job must be in the same bucket")
    return found


def validate_request(
    body: Any,
    *,
    job_id: str,
    references: Mapping[str, Sequence[str]],
    notify_policy: NotifyPolicy | None = None,
) -> tuple[RnaDiffExprSpec, dict[str, Any]]:
    """Return the typed spec and the request to store (the body with ``output`` resolved)."""
    req = parse_request(body)
    found = cross_field_problems(req, references, notify_policy)
    if found:
        raise ValidationError("; ".join(found))
    stored = copy.deepcopy(body)
    table_uri, _ = artifacts_folder(req.output, job_id)
    stored["output"] = table_uri
    return spec_from_model(req.model_copy(update={"output": table_uri}), job_id=job_id), stored
