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
from genejobs.jobs.store.ownership import manifest_of, owns

log = logging.getLogger(__name__)


def purge_job(service: JobService, *, principal: Principal, project_id: str, job_id: str) -> None:
    """Delete the files an ended job wrote (its manifest, nothing else), then its record.

    The table goes first (its presence tells clients the outputs are complete), then the
    other files one by one; folders are never deleted (an emptied local folder stays). A
    file is deleted only if it is in the job's manifest, inside the job's own places, a
    file (not a folder, not a symlink's target) and, when the manifest knows its size, of
    that size: anything else at that path is not what the job wrote and is kept. A purge
    that fails part-way keeps the record, and repeating it finishes the work. Deleting the
    record revokes the job's share links.
    """
    with service.sessions() as s:
        row = service.visible_row(s, principal, project_id, job_id)
        status = JobStatus(row.status)
        table, folder = artifacts_folder(str(json.loads(row.request_json)["output"]), job_id)
        manifest = manifest_of(row, table, folder)
    if status not in ENDED:
        raise Unavailable(f"job '{job_id}' is {status.value}; cancel it first, then delete it")
    files = sorted(manifest.files, key=lambda w: w.uri != manifest.table)
    kept: list[str] = []
    for written in files:
        if not owns(manifest.table, manifest.folder, written.uri):  # checked again, each time
            continue
        loc = service.storage.location(written.uri, field="output")
        try:
            size = service.storage.own_size(loc, field="output")
            if size is None:
                if service.storage.kind(loc, field="output") is None:
                    continue  # already gone (a repeated purge)
                kept.append(written.uri)  # a folder or a symlink now: not the job's file
                continue
            if written.size is not None and size != written.size:
                kept.append(written.uri)  # rewritten by someone else since
                continue
            service.storage.remove_file(loc)
        except GeneJobsError:
            raise
        except Exception as exc:  # storage unreachable, refused...: keep the record
            raise Unavailable(
                f"output: could not delete '{written.uri}' ({type(exc).__name__}); the job "
                "is kept, repeat the delete to finish"
            ) from exc
    if kept:
        log.warning(
            "job %s: purge kept %d path(s) that are no longer what it wrote: %s",
            job_id,
            len(kept),
            ", ".join(kept[:5]),
        )
    with service.sessions.begin() as s:
        s.execute(delete(NotificationRow).where(NotificationRow.job_id == job_id))
        s.execute(delete(WesRunRow).where(WesRunRow.job_id == job_id))
        ended = s.get(JobRow, job_id)
        if ended is not None:
            s.delete(ended)
    log.info(
        "job %s: purged by %s (%d file(s)%s)",
        job_id,
        principal.user,
        len(files) - len(kept),
        ", legacy record: only files it vouches for" if manifest.legacy else "",
    )
