"""Response schemas of the console's additions (references, files, outputs, dry run)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReferenceResponse(BaseModel):
    name: str = Field(description="Reference genome name, a valid `ref`")
    annotations: list[str] = Field(description="Annotation names valid as `gtf` for it")
    genome_size: int | None = Field(description="Bases in the genome (null when unknown)")
    genes: int | None = Field(description="Genes in its largest annotation (null when unknown)")
    annotation_genes: dict[str, int] = Field(description="Genes per annotation")
    beds: list[str] = Field(description="Gene-model BED files registered for QC (`bed`)")


class ReferencesResponse(BaseModel):
    references: list[ReferenceResponse] = Field(description="Every registered reference")


class FileResponse(BaseModel):
    uri: str = Field(description="The file's URI, usable in a request as is")
    size: int = Field(description="Bytes")
    modified: str | None = Field(description="Last modification (ISO 8601), when known")


class FilesResponse(BaseModel):
    files: list[FileResponse] = Field(description="Files of this page, ordered by URI")
    folders: list[str] = Field(description="Sub-folders of this page (URIs ending in '/')")
    next_marker: str | None = Field(description="Pass as `marker` for the next page; null at end")


class OutputResponse(BaseModel):
    path: str = Field(description="Relative to the job's outputs folder; the table by its name")
    size: int = Field(description="Bytes")


class OutputsResponse(BaseModel):
    outputs: list[OutputResponse] = Field(description="Every file the job wrote")


class DryRunSample(BaseModel):
    sample_name: str = Field(description="Sample name")
    group_name: str = Field(description="Its group")
    input_bytes: int = Field(description="Bytes of its two FASTQ files")
    cached: bool = Field(description="Its counts are in the sample cache and will be reused")


class DryRunResponse(BaseModel):
    valid: bool = Field(description="Always true: an invalid request answers 400 as submit does")
    samples: list[DryRunSample] = Field(description="Per sample: input size and cache hit")
    input_bytes: int = Field(description="Bytes of all input files")
    estimate_ms: int | None = Field(
        description="Expected run time from this deployment's measured throughput (ms); null "
        "before any job finished here"
    )
    measured_jobs: int = Field(description="Finished jobs the estimate's throughput comes from")


class ShareResponse(BaseModel):
    """A signed link to a job's outputs (opens its report; no token needed)."""

    url: str = Field(description="The link, absolute, as this server was reached")
    path: str = Field(description="The same link relative to the server: /share/<token>/...")
    expires: int = Field(description="When it stops working (epoch ms)")
    days: int = Field(description="Days it was made for")
