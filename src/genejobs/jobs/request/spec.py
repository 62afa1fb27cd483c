"""The typed spec of an RNA_DIFF_EXPR job: what the runner works from.

``genejobs.jobs.validation.validate_request`` checks a submitted body against the
request schema (``genejobs.jobs.request.schema``) and builds this spec from it; the runner
rebuilds it from the stored request (the submitted JSON with ``output`` resolved)
with ``spec_from_request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genejobs.jobs.request.schema import (
    JOB_TYPE_RNA_DIFF_EXPR,
    ComparisonRequest,
    GroupRequest,
    SampleRequest,
    SubmitRequest,
)
from genejobs.pipeline.records import LibraryType, ReadRun, SampleSpec

__all__ = ["JOB_TYPE_RNA_DIFF_EXPR", "RnaDiffExprSpec", "spec_from_model", "spec_from_request"]


@dataclass(frozen=True)
class GroupSpec:
    name: str
    samples: tuple[SampleSpec, ...]


@dataclass(frozen=True)
class Comparison:
    control: str
    treatment: str

    @property
    def label(self) -> str:
        return f"{self.treatment}_vs_{self.control}"


@dataclass(frozen=True)
class RnaDiffExprSpec:
    """Everything the runner needs; built from a request or from its stored JSON."""

    groups: tuple[GroupSpec, ...]
    output: str  # as stored: the table's path (folder outputs resolved to <folder>/<job_id>.csv)
    table_uri: str  # where the DE table goes (contract: Output)
    artifacts_uri: str  # <output>/<job_id>/ folder for counts, QC, report
    ref: str | None  # None only for a job from a counts table
    gtf: str | None
    library_type: LibraryType | None = LibraryType.UNSTRANDED  # None = "auto"
    adapter: str | None = None
    is_export_qc: bool = False
    bed: str | None = None
    comparisons: tuple[Comparison, ...] = ()
    gene_sets: str | None = None
    name: str | None = None  # the job's display name, if the request gave one
    quantifier: str = "genome"  # "genome" (align + count) or "transcripts" (salmon)
    # -- statistics additions (issue 18) --
    covariates: tuple[str, ...] = ()  # names, in the design's order
    shrink: bool = False
    lfc_threshold: float = 0.0
    counts: str | None = None  # a counts table instead of reads
    interactions: tuple[str, ...] = ()  # "a:b" terms after the groups
    test: str = "Wald"  # or "LRT"
    reduced: tuple[str, ...] = ()  # the LRT's reduced design's terms
    coefficient: str | None = None  # the column whose fold changes an LRT reports

    @property
    def samples(self) -> tuple[SampleSpec, ...]:
        return tuple(s for g in self.groups for s in g.samples)

    def covariate_levels(self) -> list[tuple[str, dict[str, str]]]:
        """(name, sample -> level) per covariate, in the design's order."""
        return [(n, {s.name: s.covariate(n) for s in self.samples}) for n in self.covariates]


def artifacts_folder(output: str, job_id: str) -> tuple[str, str]:
    """Resolve the contract's Output rule: (table URI, artifacts folder URI).

    ``.../x.csv`` is the table itself and artifacts go beside it in ``<job_id>/``;
    any other output is a folder holding ``<job_id>.csv`` and ``<job_id>/``.
    """
    base = output.rstrip("/")
    if base.lower().endswith(".csv"):
        parent = base.rsplit("/", 1)[0]
        return base, f"{parent}/{job_id}"
    return f"{base}/{job_id}.csv", f"{base}/{job_id}"


def spec_from_request(request: Mapping[str, Any], *, job_id: str) -> RnaDiffExprSpec:
    """Rebuild the spec from a stored (already validated, output resolved) request.

    The request was checked when it was submitted; it is not checked again, so a job
    queued before an upgrade that tightened a rule still runs as it was accepted.
    """
    return spec_from_model(stored_request(request), job_id=job_id)


def stored_request(request: Mapping[str, Any]) -> SubmitRequest:
    """The typed request of a stored body, built without validation (see above)."""
    groups = [
        GroupRequest.model_construct(
            group_name=g["group_name"],
            group_inputs=[SampleRequest.model_construct(**s) for s in g["group_inputs"]],
        )
        for g in request["inputs"]
    ]
    comparisons = [ComparisonRequest.model_construct(**c) for c in request.get("comparisons") or []]
    fields = {k: v for k, v in request.items() if k in SubmitRequest.model_fields}
    return SubmitRequest.model_construct(
        **{**fields, "inputs": groups, "comparisons": comparisons or None}
    )


def spec_from_model(req: SubmitRequest, *, job_id: str) -> RnaDiffExprSpec:
    """The runner's view of a validated request whose ``output`` is resolved."""
    groups = tuple(
        GroupSpec(
            name=g.group_name,
            samples=tuple(
                SampleSpec(
                    name=s.sample_name,
                    group=g.group_name,
                    runs=sample_runs(s),
                    covariates=tuple((s.covariates or {}).items()),
                )
                for s in g.group_inputs
            ),
        )
        for g in req.inputs
    )
    table_uri, artifacts_uri = artifacts_folder(req.output, job_id)
    return RnaDiffExprSpec(
        groups=groups,
        output=req.output,
        table_uri=table_uri,
        artifacts_uri=artifacts_uri,
        ref=req.ref,
        gtf=req.gtf,
        library_type=None if req.library_type == "auto" else LibraryType(req.library_type),
        adapter=req.adapt.upper() if req.adapt else None,
        is_export_qc=req.is_export_qc,
        bed=req.bed or None,
        comparisons=tuple(
            Comparison(control=c.control, treatment=c.treatment) for c in req.comparisons or ()
        ),
        gene_sets=req.gene_sets or None,
        name=req.name or None,
        quantifier=req.quantifier,
        covariates=tuple(covariate_names(req)),
        shrink=req.shrink,
        lfc_threshold=float(req.lfc_threshold),
        counts=req.counts or None,
        interactions=tuple(req.interactions or ()),
        test=req.test,
        reduced=tuple(req.reduced or ()),
        coefficient=req.coefficient,
    )


def sample_runs(sample: SampleRequest) -> tuple[ReadRun, ...]:
    """``files`` is one paired run; ``runs`` lists runs of one (single-end) or two files."""
    if sample.runs:
        return tuple(ReadRun(run[0], run[1] if len(run) > 1 else None) for run in sample.runs)
    if sample.files:
        return (ReadRun(sample.files[0], sample.files[1]),)
    return ()


def stored_sample_files(sample: Mapping[str, Any], spath: str) -> list[tuple[str, str]]:
    """(field path, URI) of every FASTQ of a sample as a request writes it (files or runs)."""
    if sample.get("runs"):
        return [
            (f"{spath}.runs[{r}][{k}]", uri)
            for r, run in enumerate(sample["runs"])
            for k, uri in enumerate(run)
        ]
    return [(f"{spath}.files[{k}]", uri) for k, uri in enumerate(sample.get("files") or ())]


def covariate_names(req: SubmitRequest) -> list[str]:
    """The covariates' names in the order the first sample carrying any gives them."""
    names: dict[str, None] = {}
    for group in req.inputs:
        for sample in group.group_inputs:
            names.update(dict.fromkeys(sample.covariates or {}))
    return list(names)
