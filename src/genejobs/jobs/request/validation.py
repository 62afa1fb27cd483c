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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydantic

from genejobs.errors import Unsupported, ValidationError
from genejobs.jobs.request.notify_rules import NotifyPolicy
from genejobs.jobs.request.samplesheet import SheetReader, expand_samplesheet, relabel
from genejobs.jobs.request.schema import (
    JOB_TYPE_RNA_DIFF_EXPR,
    SampleRequest,
    SubmitRequest,
    problems,
)
from genejobs.jobs.request.spec import (
    RnaDiffExprSpec,
    artifacts_folder,
    covariate_names,
    spec_from_model,
    stored_sample_files,
)
from genejobs.pipeline.de import MIN_RESIDUAL_DF, design_formula, design_matrix
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
    # inputs has a default only so a samplesheet can stand in for it; a sheet has become
    # inputs before this (expand_samplesheet), so here inputs are always required
    missing = isinstance(body, dict) and "inputs" not in body
    needed = ["inputs: is required (or give a samplesheet)"] if missing else []
    try:
        req = SubmitRequest.model_validate(body)
    except pydantic.ValidationError as err:
        raise ValidationError("; ".join(needed + problems(err.errors()))) from None
    if needed:
        raise ValidationError(needed[0])
    return req


def sample_files(sample: SampleRequest, spath: str) -> list[tuple[str, str]]:
    """(field path, URI) of every FASTQ a sample names: ``files[k]`` or ``runs[r][k]``."""
    return stored_sample_files({"files": sample.files, "runs": sample.runs}, spath)


def _reads_of(req: SubmitRequest, sample: SampleRequest, spath: str) -> tuple[list[str], str]:
    """Problems with how a sample gives its reads, and its layout: paired, single or ''."""
    if req.counts:
        if sample.files is not None or sample.runs is not None:
            key = "files" if sample.files is not None else "runs"
            return [f"{spath}.{key}: not allowed with counts (the job reads the counts table)"], ""
        return [], ""
    if sample.files is not None and sample.runs is not None:
        return [f"{spath}: give files (one paired run) or runs, not both"], ""
    if sample.files is None and sample.runs is None:
        return [f"{spath}.files: is required (or runs, or a counts table: counts)"], ""
    if sample.runs is None:
        return [], "paired"
    sizes = {len(run) for run in sample.runs}
    if len(sizes) > 1:
        return [
            f"{spath}.runs: mixes paired runs ([read 1, read 2]) and single-end runs ([read]), but "
            "a job is single-end or paired as a whole"
        ], ""
    return [], "paired" if sizes == {2} else "single"


def _names_and_files(req: SubmitRequest) -> list[str]:
    found: list[str] = []
    groups: set[str] = set()
    samples: set[str] = set()
    files: dict[str, str] = {}
    layouts: dict[str, list[str]] = {"paired": [], "single": []}
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
            wrong, layout = _reads_of(req, sample, spath)
            found += wrong
            if wrong:
                continue
            if layout:
                layouts[layout].append(sample.sample_name)
            if sample.files is not None and sample.files[0] == sample.files[1]:
                found.append(f"{spath}.files: read 1 and read 2 must be different files")
                continue
            for path, uri in sample_files(sample, spath):
                if uri in files:
                    other = files[uri]
                    found.append(
                        f"{path}: '{uri}' is also {other.removeprefix(spath + '.')} of this sample"
                        if other.startswith(spath + ".")
                        else f"{path}: '{uri}' is already used by another sample"
                    )
                    continue
                files[uri] = path
    if layouts["paired"] and layouts["single"]:
        found.append(
            "inputs: a job is single-end or paired as a whole, but samples "
            f"{_some(layouts['single'])} are single-end and {_some(layouts['paired'])} paired"
        )
    return found


def _some(names: list[str], shown: int = 8) -> str:
    head = ", ".join(names[:shown])
    return head + (f" and {len(names) - shown} more" if len(names) > shown else "")


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
    if req.counts and req.ref is None and req.gtf is None:
        return []  # a counts table needs no reference; gene names then come from the table
    missing = [f"{k}: is required" for k in ("ref", "gtf") if getattr(req, k) is None]
    if missing:
        why = " (with counts, give both or neither)" if req.counts else ""
        return [m + why for m in missing]
    assert req.ref is not None and req.gtf is not None
    if req.ref not in references:
        names = ", ".join(sorted(references)) or "none registered"
        return [f"ref: '{req.ref}' is not a registered reference (available: {names})"]
    if req.gtf not in references[req.ref]:
        names = ", ".join(sorted(references[req.ref])) or "none"
        return [
            f"gtf: '{req.gtf}' is not registered for reference '{req.ref}' (available: {names})"
        ]
    return []


