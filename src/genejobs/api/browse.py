"""Read endpoints the console needs beside the contract's: references, files, outputs.

Same tokens, project and sub-user isolation and DLI errors as the contract's
routes: a job's outputs are visible to whoever may see the job, nobody else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from genejobs.api.console_schemas import FilesResponse, OutputsResponse, ReferencesResponse
from genejobs.api.deps import PrincipalDep, ProjectId, ServiceDep
from genejobs.api.pool import in_storage_pool
from genejobs.api.routes import ERRORS
from genejobs.errors import GeneJobsError
from genejobs.jobs.browse import (
    MAX_LIST,
    PrivateFolders,
    content_headers,
    list_files,
    outputs_of,
    reference_catalogue,
    sized,
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
async def files(
    request: Request,
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
    return await in_storage_pool(
        request,
        partial(
            list_files,
            service.storage,
            prefix,
            limit=limit,
            marker=marker,
            private=PrivateFolders.of(service.settings),
        ),
    )


@router.get(
    "/jobs/{job_id}/outputs", response_model=OutputsResponse, summary="List a job's outputs"
)
async def outputs(
    request: Request,
    project_id: ProjectId,
    job_id: str,
    principal: PrincipalDep,
    service: ServiceDep,
) -> Any:
    """Every file the job wrote (its manifest: report.html, counts.csv, BAMs, ...) and its
    table, with the sizes it wrote; nothing else in its folder is listed."""

    def work() -> Any:
        where = outputs_of(service, principal, project_id, job_id)
        return {"outputs": where.listing(service.storage)}

    return await in_storage_pool(request, work)


@router.get(
    "/jobs/{job_id}/outputs/{path:path}",
    summary="Fetch one output",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The file: HTML, SVG and other active types inline under a sandbox "
            "CSP, images inline, data as an attachment; always nosniff"
        }
    },
)
async def output_file(
    request: Request,
    project_id: ProjectId,
    job_id: str,
    path: str,
    principal: PrincipalDep,
    service: ServiceDep,
) -> StreamingResponse:
    """Streams one file of the job's manifest from storage; nothing else is served."""

    def locate() -> tuple[Any, int]:
        where = outputs_of(service, principal, project_id, job_id)
        loc = where.resolve(service.storage, path)
        return loc, sized(service.storage, loc, job_id, path)

    loc, size = await in_storage_pool(request, locate)
    headers = content_headers(path) | {"Content-Length": str(size)}
    media = headers.pop("Content-Type")
    chunks = stream(service.storage, loc)

    async def from_storage_pool() -> AsyncIterator[bytes]:
        # each read in the storage pool too: a stalled endpoint mid-download holds none
        # of the threads that serve the other routes
        try:
            while (chunk := await in_storage_pool(request, lambda: next(chunks, None))) is not None:
                yield chunk
        finally:
            await in_storage_pool(request, chunks.close)

    return StreamingResponse(from_storage_pool(), media_type=media, headers=headers)
