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
    output: str  # as submitted
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