def _counts_rules(req: SubmitRequest) -> list[str]:
    """A counts-table job has no reads: nothing to trim, align or check."""
    if not req.counts:
        return []
    found = []
    if req.is_export_qc:
        found.append("is_export_qc: QC needs reads, and a job from a counts table has none")
    if req.adapt:
        found.append("adapt: a job from a counts table has no reads to trim")
    if req.quantifier != "genome":
        found.append("quantifier: a job from a counts table has no reads to quantify")
    return found


@dataclass(frozen=True)
class _DesignSample:
    """One sample as the design sees it: where it is in the request, and its group."""

    path: str  # "inputs[0].group_inputs[1]"
    group: str
    covariates: Mapping[str, object]


def _covariate_key_problems(samples: list[_DesignSample], names: list[str]) -> list[str]:
    """Every sample carries the same covariates, none of them called 'group'."""
    found: list[str] = []
    for s in samples:
        have = list(s.covariates.keys())
        spath = f"{s.path}.covariates"
        missing = [n for n in names if n not in have]
        extra = [n for n in have if n not in names]
        if missing:
            found.append(
                f"{spath}: missing {', '.join(repr(n) for n in missing)} (every sample must "
                f"carry the same covariates: {', '.join(names)})"
            )
        if extra:
            found.append(
                f"{spath}: {', '.join(repr(n) for n in extra)} is not on every sample (every "
                f"sample must carry the same covariates: {', '.join(names)})"
            )
        if "group" in have:
            found.append(f"{spath}.group: 'group' is the groups' own factor: rename the covariate")
    return found


def _informative_covariates(
    names: list[str], columns: dict[str, list[str]], groups: list[str], found: list[str]
) -> list[str]:
    """The covariates that can explain something: more than one level, and not
    confounded with the groups (a problem in ``found`` for each other one)."""
    usable = []
    for n in names:
        levels = list(dict.fromkeys(columns[n]))
        if len(levels) < 2:
            found.append(
                f"covariates.{n}: has one level ('{levels[0]}') on every sample, so it "
                "explains nothing: drop it"
            )
            continue
        by_level: dict[str, set[str]] = {}
        for level, group in zip(columns[n], groups, strict=True):
            by_level.setdefault(level, set()).add(group)
        if all(len(gs) == 1 for gs in by_level.values()):
            pairs = ", ".join(f"{lv} → {next(iter(gs))}" for lv, gs in by_level.items())
            found.append(
                f"covariates.{n}: {n} is confounded with group (each {n} holds one group "
                f"only: {pairs}), so the groups cannot be told apart from the {n} effect"
            )
            continue
        usable.append(n)
    return usable


def _rank_problems(
    groups: list[str], columns: dict[str, list[str]], usable: list[str]
) -> list[str]:
    """The design is of full rank, block by block, and leaves the residual degrees of
    freedom dispersions need."""
    found: list[str] = []
    design = design_matrix(groups, [(n, columns[n]) for n in usable])
    formula = design_formula(usable)
    rank = 1
    for name, block in design.blocks[1:]:
        rank = int(np.linalg.matrix_rank(design.matrix[:, : block.stop]))
        if rank < block.stop:
            found.append(
                f"covariates.{name}: the design {formula} is not of full rank: {name} is a "
                "combination of the covariates before it (e.g. nested in another): drop it"
                if name != "group"
                else f"covariates: the design {formula} is not of full rank: the groups are a "
                "combination of the covariates together: drop one of them"
            )
            return found
    residual = len(groups) - rank
    if residual < MIN_RESIDUAL_DF:
        found.append(
            f"covariates: the design {formula} has {rank} coefficients for "
            f"{len(groups)} samples, leaving {residual} residual degrees of freedom "
            f"(at least {MIN_RESIDUAL_DF} needed to estimate dispersions): add samples or "
            "drop a covariate"
        )
    return found


def design_problems(req: SubmitRequest) -> list[str]:
    """The design ``~ <covariates> + group`` must be estimable, each problem naming its field.

    Checked at the door because pydeseq2 would fail (or answer nonsense) hours later on
    a singular design: covariates missing on some samples, a covariate with one level,
    a covariate confounded with the groups, a design not of full rank, too few
    residual degrees of freedom to estimate dispersions.
    """
    samples = [
        _DesignSample(f"inputs[{gi}].group_inputs[{si}]", g.group_name, s.covariates or {})
        for gi, g in enumerate(req.inputs)
        for si, s in enumerate(g.group_inputs)
    ]
    names = covariate_names(req)
    if not names:
        return []
    found = _covariate_key_problems(samples, names)
    if found:
        return found
    groups = [s.group for s in samples]
    columns = {n: [str(s.covariates[n]) for s in samples] for n in names}
    usable = _informative_covariates(names, columns, groups, found)
    if found:
        return found
    return _rank_problems(groups, columns, usable)


