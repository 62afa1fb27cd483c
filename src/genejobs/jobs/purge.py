"""Purge: delete an ended job's outputs from storage, then its record."""

from __future__ import annotations

import json
import logging

from sqlalchemy import delete

from genejobs.errors import GeneJobsError, Unavailable
from genejobs.jobs.request.spec import artifacts_folder
from genejobs.jobs.service import JobService
from genejobs.jobs.states import ENDED, JobStatus
from genejobs.jobs.store.auth import Principal
from genejobs.jobs.store.models import JobRow, NotificationRow, WesRunRow

log = logging.getLogger(__name__)


def purge_job(service: JobService, *, principal: Principal, project_id: str, job_id: str) -> None:
    """Delete an ended job's outputs from storage, then its record (WES #218's ask).

    The table goes first (its presence tells clients the outputs are complete),
    then the ``<output>/<job_id>/`` folder, then the record: a purge that fails
    part-way leaves the record, and repeating it finishes the work.
    """
    with service.sessions() as s:
        row = service.visible_row(s, principal, project_id, job_id)
        status = JobStatus(row.status)
        request = json.loads(row.request_json)
    if status not in ENDED:
        raise Unavailable(f"job '{job_id}' is {status.value}; cancel it first, then delete it")
    table_uri, artifacts_uri = artifacts_folder(str(request["output"]), job_id)
    for uri in (table_uri, artifacts_uri):
        loc = service.storage.location(uri, field="output")
        try:
            service.storage.remove(loc)
        except GeneJobsError:
            raise
        except Exception as exc:  # storage unreachable, refused...: keep the record
            raise Unavailable(
                f"output: could not delete '{uri}' ({type(exc).__name__}); the job is "
                "kept, repeat the delete to finish"
            ) from exc
    with service.sessions.begin() as s:
        s.execute(delete(NotificationRow).where(NotificationRow.job_id == job_id))
        s.execute(delete(WesRunRow).where(WesRunRow.job_id == job_id))
        ended = s.get(JobRow, job_id)
        if ended is not None:
            s.delete(ended)
    log.info("job %s: purged by %s", job_id, principal.user)
