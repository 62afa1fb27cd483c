"""Share links: one authenticated route makes a link, one open route serves through it.

``POST .../jobs/{job_id}/share`` needs a token that may see the job, like its outputs.
``GET /share/{token}/{path}`` needs no API token: the signed token in the path is the
permission, for the files of that job's manifest only. Every answer there is sandboxed
(``Content-Security-Policy: sandbox ...``: an opaque origin, so a report can never read
the console's token or call the API as its user), ``nosniff`` and ``no-referrer`` (the
link is not leaked to sites the report links to).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from genejobs.api.console_schemas import ShareResponse
from genejobs.api.deps import PrincipalDep, ProjectId, ServiceDep
from genejobs.api.pool import in_storage_pool
from genejobs.api.routes import ERRORS
from genejobs.jobs.browse import SANDBOX, content_headers, sized, stream
from genejobs.jobs.share import DEFAULT_DAYS, MAX_DAYS, create_link, open_link

router = APIRouter(prefix="/v2.0/{project_id}/gene", responses=ERRORS, tags=["console"])
open_router = APIRouter(tags=["share"])


@router.post("/jobs/{job_id}/share", response_model=ShareResponse, summary="Make a share link")
def share_job(
    request: Request,
    project_id: ProjectId,
    job_id: str,
    principal: PrincipalDep,
    service: ServiceDep,
    days: Annotated[
        int, Query(ge=1, le=MAX_DAYS, description=f"Days the link stays valid (1-{MAX_DAYS})")
    ] = DEFAULT_DAYS,
) -> Any:
    """A signed link that opens the job's report (and the files it links to) without a
    token, until it expires or the job is purged."""
    link = create_link(
        service, principal=principal, project_id=project_id, job_id=job_id, days=days
    )
    return {
        "url": str(request.base_url).rstrip("/") + link.path,
        "path": link.path,
        "expires": link.expires_ms,
        "days": link.days,
    }


@open_router.get(
    "/share/{token}/{path:path}",
    summary="Open a shared output",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The file, under a sandbox CSP"},
        403: {"description": "The link was altered (DLI.0013)"},
        404: {"description": "The job was purged, or the file is not one it wrote (DLI.0023)"},
        410: {"description": "The link expired (DLI.0013)"},
    },
)
async def shared_file(
    request: Request, token: str, path: str, service: ServiceDep
) -> StreamingResponse:
    """One file of the job's manifest, by its path under the job's output folder."""

    def locate() -> tuple[Any, int]:  # storage calls: in the bounded storage pool
        where = open_link(service, token)
        loc = where.resolve_shared(service.storage, path)
        return loc, sized(service.storage, loc, where.job_id, path)

    loc, size = await in_storage_pool(request, locate)
    headers = content_headers(path) | {
        "Content-Length": str(size),
        "Content-Security-Policy": SANDBOX,
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "private, no-store",
    }
    media = headers.pop("Content-Type")
    return StreamingResponse(stream(service.storage, loc), media_type=media, headers=headers)