def test_problems(req: SubmitRequest) -> list[str]:
    """The test and its designs: interactions of known factors, an LRT's reduced design
    nested in (a part of) the full one, the named coefficient a column of the design.

    Checked at the door because the statistics step would otherwise fail after the reads
    were processed.
    """
    found: list[str] = []
    names = covariate_names(req)
    factors = [*names, "group"]
    interactions = list(req.interactions or [])
    for i, term in enumerate(interactions):
        a, b = term.split(":")
        unknown = [f for f in (a, b) if f not in factors]
        if unknown:
            found.append(
                f"interactions[{i}]: {', '.join(repr(f) for f in unknown)} is not a factor of "
                f"the design (covariates: {', '.join(names) or 'none'}; and 'group')"
            )
        elif a == b or interactions.index(term) != i or f"{b}:{a}" in interactions[:i]:
            found.append(f"interactions[{i}]: '{term}' repeats a factor or another interaction")
    if req.test == "Wald":
        for field in ("reduced", "coefficient"):
            if getattr(req, field) is not None:
                found.append(f"{field}: only for test 'LRT' (the test is 'Wald')")
        return found
    terms = [*factors, *interactions]
    if req.reduced is None:
        found.append(
            "reduced: test 'LRT' needs the reduced design's terms, e.g. "
            f"{[t for t in terms if t != 'group']} to test the groups"
        )
        return found
    outside = [t for t in req.reduced if t not in terms]
    if outside:
        found.append(
            f"reduced: {', '.join(repr(t) for t in outside)} is not a term of the full design "
            f"{design_formula(names, interactions)}: the reduced design must be nested in it"
        )
    elif set(req.reduced) >= set(terms):
        found.append(
            f"reduced: has every term of the full design {design_formula(names, interactions)}; "
            "leave out at least one (the terms tested)"
        )
    if req.shrink or req.lfc_threshold > 0:
        found.append("test: 'LRT' has no shrinkage or lfc_threshold: use test 'Wald' for those")
    if found or design_problems(req):
        return found
    samples = [(g.group_name, s) for g in req.inputs for s in g.group_inputs]
    levels = [(n, [str((s.covariates or {})[n]) for _, s in samples]) for n in names]
    design = design_matrix([g for g, _ in samples], levels, interactions=interactions)
    if np.linalg.matrix_rank(design.matrix) < design.matrix.shape[1]:
        found.append(
            f"interactions: the design {design_formula(names, interactions)} is not of full "
            "rank (some combination of levels has no sample): drop an interaction"
        )
    elif len(samples) - design.matrix.shape[1] < MIN_RESIDUAL_DF:
        found.append(
            f"interactions: the design {design_formula(names, interactions)} leaves no "
            "residual degrees of freedom to estimate dispersions: add samples"
        )
    if req.coefficient is not None and req.coefficient not in design.columns:
        found.append(
            f"coefficient: '{req.coefficient}' is not a column of the design "
            f"({', '.join(design.columns[1:])})"
        )
    return found


def cross_field_problems(
    req: SubmitRequest,
    references: Mapping[str, Sequence[str]],
    notify_policy: NotifyPolicy | None = None,
) -> list[str]:
    """Rules between fields and against the server's registry and settings, each naming its field."""
    found = _names_and_files(req) + _comparisons(req) + _references(req, references)
    found += design_problems(req) + test_problems(req) + _counts_rules(req)
    found += (notify_policy or NotifyPolicy()).problems(req.notify)
    if req.is_export_qc and not req.bed and not req.counts:
        found.append("bed: is required when is_export_qc is true")
    uris = [u for g in req.inputs for s in g.group_inputs for _, u in sample_files(s, "")]
    uris += [req.output] + [u for u in (req.bed, req.gene_sets, req.counts) if u]
    if not is_same_bucket(uris):
        found.append("inputs: all input and output files of a job must be in the same bucket")
    return found


def validate_request(
    body: Any,
    *,
    job_id: str,
    references: Mapping[str, Sequence[str]],
    notify_policy: NotifyPolicy | None = None,
    read_sheet: SheetReader | None = None,
    labels: Mapping[str, str] | None = None,
) -> tuple[RnaDiffExprSpec, dict[str, Any]]:
    """Return the typed spec and the request to store (the body with ``output`` resolved).

    A body with a ``samplesheet`` is first turned into one with ``inputs`` (the sheet
    read by ``read_sheet`` when given by URI); what is stored is that request, and
    problems in the samples it made name the sheet's rows.
    """
    body, sheet_labels, _sheet = expand_samplesheet(body, read_sheet)
    labels = {**(labels or {}), **sheet_labels}  # (labels: a sheet the caller expanded)
    try:
        req = parse_request(body)
        found = cross_field_problems(req, references, notify_policy)
        if found:
            raise ValidationError("; ".join(found))
    except ValidationError as err:
        raise ValidationError(relabel(err.message, labels)) from None
    stored = copy.deepcopy(body)
    table_uri, _ = artifacts_folder(req.output, job_id)
    stored["output"] = table_uri
    return spec_from_model(req.model_copy(update={"output": table_uri}), job_id=job_id), stored
