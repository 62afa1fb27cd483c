"""A job owns only what it wrote: its new table, and the files in its manifest.

At submit the table must be a new path (no file or folder there, not claimed by another
job, not inside another job's artifacts folder); the job's record keeps a claim on it
(``jobs.table_claim``, unique) and a manifest (``jobs.manifest_json``) that the runner
fills with every file the job wrote (URI and size). Purge, the outputs routes and share
links go by the manifest alone, never by a folder listing: the database record is the
authority (a ``manifest.json`` in the artifacts folder is for people and can be forged).

Jobs submitted before ownership existed have no manifest ("legacy"). For them the
record's ``outputs_json`` (what the statistics step reported writing) stands in, but
only for files inside the job's own ``<job_id>/`` folder and a table named
``<job_id>.csv`` (a folder output): a legacy ``.csv`` output may have named somebody
else's file, so it is neither served nor deleted. A legacy job's QC files from the
sample steps (BAMs, RSeQC) were never recorded and stay in storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from genejobs.errors import OutputExists
from genejobs.jobs.store.models import JobRow
from genejobs.storage import Location, Storage

MANIFEST_VERSION = 1
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Written:
    """One file a job wrote: where, and how many bytes (what purge checks before deleting)."""

    uri: str
    size: int | None  # None: a legacy record, whose sizes were never kept


@dataclass(frozen=True)
class Manifest:
    """The job's table, its artifacts folder and every file it wrote."""

    table: str
    folder: str
    files: tuple[Written, ...]
    legacy: bool = False

    @property
    def root(self) -> str:
        """The folder holding both the table and ``<job_id>/``: what share links open."""
        return self.folder.rstrip("/").rsplit("/", 1)[0]

    def relative(self, uri: str) -> str | None:
        """``uri`` relative to ``root`` (``<job_id>/report.html``, ``x.csv``), or None."""
        prefix = self.root + "/"
        return uri[len(prefix) :] if uri.startswith(prefix) else None

    def by_relative(self) -> dict[str, Written]:
        return {rel: w for w in self.files if (rel := self.relative(w.uri)) is not None}

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": MANIFEST_VERSION,
                "table": self.table,
                "folder": self.folder,
                "files": [{"uri": w.uri, "size": w.size} for w in self.files],
            },
            separators=(",", ":"),
        )


def owns(table: str, folder: str, uri: str) -> bool:
    """Whether ``uri`` is one of the places a job may write: its table or inside its folder."""
    return uri == table or uri.startswith(folder.rstrip("/") + "/")


def new_manifest(table: str, folder: str) -> Manifest:
    """What a job's record holds at submit: its places, nothing written yet."""
    return Manifest(table=table, folder=folder, files=())


def with_written(manifest: Manifest, written: Iterable[tuple[str, int]]) -> Manifest:
    """The manifest plus files written (the latest size wins); places not the job's are
    dropped, so a forged report can never extend what purge deletes."""
    files = {w.uri: w for w in manifest.files}
    for uri, size in written:
        if owns(manifest.table, manifest.folder, uri):
            files[uri] = Written(uri, int(size))
    return Manifest(manifest.table, manifest.folder, tuple(files.values()))


def add_written(job: JobRow, written: Iterable[tuple[str, int]]) -> None:
    """Add files (URI, bytes) to the job's manifest in its record; only its own places."""
    if job.manifest_json is None:  # submitted before ownership: its places, from the request
        table = str(json.loads(job.request_json)["output"])
        base = new_manifest(table, artifacts_of(table, job.job_id))
    else:
        base = manifest_from_json(job.manifest_json)
    job.manifest_json = with_written(base, written).to_json()


def manifest_from_json(text: str) -> Manifest:
    """A manifest as stored in ``jobs.manifest_json``."""
    raw = json.loads(text)
    files = tuple(
        Written(str(f["uri"]), None if f.get("size") is None else int(f["size"]))
        for f in raw.get("files", [])
    )
    return Manifest(str(raw["table"]), str(raw["folder"]), files)


