"""Read endpoints the console needs beside the contract's: references, files, outputs.

Same tokens, project and sub-user isolation and DLI errors as the contract's
routes: a job's outputs are visible to whoever may see the job, nobody else.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from genejobs.api.console_schemas import FilesResponse, OutputsResponse, ReferencesResponse
from genejobs.api.deps import PrincipalDep, ProjectId, ServiceDep
from genejobs.api.routes import ERRORS
from genejobs.errors import GeneJobsError, JobNotFound, NotFound, PermissionDenied
from genejobs.jobs.browse import (
    MAX_LIST,
    JobOutputs,
    PrivateFolders,
    content_headers,
    list_files,
    reference_catalogue,
    stream,
)

router = APIRouter(prefix="/v2.0/{project_id}/gene", responses=ERRORS, tags=["console"])


# -- routes --------------------------------------------------------------------------


@router.get("/references", response_model=ReferencesResponse, summary="List references")
def references(project_id: ProjectId, principal: PrincipalDep, service: ServiceDep) -> Any:
    """What `ref` and `gtf` (and a QC `bed`) may be on this server."""
    from genejobs.references.registry import registry_for

    try:
        registry = registry_for(service.settings)
    except (OSError, ValueError, GeneJobsError):  # still the names submit accepts
        registry = None
    return {"references": reference_catalogue(service.references(), registry)}


@router.get("/files", response_model=FilesResponse, summary="Browse storage")
def files(
    project_id: ProjectId,
    principal: PrincipalDep,
    service: ServiceDep,
    prefix: Annotated[
        str | None,
        Query(
            description="A folder or folder/name-prefix: s3a://bucket/dir/, /local/dir/K; "
            "omitted: the allowed local roots"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="Page size")] = 100,
    marker: Annotated[str | None, Query(description="Last URI of the previous page")] = None,
) -> Any:
    """Files the service may read under a prefix; others answer DLI.0011/0002 as submit does."""
    return list_files(
        service.storage,
        prefix,
        limit=limit,
        marker=marker,
        private=PrivateFolders.of(service.settings),
    )


def _outputs(service: Any, principal: Any, project_id: str, job_id: str) -> JobOutputs:
    import json

    stored = json.loads(
        service.stored_request(principal=principal, project_id=project_id, job_id=job_id)
    )
    return JobOutputs.of(service.storage, str(stored["output"]), job_id)


@router.get(
    "/jobs/{job_id}/outputs", response_model=OutputsResponse, summary="List a job's outputs"
)
def outputs(
    project_id: ProjectId, job_id: str, principal: PrincipalDep, service: ServiceDep
) -> Any:
    """Every file the job wrote (report.html, counts.csv, BAMs, ...) and its table."""
    where = _outputs(service, principal, project_id, job_id)
    return {"outputs": where.listing(service.storage)}


@router.get(
    "/jobs/{job_id}/outputs/{path:path}",
    summary="Fetch one output",
    response_class=StreamingResponse,
    responses={200: {"description": "The file: HTML inline, data as an attachment"}},
)
def output_file(
    project_id: ProjectId, job_id: str, path: str, principal: PrincipalDep, service: ServiceDep
) -> StreamingResponse:
    """Streams one output from storage; paths never leave the job's outputs."""
    where = _outputs(service, principal, project_id, job_id)
    loc = where.resolve(service.storage, path, job_id)
    try:
        size = service.storage.info(loc, field="path").size_bytes
    except (NotFound, PermissionDenied) as exc:
        raise JobNotFound(f"job '{job_id}' has no output '{path}'") from exc
    headers = content_headers(path) | {"Content-Length": str(size)}
    media = headers.pop("Content-Type")
    return StreamingResponse(stream(service.storage, loc), media_type=media, headers=headers)
