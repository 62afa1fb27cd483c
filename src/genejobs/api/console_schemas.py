"""Response schemas of the console's additions (references, files, outputs, dry run)."""

from __future__ import annotations

from typing import Any

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


class DryRunFileCheck(BaseModel):
    run: int = Field(description="The sample's run (1 = first), as the request lists them")
    read: int = Field(description="1 or 2 (read 2 of a paired run)")
    uri: str = Field(description="The file")
    compression: str | None = Field(description="gzip or none (null: not read)")
    reads_checked: int = Field(description="Reads parsed from the file's head")
    checked: bool = Field(description="The head was read (false: storage too slow, see warnings)")
    problems: list[str] = Field(
        description="What will make the job fail or give wrong counts: not gzip/FASTQ, a "
        "truncated gzip, reads 1 and 2 swapped or not matching, Phred+64, interleaved pairs"
    )
    warnings: list[str] = Field(description="Worth a look, not fatal (e.g. a misleading name)")


class DryRunSample(BaseModel):
    sample_name: str = Field(description="Sample name")
    group_name: str = Field(description="Its group")
    input_bytes: int = Field(description="Bytes of its FASTQ files")
    cached: bool = Field(description="Its counts are in the sample cache and will be reused")
    runs: list[list[str]] = Field(
        description="Its runs in order: [read 1, read 2] or [read] (single-end)"
    )
    checks: list[DryRunFileCheck] = Field(description="The head of each of its files")


class DryRunResponse(BaseModel):
    valid: bool = Field(description="Always true: an invalid request answers 400 as submit does")
    samples: list[DryRunSample] = Field(description="Per sample: input size and cache hit")
    input_bytes: int = Field(description="Bytes of all input files")
    estimate_ms: int | None = Field(
        description="Expected run time from this deployment's measured throughput (ms); null "
        "before any job finished here"
    )
    measured_jobs: int = Field(description="Finished jobs the estimate's throughput comes from")
    reads_ok: bool = Field(
        description="Every file's head was read and shows no problem (the dry run reads at "
        "most the first 2,000 reads or 256 KiB of each file, within 20 s in all)"
    )
    read_problems: list[str] = Field(
        description="Each file problem as one line naming sample, run, read and file"
    )
    read_warnings: list[str] = Field(description="Each warning, named the same way")
    request: dict[str, Any] = Field(
        description="The request submit would store: a samplesheet's samples as inputs"
    )


class ShareResponse(BaseModel):
    """A signed link to a job's outputs (opens its report; no token needed)."""

    url: str = Field(description="The link, absolute, as this server was reached")
    path: str = Field(description="The same link relative to the server: /share/<token>/...")
    expires: int = Field(description="When it stops working (epoch ms)")
    days: int = Field(description="Days it was made for")
