"""The one mapping from exceptions to the contract's error bodies.

Every failure answers ``{"error_code": "DLI.xxxx", "error_msg": "..."}``. Our own
errors carry messages meant for the caller; anything unexpected is logged here
with its traceback and answered with a generic 500, so no stack trace, SQL or
secret ever reaches a client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from genejobs import errors
from genejobs.jobs.request.schema import problems

log = logging.getLogger(__name__)

# (HTTP status, contract code) per error class; subclasses inherit their parent's entry.
ERROR_CODES: dict[type[errors.GeneJobsError], tuple[int, str]] = {
    errors.ValidationError: (400, "DLI.0001"),
    errors.NotFound: (400, "DLI.0002"),
    errors.Unsupported: (400, "DLI.0007"),
    errors.LimitReached: (400, "DLI.0009"),
    errors.PermissionDenied: (400, "DLI.0011"),
    errors.OutputExists: (400, "DLI.0011"),
    errors.Unavailable: (400, "DLI.0012"),
    errors.StorageUnavailable: (503, "DLI.0012"),
    errors.AuthenticationFailed: (401, "DLI.0013"),
    errors.Forbidden: (403, "DLI.0013"),
    errors.ShareLinkInvalid: (403, "DLI.0013"),
    errors.ShareLinkExpired: (410, "DLI.0013"),
    errors.JobNotFound: (404, "DLI.0023"),
}
INTERNAL = (500, "DLI.0999")
INTERNAL_MESSAGE = "internal error; the server log has the details"


def error_body(code: str, message: str) -> dict[str, str]:
    return {"error_code": code, "error_msg": message}


WES_PATH = "/ga4gh/wes/"


def error_response(request: Request, status: int, code: str, message: str) -> JSONResponse:
    """The contract's body, or GA4GH WES's ``{"msg", "status_code"}`` under its door."""
    if request.url.path.startswith(WES_PATH):
        return JSONResponse({"msg": message, "status_code": status}, status_code=status)
    return JSONResponse(error_body(code, message), status_code=status)


def status_and_code(exc: errors.GeneJobsError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in ERROR_CODES:
            return ERROR_CODES[cls]
    return INTERNAL


def validation_message(exc: RequestValidationError) -> str:
    """Every problem FastAPI found (query parameters, malformed JSON), each naming its field."""
    errs = exc.errors()
    if not errs:
        return "request: invalid"
    first = errs[0]
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "")
        return f"body: malformed JSON{f' ({detail})' if detail else ''}"
    # loc starts with where the value came from ("query", "body", ...): drop it
    return "; ".join(problems(errs, strip=1))


def store_unavailable_message(exc: BaseException) -> str:
    """Why the job database refused, in words (read-only, full, unreachable)."""
    text = str(getattr(exc, "orig", exc)).lower()
    if "read-only" in text or "readonly" in text or "read only" in text:
        why = "is read-only"
    elif "disk" in text and "full" in text or "no space" in text:
        why = "has no space left"
    else:
        why = "cannot be reached"
    return f"the job database {why}; nothing was changed, try again later"


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping on ``app`` (called once by ``create_app``)."""

    async def on_genejobs_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.GeneJobsError)
        status, code = status_and_code(exc)
        if code == INTERNAL[1]:  # a 503's message names what is unavailable; a 500's is hidden
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
            return error_response(request, status, code, INTERNAL_MESSAGE)
        return error_response(request, status, code, exc.message)

    async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, 400, "DLI.0001", validation_message(exc))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_response(
                request, 404, "DLI.0023", f"no such resource: {request.method} {request.url.path}"
            )
        if exc.status_code == 405:
            return error_response(
                request,
                405,
                "DLI.0007",
                f"method {request.method} is not supported on {request.url.path}",
            )
        if exc.status_code >= 500:
            return error_response(request, 500, INTERNAL[1], INTERNAL_MESSAGE)
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's json.loads of the body
            return error_response(request, 400, "DLI.0001", "body: JSON nested too deeply")
        return error_response(request, exc.status_code, "DLI.0001", str(exc.detail))

    async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
        # the database refused (read-only, gone, disk full): not the caller's fault; the
        # message says which, never the SQL. (PostgreSQL's read-only transaction is an
        # InternalError; other DBAPI errors are bugs: a 500.)
        if not isinstance(exc, OperationalError) and "read-only" not in str(exc):
            return await on_unexpected(request, exc)
        log.error("%s %s: the job store failed: %s", request.method, request.url.path, exc)
        return error_response(request, 503, "DLI.0012", store_unavailable_message(exc))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed unexpectedly", request.method, request.url.path)
        return error_response(request, 500, INTERNAL[1], INTERNAL_MESSAGE)

    app.add_exception_handler(errors.GeneJobsError, on_genejobs_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DBAPIError, on_store_error)
    app.add_exception_handler(Exception, on_unexpected)
