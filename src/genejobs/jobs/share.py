"""Signed, expiring share links to a job's outputs: ``/share/{token}/{path}``.

The token is carried in the URL's path, not its query, so the report's relative links
(``qc/multiqc_report.html``, ``../<table>.csv``, ``methods.md``, figures) resolve to
other files under the same token. It reads ``v1.<job_id>.<expiry>.<signature>``: the
signature is an HMAC-SHA256 under the server's share secret over the project, the job
id, the job's output folder and the expiry. The project and folder are not in the
token; they come from the job's record, so a token for one job cannot be bent to another
job, another project or a moved folder. A share link serves only files in the job's
manifest (``jobs/store/ownership.py``); purging the job deletes its record and so
revokes every link to it.

Written with the standard library's ``hmac`` rather than a token library: the signature
must cover data that is not in the token (project, folder), which such libraries model
awkwardly, and the format is the product's own edge (it must survive in a URL path).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from genejobs.config import Settings
from genejobs.errors import JobNotFound, ShareLinkExpired, ShareLinkInvalid, ValidationError
from genejobs.jobs.browse import JobOutputs
from genejobs.jobs.service import JobService
from genejobs.jobs.store.auth import Principal
from genejobs.jobs.store.models import JobRow

VERSION = "v1"
DEFAULT_DAYS = 7
MAX_DAYS = 30
SECRET_FILE = "share-secret"
_TOKEN = re.compile(r"^v1\.([0-9a-f-]{36})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


def share_secret(settings: Settings) -> bytes:
    """``GENEJOBS_SHARE_SECRET``, else ``<home>/share-secret`` (made once, mode 0600, like
    the admin token). Every API server of one service must share it; replacing it revokes
    every link."""
    if settings.share_secret:
        return settings.share_secret.encode()
    path = Path(settings.home) / SECRET_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # O_EXCL: two servers starting together keep one secret, the first one's
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48) + "\n")
    return path.read_bytes().strip()


def _signature(secret: bytes, project: str, job_id: str, folder: str, expires: int) -> str:
    message = "\n".join((VERSION, project, job_id, folder, str(expires))).encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_token(secret: bytes, *, project: str, job_id: str, folder: str, expires: int) -> str:
    """A share token for one job's output folder until ``expires`` (epoch seconds)."""
    return f"{VERSION}.{job_id}.{expires}.{_signature(secret, project, job_id, folder, expires)}"


@dataclass(frozen=True)
class ShareLink:
    token: str
    path: str  # /share/<token>/<job_id>/report.html (or the table, without a report)
    expires_ms: int
    days: int


def create_link(
    service: JobService, *, principal: Principal, project_id: str, job_id: str, days: int
) -> ShareLink:
    """A link to a job this principal may see; ``days`` between 1 and ``MAX_DAYS``."""
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"days: must be between 1 and {MAX_DAYS}")
    with service.sessions() as s:
        row = service.visible_row(s, principal, project_id, job_id)
        where = JobOutputs.of(row)
    files = where.manifest.by_relative()
    if not files:
        raise JobNotFound(f"job '{job_id}' has no outputs to share (yet)")
    expires = int(time.time()) + days * 86400
    token = make_token(
        share_secret(service.settings),
        project=project_id,
        job_id=job_id,
        folder=where.manifest.root,
        expires=expires,
    )
    report = f"{job_id}/report.html"
    first = report if report in files else sorted(files)[0]
    return ShareLink(token, f"/share/{token}/{first}", expires * 1000, days)


def open_link(service: JobService, token: str) -> JobOutputs:
    """The outputs a token opens, or a named refusal: malformed or altered (403), expired
    (410), or the job is gone (purged: 404)."""
    found = _TOKEN.match(token)
    if found is None:
        raise ShareLinkInvalid("share link: the token is malformed (copy the whole link)")
    job_id, expires_s, given = found.group(1), int(found.group(2)), found.group(3)
    with service.sessions() as s:
        row = s.get(JobRow, job_id)
        if row is None:
            raise JobNotFound("share link: its job no longer exists (it was purged)")
        project = row.project_id
        where = JobOutputs.of(row)
    expected = _signature(
        share_secret(service.settings), project, job_id, where.manifest.root, expires_s
    )
    if not hmac.compare_digest(expected, given):
        raise ShareLinkInvalid(
            "share link: the signature does not match (the link was altered, or the server's "
            "share secret changed); ask for a new link"
        )
    if expires_s < time.time():
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires_s))
        raise ShareLinkExpired(f"share link: expired on {when}; ask for a new link")
    return where


__all__ = ["DEFAULT_DAYS", "MAX_DAYS", "ShareLink", "create_link", "make_token", "open_link"]
