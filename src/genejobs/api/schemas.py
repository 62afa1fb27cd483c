"""Request and response schemas, so ``/openapi.json`` documents every field.

The request model documents the body only: submissions are validated by
``genejobs.jobs.validation`` so that messages follow the contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorResponse(BaseModel):
    error_code: str = Field(description="Contract error code, e.g. DLI.0001", examples=["DLI.0001"])
    error_msg: str = Field(description="What is wrong, naming the field or file and the reason")


class SampleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sample_name: str = Field(
        description="Starts with a letter, then letters, digits, '_' or '-'; 1-128 characters; "
        "unique within the job"
    )
    files: list[str] = Field(
        description="Exactly two distinct .fastq.gz paths or URIs: read 1, then read 2",
        min_length=2,
        max_length=2,
    )


class GroupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_name: str = Field(description="Group name, same naming rule as samples; unique")
    group_inputs: list[SampleRequest] = Field(description="At least two samples", min_length=2)


class ComparisonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    control: str = Field(description="Name of the control group")
    treatment: str = Field(description="Name of the treatment group")


class SubmitRequest(BaseModel):
    """An RNA_DIFF_EXPR job request."""

    model_config = ConfigDict(extra="forbid")
    job_type: Literal["RNA_DIFF_EXPR"] = Field(description="The job type")
    inputs: list[GroupRequest] = Field(description="At least two groups", min_length=2)
    output: str = Field(
        description="A .csv path for the results table, or a folder: the table then goes to "
        "<output>/<job_id>.csv; other artifacts always go to <folder>/<job_id>/"
    )
    adapt: str | None = Field(
        None, description="Adapter sequence to trim (A, C, G, T, N); empty when already trimmed"
    )
    ref: str = Field(description="Name of a registered reference genome")
    gtf: str = Field(description="Name of an annotation registered for that reference")
    is_export_qc: bool = Field(False, description="Also write the QC report")
    bed: str | None = Field(None, description="Gene-model BED for QC; required with is_export_qc")
    library_type: Literal["fr-unstranded", "fr-firststrand", "fr-secondstrand", "auto"] = Field(
        "fr-unstranded", description="Strandedness; 'auto' infers it from the reads"
    )
    comparisons: list[ComparisonRequest] | None = Field(
        None, description="Control/treatment pairs to test (default: the first group as control)"
    )
    gene_sets: str | None = Field(None, description="Gene sets (GMT) for enrichment")


class SubmitResponse(BaseModel):
    job_id: str = Field(description="Unique id of the new job (a UUID)")


class JobRowResponse(BaseModel):
    job_id: str = Field(description="Unique id of the job")
    owner: str = Field(description="User name of the submitter")
    status: str = Field(description="LAUNCHING, RUNNING, FINISHED, FAILED, CANCELLED or CANCELING")
    progress: str = Field(description="'k/n': at step k of n (one per sample + statistics)")
    start_time: int = Field(description="Submission time, epoch milliseconds")
    duration: int = Field(
        description="Run time in milliseconds since a runner started the job, so far or in "
        "total once ended; 0 while LAUNCHING"
    )
    message: str = Field(description="Why the job failed; empty otherwise")
    request: str = Field(description="The submitted request as a JSON string, output resolved")


class JobListResponse(BaseModel):
    job_count: int = Field(description="Jobs matching the filters over all pages")
    jobs: list[JobRowResponse] = Field(description="This page of jobs, newest first")


class SampleResponse(BaseModel):
    sample_name: str = Field(description="Sample name")
    group_name: str = Field(description="Group of the sample")
    state: str = Field(description="PENDING, RUNNING, DONE or FAILED")
    step: str = Field(description="Current step: reads, trim, align, count (empty before start)")
    fraction_done: float = Field(description="Fraction of the sample's input processed, 0-1")
    pairs_done: int = Field(description="Read pairs processed so far")
    started_ms: int | None = Field(description="When processing started (epoch ms)")
    ended_ms: int | None = Field(description="When processing ended (epoch ms)")
    duration_ms: int = Field(description="Processing time so far or in total (ms)")
    from_cache: bool = Field(description="The result was reused from an earlier identical sample")
    stats: dict[str, Any] = Field(description="Per-stage statistics (reads, alignment, counts)")


class JobDetailResponse(JobRowResponse):
    samples: list[SampleResponse] = Field(description="Per-sample state")
    remaining_ms: int | None = Field(
        description="Estimated time left (ms) from measured throughput; null when unknown"
    )
    outputs: dict[str, Any] = Field(description="Where the results were written")
    warnings: list[Any] = Field(description="Notes from the run (e.g. statistics warnings)")
    project_id: str = Field(description="Project the job belongs to")
    job_type: str = Field(description="Job type, RNA_DIFF_EXPR")
    input_size: int = Field(description="Bytes of all input files")
    end_time: int | None = Field(description="When the job ended (epoch ms); null while active")


class UserStatistics(BaseModel):
    user_name: str = Field(description="User name")
    launching_num: int = Field(description="Jobs LAUNCHING")
    running_num: int = Field(description="Jobs RUNNING")
    failed_num: int = Field(description="Jobs FAILED")
    finished_num: int = Field(description="Jobs FINISHED")
    canceling_num: int = Field(description="Jobs CANCELING")
    cancelled_num: int = Field(description="Jobs CANCELLED")
    input_size: int = Field(description="Bytes of all input files of these jobs")


class StatisticsResponse(BaseModel):
    total_user_num: int = Field(description="Users counted (1 for a sub-user)")
    total_launching_num: int = Field(description="Jobs LAUNCHING")
    total_running_num: int = Field(description="Jobs RUNNING")
    total_failed_num: int = Field(description="Jobs FAILED")
    total_finished_num: int = Field(description="Jobs FINISHED")
    total_canceling_num: int = Field(description="Jobs CANCELING")
    total_cancelled_num: int = Field(description="Jobs CANCELLED")
    total_input_size: int = Field(description="Bytes of all input files")
    users: list[UserStatistics] | None = Field(
        None, description="Per user; only for a tenant administrator"
    )


class HealthResponse(BaseModel):
    status: str = Field(description="'ok' when the database answers")