def manifest_of(row: JobRow, table: str, folder: str) -> Manifest:
    """The job's manifest, or for a legacy job what its record can vouch for (see above)."""
    if row.manifest_json is not None:
        stored = manifest_from_json(row.manifest_json)
        files = tuple(w for w in stored.files if owns(table, folder, w.uri))
        return Manifest(table, folder, files)
    reported: Mapping[str, Any] = json.loads(row.outputs_json or "{}")
    own_table = posixpath.basename(table) == f"{row.job_id}.csv"
    files = tuple(
        Written(uri, None)
        for uri in dict.fromkeys(str(v) for v in reported.values() if isinstance(v, str))
        if (uri == table and own_table) or (uri != table and owns(table, folder, uri))
    )
    return Manifest(table, folder, files, legacy=True)


# -- the door: a new table -----------------------------------------------------------


def claim_key(storage: Storage, loc: Location) -> str:
    """One name per place, whatever the spelling (s3a:// or s3://, a symlinked folder)."""
    if loc.is_s3:
        place = f"s3://{loc.bucket}/{loc.key}"
    else:
        parent = os.path.realpath(posixpath.dirname(loc.key))
        place = f"file://{posixpath.join(parent, posixpath.basename(loc.key))}"
    return hashlib.sha256(place.encode()).hexdigest()


def check_new_output(
    storage: Storage, session: Session, *, table: Location, folder: Location, field: str = "output"
) -> str:
    """Refuse a table that exists, is claimed or lies in another job's folder; the claim.

    The artifacts folder is named after the new job's id, so it cannot exist yet; it is
    checked all the same (a stale folder of the same name would mix files in).
    """
    how = (
        "a job writes only new files: name a new table (….csv) or a folder, where the "
        "table becomes <folder>/<job_id>.csv"
    )
    for loc, what in ((table, "table"), (folder, "artifacts folder")):
        kind = storage.kind(loc, field=field)
        if kind is not None:
            raise OutputExists(
                f"{field}: '{loc.original}' already exists (a {kind}); the job's {what} "
                f"must be a new path: {how}"
            )
    claim = claim_key(storage, table)
    if session.scalar(select(JobRow.job_id).where(JobRow.table_claim == claim)) is not None:
        raise OutputExists(f"{field}: '{table.original}' is the table of another job; {how}")
    # a table inside another job's artifacts folder (…/<job_id>/…) would mix its files in
    segments = table.key.split("/")[:-1]
    ids = [s for s in segments if _UUID.match(s)]
    if ids:
        found = session.execute(
            select(JobRow.job_id, JobRow.request_json).where(JobRow.job_id.in_(ids))
        ).all()
        for job_id, request_json in found:
            other = json.loads(request_json).get("output", "")
            other_folder = artifacts_of(str(other), job_id)
            if other_folder and _inside(storage, table, other_folder):
                raise OutputExists(
                    f"{field}: '{table.original}' is inside another job's outputs folder; {how}"
                )
    return claim


def artifacts_of(output: str, job_id: str) -> str:
    """The artifacts folder of a stored (resolved) output: ``<parent>/<job_id>``."""
    base = output.rstrip("/")
    return f"{base.rsplit('/', 1)[0]}/{job_id}" if base else ""


def _inside(storage: Storage, table: Location, folder_uri: str) -> bool:
    try:
        other = storage.location(folder_uri, field="output")
    except Exception:  # another job's stored output that no longer parses: not ours to judge
        return False
    if other.is_s3 != table.is_s3:
        return False
    if table.is_s3:
        return other.bucket == table.bucket and table.key.startswith(other.key.rstrip("/") + "/")
    real = os.path.realpath(posixpath.dirname(table.key)) + "/"
    return real.startswith(os.path.realpath(other.key).rstrip("/") + "/")


__all__ = [
    "add_written",
    "Manifest",
    "Written",
    "check_new_output",
    "claim_key",
    "manifest_from_json",
    "manifest_of",
    "new_manifest",
    "owns",
    "with_written",
]
