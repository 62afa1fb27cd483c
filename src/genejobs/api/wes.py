"""A GA4GH Workflow Execution Service 1.1 door onto the same jobs (``/ga4gh/wes/v1``).

WES clients (Sapporo, Cromwell's and Toil's tooling, ``wes-client``) submit and
follow runs here; every call translates to the same ``JobService`` calls as the
gene-jobs API, on the same store, so a run submitted here is a gene-jobs job (its
``run_id`` is the ``job_id``) and the reverse. ``workflow_params`` is the gene-jobs
request body. The project is the token's (its first, for a token of several):
WES paths carry none. Errors answer WES's ``{"msg", "status_code"}`` (see
``api/errors.py``).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Query, Request, UploadFile
from pydantic import BaseModel, Field

import genejobs
from genejobs.api.deps import ServiceDep
from genejobs.api.guard import cached_principal
from genejobs.api.pool import in_storage_pool
from genejobs.errors import ValidationError
from genejobs.jobs.request.spec import JOB_TYPE_RNA_DIFF_EXPR
from genejobs.jobs.service import JobService
from genejobs.jobs.states import JobStatus
from genejobs.jobs.store.auth import Principal

WES_PREFIX = "/ga4gh/wes/v1"
WORKFLOW_TYPE_VERSIONS = ["1.0"]
STATES = {
    JobStatus.LAUNCHING.value: "QUEUED",
    JobStatus.RUNNING.value: "RUNNING",
    JobStatus.FINISHED.value: "COMPLETE",
    JobStatus.FAILED.value: "EXECUTOR_ERROR",
    JobStatus.CANCELING.value: "CANCELING",
    JobStatus.CANCELLED.value: "CANCELED",
}
SAMPLE_EXIT_CODES = {"DONE": 0, "FAILED": 1}
INT64_MAX = 2**63 - 1  # the databases' integers: a larger offset is refused, not a 500

router = APIRouter(prefix=WES_PREFIX, tags=["GA4GH WES 1.1"])


class WesError(BaseModel):
    msg: str = Field(description="What is wrong")
    status_code: int = Field(description="The HTTP status")


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": WesError, "description": text}
    for code, text in (
        (400, "The request is malformed"),
        (401, "The request is unauthorized"),
        (403, "The requester is not authorized to perform this action"),
        (404, "The requested run was not found"),
        (500, "An unexpected error occurred"),
    )
}


def wes_principal(
    request: Request,
    service: ServiceDep,
    authorization: Annotated[
        str | None, Header(description="'Bearer <token>' (or use X-Auth-Token)")
    ] = None,
    x_auth_token: Annotated[str | None, Header(description="A genejobs API token")] = None,
) -> tuple[Principal, str]:
    """The caller and the project its runs live in."""
    principal = cached_principal(request.scope.get("state") or {}, None)
    if principal is not None:  # the request guard checked it before the body was read
        return principal, principal.projects[0]
    token = x_auth_token
    if authorization and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
    principal = service.principal_for(token)
    return principal, principal.projects[0]


Caller = Annotated[tuple[Principal, str], Depends(wes_principal)]


def _iso(ms: int | None) -> str | None:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000)) if ms else None


def _run_times(job: dict[str, Any]) -> tuple[int | None, int | None]:
    """When the run started executing and ended (the list row has duration, not a start)."""
    end = job.get("end_time")
    if not job["duration"]:
        return None, end
    return (end or int(time.time() * 1000)) - job["duration"], end


@router.get("/service-info", summary="GetServiceInfo", responses=ERRORS)
def service_info(request: Request, service: ServiceDep, caller: Caller) -> dict[str, Any]:
    """What this WES serves, and the caller's runs counted by state."""
    principal, project = caller
    totals = service.statistics(principal=principal, project_id=project)
    counts = {state: 0 for state in STATES.values()}
    for status, state in STATES.items():
        counts[state] += int(totals[f"total_{status.lower()}_num"])
    base = str(request.base_url)
    return {
        "id": "org.genejobs.wes",
        "name": "genejobs",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"},
        "description": "RNA-seq differential expression (RNA_DIFF_EXPR) jobs",
        "organization": {"name": "genejobs", "url": base},
        "version": genejobs.__version__,
        "workflow_type_versions": {
            JOB_TYPE_RNA_DIFF_EXPR: {"workflow_type_version": WORKFLOW_TYPE_VERSIONS}
        },
        "supported_wes_versions": ["1.1.0"],
        "supported_filesystem_protocols": ["s3", "s3a", "obs", "file"],
        "workflow_engine_versions": {
            "genejobs": {"workflow_engine_version": [genejobs.__version__]}
        },
        "default_workflow_engine_parameters": [],
        "system_state_counts": counts,
        "auth_instructions_url": f"{base}console",
        "tags": {
            "auth": "Authorization: Bearer <token> or X-Auth-Token: <token> "
            "(genejobs token create); runs live in the token's first project",
            "workflow_params": "the gene-jobs request body (POST /v2.0/{project_id}/gene/jobs)",
        },
    }


