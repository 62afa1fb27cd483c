"""The contract's routes under ``/v2.0/{project_id}/gene/``.

Routes are sync (``def``): they block on the database, and FastAPI runs sync
routes in its thread pool instead of stalling the event loop. Those that reach
storage (submit, dry run, purge) run their work in the storage pool instead
(``api/pool.py``), so a stalled S3 endpoint cannot take every thread.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from genejobs.api.console_schemas import DryRunResponse
from genejobs.api.deps import PrincipalDep, ProjectId, ServiceDep
from genejobs.api.pool import in_storage_pool
from genejobs.api.schemas import (
    ErrorResponse,
    JobDetailResponse,
    JobListResponse,
    StatisticsResponse,
    SubmitRequest,
    SubmitResponse,
)
from genejobs.jobs import dryrun
from genejobs.jobs.purge import purge_job

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (400, "Invalid request (DLI.0001/0002/0007/0009/0011/0012)"),
        (401, "Missing, invalid or expired token (DLI.0013)"),
        (403, "Token not valid for this project (DLI.0013)"),
        (404, "Unknown job in this project (DLI.0023)"),
        (500, "Internal error (DLI.0999)"),
        (503, "The storage endpoint cannot be reached; try again later (DLI.0012)"),
    )
}

router = APIRouter(prefix="/v2.0/{project_id}/gene", responses=ERRORS)

# Bounds fit the databases' signed 64-bit integers; larger values answer 400, not 500.
INT64_MAX = 2**63 - 1
StartMs = Annotated[
    int | None,
    Query(
        ge=0,
        le=INT64_MAX,
        description="Only jobs submitted at or after this instant (epoch ms, at most end)",
    ),
]
EndMs = Annotated[
    int | None,
    Query(
        ge=0,
        le=INT64_MAX,
        description="Only jobs submitted at or before this instant (epoch ms, at least start)",
    ),
]


@router.post(
    "/jobs",
    status_code=201,
    response_model=SubmitResponse,
    summary="Submit a job",
    responses={200: {"model": DryRunResponse, "description": "dry_run=true: the checks passed"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/SubmitRequest"}}
            },
        }
    },
)
async def submit_job(
    request: Request,
    project_id: ProjectId,
    principal: PrincipalDep,
    service: ServiceDep,
    body: Annotated[Any, Body(description="The job request (see SubmitRequest)")],
    dry_run: Annotated[
        bool,
        Query(
            description="Check everything a submit checks, store nothing, and answer 200 with "
            "per-sample input sizes, cache hits and a run-time estimate (DryRunResponse)"
        ),
    ] = False,
) -> Any:
    """Validate the request, check its files and queue it as LAUNCHING."""
    if dry_run:
        answer = await in_storage_pool(
            request,
            partial(dryrun.dry_run, service, principal=principal, project_id=project_id, body=body),
        )
        return JSONResponse(answer)
    job_id = await in_storage_pool(
        request, partial(service.submit, principal=principal, project_id=project_id, body=body)
    )
    return SubmitResponse(job_id=job_id)


@router.get("/jobs", response_model=JobListResponse, summary="List jobs")
def list_jobs(
    project_id: ProjectId,
    principal: PrincipalDep,
    service: ServiceDep,
    job_type: Annotated[str | None, Query(description="Filter by type, e.g. RNA_DIFF_EXPR")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size, 1-100")] = 10,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX, description="Records to skip")] = 0,
    start: StartMs = None,
    end: EndMs = None,
    status: Annotated[
        list[str] | None,
        Query(description="Addition: only jobs in these states (repeatable or comma-separated)"),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Addition: text in the job id, owner or request (name, groups, "
            "samples, paths), any case",
        ),
    ] = None,
    id_prefix: Annotated[
        str | None,
        Query(
            min_length=6,
            max_length=36,
            description="Addition: only jobs whose id starts with this (6-36 characters): "
            "how a short id is resolved; ask with limit=2 to learn whether it is unique",
        ),
    ] = None,
) -> dict[str, Any]:
    """Jobs of the project, newest first (a sub-user sees only their own)."""
    count, rows = service.list_jobs(
        principal=principal,
        project_id=project_id,
        job_type=job_type,
        limit=limit,
        offset=offset,
        start=start,
        end=end,
        statuses=status or (),
        text=q,
        id_prefix=id_prefix,
    )
    return {"job_count": count, "jobs": rows}


@router.get("/jobs/{job_id}", response_model=JobDetailResponse, summary="Show one job")
def show_job(
    project_id: ProjectId, job_id: str, principal: PrincipalDep, service: ServiceDep
) -> dict[str, Any]:
    """The list row plus per-sample progress, remaining time, outputs and warnings."""
    return service.get_job(principal=principal, project_id=project_id, job_id=job_id)


@router.delete("/jobs/{job_id}", summary="Cancel a job, or delete an ended one with its data")
async def cancel_job(
    request: Request,
    project_id: ProjectId,
    job_id: str,
    principal: PrincipalDep,
    service: ServiceDep,
    purge: Annotated[
        bool,
        Query(
            description="false (the contract): cancel the job. true (addition): delete an "
            "ended job's outputs (the table and <output>/<job_id>/) and then its record; a job "
            "not yet ended answers DLI.0012"
        ),
    ] = False,
) -> dict[str, Any]:
    """LAUNCHING jobs are cancelled at once; RUNNING ones become CANCELING.

    With ``purge=true`` an ended job and its outputs are deleted; afterwards it answers 404.
    """
    if purge:  # deletes from storage: in the storage pool
        await in_storage_pool(
            request,
            partial(purge_job, service, principal=principal, project_id=project_id, job_id=job_id),
        )
    else:
        await run_in_threadpool(
            partial(service.cancel, principal=principal, project_id=project_id, job_id=job_id)
        )
    return {}


@router.get(
    "/statistics",
    response_model=StatisticsResponse,
    response_model_exclude_none=True,
    summary="Job statistics",
)
def statistics(
    project_id: ProjectId,
    principal: PrincipalDep,
    service: ServiceDep,
    start: StartMs = None,
    end: EndMs = None,
) -> dict[str, Any]:
    """Counts per status and input bytes; per user for a tenant administrator."""
    return service.statistics(principal=principal, project_id=project_id, start=start, end=end)


__all__ = ["SubmitRequest", "router"]
