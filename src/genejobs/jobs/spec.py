"""The typed spec of an RNA_DIFF_EXPR job, built once at the door.

``validate_request`` (below) turns a submitted JSON body into a
``RnaDiffExprSpec`` or raises ``ValidationError`` naming the field path and the
rule. The stored request is the submitted JSON with ``output`` resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from genejobs.pipeline.records import LibraryType, SampleSpec

JOB_TYPE_RNA_DIFF_EXPR = "RNA_DIFF_EXPR"


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
    ref: str
    gtf: str
    library_type: LibraryType | None = LibraryType.UNSTRANDED  # None = "auto"
    adapter: str | None = None
    is_export_qc: bool = False
    bed: str | None = None
    comparisons: tuple[Comparison, ...] = ()
    gene_sets: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def samples(self) -> tuple[SampleSpec, ...]:
        return tuple(s for g in self.groups for s in g.samples)

    @property
    def input_uris(self) -> list[str]:
        return [u for s in self.samples for u in (s.r1, s.r2)]


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


def spec_from_request(request: dict[str, object], *, job_id: str) -> RnaDiffExprSpec:
    """Rebuild the spec from a stored (already validated, output resolved) request."""
    groups = []
    for group in request["inputs"]:  # type: ignore[attr-defined]
        samples = tuple(
            SampleSpec(
                name=s["sample_name"], group=group["group_name"], r1=s["files"][0], r2=s["files"][1]
            )
            for s in group["group_inputs"]
        )
        groups.append(GroupSpec(name=group["group_name"], samples=samples))
    output = str(request["output"])
    table_uri, artifacts_uri = artifacts_folder(output, job_id)
    lt = str(request.get("library_type") or LibraryType.UNSTRANDED.value)
    comparisons = tuple(
        Comparison(control=c["control"], treatment=c["treatment"])
        for c in request.get("comparisons") or []  # type: ignore[attr-defined]
    )
    return RnaDiffExprSpec(
        groups=tuple(groups),
        output=output,
        table_uri=table_uri,
        artifacts_uri=artifacts_uri,
        ref=str(request["ref"]),
        gtf=str(request["gtf"]),
        library_type=None if lt == "auto" else LibraryType(lt),
        adapter=(str(request["adapt"]).upper() or None) if request.get("adapt") else None,
        is_export_qc=bool(request.get("is_export_qc", False)),
        bed=str(request["bed"]) if request.get("bed") else None,
        comparisons=comparisons,
        gene_sets=str(request["gene_sets"]) if request.get("gene_sets") else None,
        extra={"name": str(request["name"])} if request.get("name") else {},
    )