def _page_token(offset: int, snapshot_ms: int) -> str:
    raw = json.dumps({"o": offset, "t": snapshot_ms}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_page_token(token: str) -> tuple[int, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, snapshot = int(data["o"]), int(data["t"])
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        raise ValidationError("page_token: not a token this service gave out") from None
    if not (0 <= offset <= INT64_MAX and 0 <= snapshot <= INT64_MAX):
        raise ValidationError("page_token: not a token this service gave out (out of range)")
    return offset, snapshot


@router.get("/runs", summary="ListRuns", responses=ERRORS)
def list_runs(
    service: ServiceDep,
    caller: Caller,
    page_size: Annotated[int, Query(ge=1, le=100, description="Runs per page, 1-100")] = 10,
    page_token: Annotated[
        str | None, Query(max_length=200, description="next_page_token of the previous page")
    ] = None,
) -> dict[str, Any]:
    """Newest first, as of the first page (later runs appear on a new first page)."""
    principal, project = caller
    offset, snapshot = _read_page_token(page_token) if page_token else (0, int(time.time() * 1000))
    total, rows = service.list_jobs(
        principal=principal, project_id=project, limit=page_size, offset=offset, end=snapshot
    )
    extra = service.wes_runs([r["job_id"] for r in rows])
    runs = []
    for row in rows:
        start, end = _run_times(row)
        wes = extra.get(row["job_id"])
        runs.append(
            {
                "run_id": row["job_id"],
                "state": STATES[row["status"]],
                **({"start_time": _iso(start)} if start else {}),
                **({"end_time": _iso(end)} if end else {}),
                "tags": json.loads(wes.tags_json) if wes else {},
            }
        )
    more = offset + len(rows) < total
    return {
        "runs": runs,
        "next_page_token": _page_token(offset + len(rows), snapshot) if more else "",
    }


def _json_form(value: str | None, field: str) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{field}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise ValidationError(f"{field}: nested too deeply to be a request") from None


def _tags(value: str | None) -> dict[str, str]:
    tags = _json_form(value, "tags") or {}
    if (
        not isinstance(tags, dict)
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 128 and len(v) <= 1024
            for k, v in tags.items()
        )
        or len(tags) > 50
    ):
        raise ValidationError(
            "tags: must be a JSON object of at most 50 strings (keys ≤128, values ≤1024 characters)"
        )
    return tags


@router.post("/runs", summary="RunWorkflow", responses=ERRORS)
async def run_workflow(
    request: Request,
    service: ServiceDep,
    caller: Caller,
    workflow_type: Annotated[str, Form(description="RNA_DIFF_EXPR")],
    workflow_type_version: Annotated[str, Form(description="1.0")],
    workflow_params: Annotated[str, Form(description="The gene-jobs request body, as JSON")],
    tags: Annotated[str | None, Form(description="JSON object of string tags")] = None,
    workflow_url: Annotated[
        str | None, Form(description="Ignored: the workflow is built in")
    ] = None,
    workflow_engine: Annotated[str | None, Form()] = None,
    workflow_engine_version: Annotated[str | None, Form()] = None,
    workflow_engine_parameters: Annotated[str | None, Form()] = None,
    workflow_attachment: Annotated[list[UploadFile] | None, Form()] = None,
) -> dict[str, str]:
    """Submit ``workflow_params`` as a gene-jobs job; its ``run_id`` is the ``job_id``."""
    principal, project = caller
    if workflow_type != JOB_TYPE_RNA_DIFF_EXPR:
        raise ValidationError(
            f"workflow_type: '{workflow_type[:64]}' is not supported (supported: {JOB_TYPE_RNA_DIFF_EXPR})"
        )
    if workflow_type_version not in WORKFLOW_TYPE_VERSIONS:
        raise ValidationError(
            f"workflow_type_version: '{workflow_type_version[:32]}' is not supported "
            f"(supported: {', '.join(WORKFLOW_TYPE_VERSIONS)})"
        )
    if workflow_engine not in (None, "", "genejobs"):
        raise ValidationError(
            f"workflow_engine: '{workflow_engine[:64]}' is not supported (supported: genejobs)"
        )
    if workflow_attachment:
        raise ValidationError(
            "workflow_attachment: not supported; inputs are read from storage by URI"
        )
    run_tags = _tags(tags)
    body = _json_form(workflow_params, "workflow_params")

    def submit() -> str:  # reaches storage: in the storage pool
        job_id = service.submit(principal=principal, project_id=project, body=body)
        service.save_wes_run(
            job_id=job_id,
            version=workflow_type_version,
            url=(workflow_url or "")[:2048],
            tags=run_tags,
        )
        return job_id

    return {"run_id": await in_storage_pool(request, submit)}


def _task_logs(job: dict[str, Any]) -> list[dict[str, Any]]:
    logs = []
    for smp in job["samples"]:
        entry: dict[str, Any] = {"id": smp["sample_name"], "name": f"sample {smp['sample_name']}"}
        if smp["started_ms"]:
            entry["start_time"] = _iso(smp["started_ms"])
        if smp["ended_ms"]:
            entry["end_time"] = _iso(smp["ended_ms"])
        if smp["state"] in SAMPLE_EXIT_CODES:
            entry["exit_code"] = SAMPLE_EXIT_CODES[smp["state"]]
        entry["system_logs"] = [f"state {smp['state']}, step {smp['step'] or '-'}"]
        logs.append(entry)
    return logs


def _run_log(service: JobService, job: dict[str, Any]) -> dict[str, Any]:
    wes = service.wes_runs([job["job_id"]]).get(job["job_id"])
    start, end = _run_times(job)
    run_log: dict[str, Any] = {
        "name": json.loads(job["request"]).get("name") or JOB_TYPE_RNA_DIFF_EXPR
    }
    if start:
        run_log["start_time"] = _iso(start)
    if end:
        run_log["end_time"] = _iso(end)
    if job["status"] in (JobStatus.FINISHED.value, JobStatus.FAILED.value):
        run_log["exit_code"] = 0 if job["status"] == JobStatus.FINISHED.value else 1
    run_log["system_logs"] = [m for m in [job["message"], *map(str, job["warnings"])] if m]
    return {
        "run_id": job["job_id"],
        "request": {
            "workflow_params": json.loads(job["request"]),
            "workflow_type": JOB_TYPE_RNA_DIFF_EXPR,
            "workflow_type_version": wes.workflow_type_version
            if wes
            else WORKFLOW_TYPE_VERSIONS[0],
            "workflow_url": wes.workflow_url if wes else "",
            "tags": json.loads(wes.tags_json) if wes else {},
        },
        "state": STATES[job["status"]],
        "run_log": run_log,
        "task_logs": _task_logs(job),
        "outputs": job["outputs"],
    }


@router.get("/runs/{run_id}", summary="GetRunLog", responses=ERRORS)
def get_run_log(run_id: str, service: ServiceDep, caller: Caller) -> dict[str, Any]:
    principal, project = caller
    job = service.get_job(principal=principal, project_id=project, job_id=run_id)
    return _run_log(service, job)


@router.get("/runs/{run_id}/status", summary="GetRunStatus", responses=ERRORS)
def get_run_status(run_id: str, service: ServiceDep, caller: Caller) -> dict[str, str]:
    principal, project = caller
    job = service.get_job(principal=principal, project_id=project, job_id=run_id)
    return {"run_id": run_id, "state": STATES[job["status"]]}


@router.post("/runs/{run_id}/cancel", summary="CancelRun", responses=ERRORS)
def cancel_run(run_id: str, service: ServiceDep, caller: Caller) -> dict[str, str]:
    principal, project = caller
    service.cancel(principal=principal, project_id=project, job_id=run_id)
    return {"run_id": run_id}
