"""The application factory: settings in, app out; nothing is read at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from genejobs.api.browse import router as browse_router
from genejobs.api.errors import install_error_handlers, status_and_code
from genejobs.api.guard import RequestGuard
from genejobs.api.pool import StoragePool
from genejobs.api.reference_fetch import router as reference_fetch_router
from genejobs.api.routes import router
from genejobs.api.samplesheet import router as samplesheet_router
from genejobs.api.schemas import ErrorResponse, HealthResponse
from genejobs.api.share import open_router as share_open_router
from genejobs.api.share import router as share_router
from genejobs.api.wes import router as wes_router
from genejobs.config import Settings
from genejobs.jobs.request.schema import SubmitRequest
from genejobs.jobs.service import JobService
from genejobs.jobs.store.auth import Principal
from genejobs.web.console import router as console_router

log = logging.getLogger(__name__)


def default_service(settings: Settings) -> JobService:
    """A service on the settings' database, storage and reference registry."""
    from genejobs.references.registry import registry_for
    from genejobs.storage import Storage

    registry = registry_for(settings)
    return JobService(
        settings, storage=Storage.from_settings(settings), references=registry.available
    )


def create_app(settings: Settings, *, service: JobService | None = None) -> FastAPI:
    """Build the API; a given ``service`` is used as is (and not closed by the app)."""
    owned = service is None
    job_service = service if service is not None else default_service(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            job_service.close()

    app = FastAPI(
        title="genejobs",
        version="0.1.0",
        description="RNA-seq differential-expression jobs behind the gene-jobs REST API.",
        lifespan=lifespan,
    )
    app.state.service = job_service
    app.state.storage_pool = StoragePool()
    app.state.settings = settings
    install_error_handlers(app)

    async def authenticate(token: str | None, project: str | None) -> Principal:
        if project is None:  # the WES door: the token's own project
            return await run_in_threadpool(job_service.principal_for, token)
        return await run_in_threadpool(job_service.authenticate, token, project)

    app.add_middleware(RequestGuard, authenticate=authenticate, status_of=status_and_code)
    app.include_router(router)
    app.include_router(browse_router)
    app.include_router(share_router)
    app.include_router(share_open_router)
    app.include_router(samplesheet_router)
    app.include_router(reference_fetch_router)
    app.include_router(wes_router)
    app.include_router(console_router)

    @app.get(
        "/healthz",
        response_model=HealthResponse,
        summary="Liveness and database check",
        responses={
            503: {"model": ErrorResponse, "description": "The store cannot write (DLI.0012)"}
        },
    )
    def healthz() -> HealthResponse:
        """200 when the job store answers and can write; 503 DLI.0012 when it cannot."""
        job_service.healthy()
        return HealthResponse(status="ok")

    document_request_schema(app)
    return app


def document_request_schema(app: FastAPI) -> None:
    """Put ``SubmitRequest`` into the OpenAPI components the submit route refers to.

    The submit route takes the body as raw JSON and validates it with the same
    model (``genejobs.jobs.request.validation``), so that every problem is reported at once
    in the contract's wording; FastAPI therefore does not register the model itself.
    """
    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original_openapi()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            defs = SubmitRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(defs.pop("$defs", {}))
            components["SubmitRequest"] = defs
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override hook
