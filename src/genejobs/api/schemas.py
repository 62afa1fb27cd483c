"""Response schemas, so ``/openapi.json`` documents every field.

The request's schema is ``genejobs.jobs.request.SubmitRequest``: the same model
validates submissions (through ``genejobs.jobs.request.validation``) and documents them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from genejobs.jobs.request.schema import SubmitRequest

__all__ = ["SubmitRequest"]  # documented here beside the responses


class ErrorResponse(BaseModel):
    error_code: str = Field(description="Contract error code, e.g. DLI.0001", examples=["DLI.0001"])
    error_msg: str = Field(description="What is wrong, naming the field or file and the reason")


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
    name: str | None = Field(None, description="The job's optional name (addition)")


class JobListResponse(BaseModel):
    job_count: int = Field(description="Jobs matching the filters over all pages")
    jobs: list[JobRowResponse] = Field(description="This page of jobs, newest first")


class SampleResponse(BaseModel):
    sample_name: str = Field(description="Sample name")
    group_name: str = Field(description="Group of the sample")
    state: str = Field(description="PENDING, RUNNING, DONE, FAILED or CANCELLED")
    step: str = Field(description="Current step: reads, trim, align, count (empty before start)")
    fraction_done: float = Field(description="Fraction of the sample's input processed, 0-1")
    pairs_done: int = Field(description="Read pairs processed so far")
    started_ms: int | None = Field(description="When processing started (epoch ms)")
    ended_ms: int | None = Field(description="When processing ended (epoch ms)")
    duration_ms: int = Field(description="Processing time so far or in total (ms)")
    from_cache: bool = Field(description="The result was reused from an earlier identical sample")
    stats: dict[str, Any] = Field(description="Per-stage statistics (reads, alignment, counts)")


class NotificationAttempt(BaseModel):
    time: int = Field(description="When the attempt was made (epoch ms)")
    target: str = Field(description="'webhook:<url>' or 'email:<address>'")
    status: str = Field(description="The webhook's HTTP status, 'sent' for an e-mail, or the error")


class JobNote(BaseModel):
    text: str = Field(description="The note as the run wrote it (one of warnings)")
    plain: str = Field(description="What it means, in plain words ('' when not known)")
    level: str = Field(description="'info' (something the run decided) or 'warning'")


class JobDetailResponse(JobRowResponse):
    samples: list[SampleResponse] = Field(description="Per-sample state")
    remaining_ms: int | None = Field(
        description="Estimated time left (ms) from measured throughput; null when unknown"
    )
    outputs: dict[str, Any] = Field(description="Where the results were written")
    warnings: list[Any] = Field(description="Notes from the run (e.g. statistics warnings)")
    notes: list[JobNote] = Field(
        default_factory=list,
        description="Addition: each of warnings in plain words, marked info or warning",
    )
    notifications: list[NotificationAttempt] = Field(
        default_factory=list,
        description="Every delivery attempt of the request's notify targets, oldest first",
    )
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
