"""Dependencies as ``Annotated`` aliases, so routes read like prose."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from genejobs.api.guard import cached_principal
from genejobs.jobs.service import JobService
from genejobs.jobs.store.auth import Principal


def get_service(request: Request) -> JobService:
    service: JobService = request.app.state.service  # set once by create_app
    return service


ServiceDep = Annotated[JobService, Depends(get_service)]

ProjectId = Annotated[
    str, Path(description="Project (tenant) id; must be one of the token's projects")
]


def get_principal(
    request: Request,
    service: ServiceDep,
    project_id: ProjectId,
    x_auth_token: Annotated[
        str | None, Header(description="API token (create one with `genejobs token create`)")
    ] = None,
) -> Principal:
    checked = cached_principal(request.scope.get("state") or {}, project_id)
    if checked is not None:  # the request guard already asked the database
        return checked
    return service.authenticate(x_auth_token, project_id)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
