"""What the console reads besides jobs: references, storage listings and a job's outputs.

Every listing goes through ``Storage``, so the allowed local roots and the one S3
endpoint bound the console exactly as they bound a submission: a prefix that a
submit would refuse is refused here with the same error.
"""

from __future__ import annotations

import heapq
import mimetypes
import os
import posixpath
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genejobs.errors import JobNotFound, NotFound, PermissionDenied, ValidationError
from genejobs.jobs.request.spec import artifacts_folder
from genejobs.storage import Location, Storage

MAX_LIST = 1000
CHUNK_BYTES = 1 << 20


# -- references ------------------------------------------------------------------


def reference_catalogue(
    available: Mapping[str, Sequence[str]], registry: Any | None
) -> list[dict[str, Any]]:
    """What ``ref``/``gtf`` (and a QC ``bed``) may be: the names submit accepts, with details.

    ``available`` is the service's own list (what validation checks against); the
    registry, when given, adds genome size, gene counts and any BED registered in a
    reference's manifest.
    """
    details: dict[str, Any] = {}
    if registry is not None:
        for info in registry.list():
            details[info.name] = info
    out = []
    for name in sorted(available):
        info = details.get(name)
        genes = {a.name: a.n_genes for a in info.annotations.values()} if info else {}
        out.append(
            {
                "name": name,
                "annotations": sorted(available[name]),
                "genome_size": info.genome_size if info else None,
                "genes": max(genes.values()) if genes else None,
                "annotation_genes": genes,
                "beds": list(getattr(info, "beds", ()) or ()),
            }
        )
    return out


# -- storage listings ------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    uri: str
    size: int
    modified: str | None
    is_dir: bool


def _modified(raw: Mapping[str, Any]) -> str | None:
    value = raw.get("LastModified") or raw.get("mtime") or raw.get("last_modified")
    if value is None:
        return None
    if isinstance(value, int | float):
        from datetime import UTC, datetime

        return datetime.fromtimestamp(float(value), UTC).isoformat(timespec="seconds")
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)


def _child_uri(folder_original: str, name: str) -> str:
    base = folder_original if folder_original.endswith("/") else folder_original + "/"
    return base + name


def list_files(
    storage: Storage, prefix: str | None, *, limit: int = 100, marker: str | None = None
) -> dict[str, Any]:
    """Files and folders under ``prefix`` (a folder, or a folder plus a name prefix).

    Without a prefix, the places this service may read: its allowed local roots and
    the configured S3 endpoint's buckets. Pages are ordered by URI; ``marker`` is the
    last URI of the previous page (the folder is listed whole, then paged).
    """
    if not 1 <= limit <= MAX_LIST:
        raise ValidationError(f"limit: must be between 1 and {MAX_LIST}")
    if not prefix:
        entries = [Entry(str(root) + "/", 0, None, True) for root in storage.allowed_roots]
        entries += [Entry(f"s3a://{b}/", 0, None, True) for b in storage.buckets()]
        return _page(entries, limit, marker)
    loc = storage.location(prefix, field="prefix")
    folder, name_prefix = loc, ""
    if not prefix.endswith("/") and loc.key and not storage.is_folder(loc):
        folder, name_prefix = loc.parent, loc.name
        folder = Location(folder.scheme, folder.bucket, folder.key, folder.original + "/")
    if not folder.is_s3:
        return _local_page(storage, folder, name_prefix, limit, marker)
    raw_entries = storage.entries(folder, field="prefix")
    own = folder.fs_path.rstrip("/")
    entries = []
    for raw in raw_entries:
        path = str(raw.get("name", "")).rstrip("/")
        name = posixpath.basename(path)
        if path == own or not name or name.startswith(".") or not name.startswith(name_prefix):
            continue
        is_dir = raw.get("type") == "directory"
        if not folder.is_s3:
            # a symlink may lead out of the allowed roots: list only what submit would accept
            try:
                storage.location(path, field="prefix")
            except PermissionDenied:
                continue
        uri = _child_uri(folder.original, name) + ("/" if is_dir else "")
        entries.append(
            Entry(uri, 0 if is_dir else int(raw.get("size") or 0), _modified(raw), is_dir)
        )
    return _page(entries, limit, marker)


def _local_page(
    storage: Storage, folder: Location, name_prefix: str, limit: int, marker: str | None
) -> dict[str, Any]:
    """One page of a local folder at the cost of the page, not of the folder.

    The folder's names are read (``os.scandir``: no stat, no symlink resolution), the
    page's candidates picked by URI after ``marker``, and only those are stat'ed and
    checked against the allowed roots. A 100,000-file folder pages in milliseconds
    instead of ``realpath``-ing every file for every page.
    """
    names = storage.local_names(folder, field="prefix")
    base = _child_uri(folder.original, "")
    # URIs order as their names do after the common base; a folder's name ends in "/"
    after = ""
    if marker is not None:
        after = (
            marker[len(base) :]
            if marker.startswith(base)
            else ("" if marker < base else "\U0010ffff")
        )
    keys = [
        name + "/" if is_dir else name
        for name, is_dir in names
        if name.startswith(name_prefix) and not name.startswith(".")
    ]
    if after:
        keys = [k for k in keys if k > after]
    page: list[Entry] = []
    more = False
    while keys and not more:
        batch = heapq.nsmallest(limit + 1 - len(page), keys)
        for key in batch:
            if len(page) == limit:
                more = True
                break
            entry = _local_entry(storage, folder, key.rstrip("/"), base + key, key.endswith("/"))
            if entry is not None:
                page.append(entry)
        if not more:
            keys = [k for k in keys if k > batch[-1]]
    return _page(page, limit, None) | {"next_marker": page[-1].uri if more and page else None}


def _local_entry(
    storage: Storage, folder: Location, name: str, uri: str, is_dir: bool
) -> Entry | None:
    """The entry's size and time, or None when it may not be listed (a symlink that
    leads out of the allowed roots: listed only what submit would accept) or vanished."""
    path = posixpath.join(folder.key, name)
    try:
        storage.location(path, field="prefix")
        st = os.stat(path)
    except (PermissionDenied, OSError):
        return None
    return Entry(uri, 0 if is_dir else st.st_size, _modified({"mtime": st.st_mtime}), is_dir)


def _page(entries: list[Entry], limit: int, marker: str | None) -> dict[str, Any]:
    entries.sort(key=lambda e: e.uri)
    if marker:
        entries = [e for e in entries if e.uri > marker]
    page, more = entries[:limit], len(entries) > limit
    return {
        "files": [
            {"uri": e.uri, "size": e.size, "modified": e.modified} for e in page if not e.is_dir
        ],
        "folders": [e.uri for e in page if e.is_dir],
        "next_marker": page[-1].uri if more and page else None,
    }


# -- a job's outputs ---------------------------------------------------------------


@dataclass(frozen=True)
class JobOutputs:
    """Where one job wrote: its table and its artifacts folder ``<output>/<job_id>/``."""

    table: Location
    folder: Location

    @classmethod
    def of(cls, storage: Storage, stored_output: str, job_id: str) -> JobOutputs:
        table_uri, folder_uri = artifacts_folder(stored_output, job_id)
        return cls(
            table=storage.location(table_uri, field="output"),
            folder=storage.location(folder_uri, field="output"),
        )

    def listing(self, storage: Storage) -> list[dict[str, Any]]:
        """Every file the job wrote, relative to its folder; the table under its own name."""
        out: list[dict[str, Any]] = []
        root = self.folder.fs_path.rstrip("/")
        found = storage.tree(self.folder)
        for path, raw in sorted(found.items()):
            rel = path[len(root) :].lstrip("/")
            if raw.get("type") == "directory" or not rel:
                continue
            if any(part.startswith(".") for part in rel.split("/")):
                continue
            out.append({"path": rel, "size": int(raw.get("size") or 0)})
        try:
            table = storage.info(self.table, field="output")
            out.insert(0, {"path": self.table.name, "size": table.size_bytes})
        except (NotFound, PermissionDenied):
            pass
        return out

    def resolve(self, storage: Storage, path: str, job_id: str) -> Location:
        """The location of one output, never outside the job's folder (or its table)."""
        missing = JobNotFound(f"job '{job_id}' has no output '{path}'")
        if path == self.table.name:
            return self.table
        parts = path.split("/")
        if (
            not path
            or "\\" in path
            or "\x00" in path
            or any(p in ("", ".", "..") or p.startswith(".") for p in parts)
        ):
            raise missing
        loc = self.folder.join(*parts)
        if not loc.is_s3:
            real = Path(os.path.realpath(loc.key))
            base = Path(os.path.realpath(self.folder.key))
            if base not in real.parents:
                raise missing
        return loc


def content_headers(path: str) -> dict[str, str]:
    """HTML opens in the browser (sandboxed, so it cannot reach the console's storage);
    everything else downloads."""
    kind, _ = mimetypes.guess_type(path)
    name = posixpath.basename(path).replace('"', "")
    if path.endswith((".html", ".htm")):
        return {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Disposition": f'inline; filename="{name}"',
            "Content-Security-Policy": "sandbox allow-scripts allow-popups allow-downloads",
        }
    if path.endswith((".png", ".svg")):
        return {"Content-Type": kind or "application/octet-stream", "Content-Disposition": "inline"}
    return {
        "Content-Type": kind or "application/octet-stream",
        "Content-Disposition": f'attachment; filename="{name}"',
    }


def stream(storage: Storage, loc: Location) -> Generator[bytes, None, None]:
    with storage.open_read(loc) as fh:
        while chunk := fh.read(CHUNK_BYTES):
            yield chunk


__all__ = [
    "JobOutputs",
    "content_headers",
    "list_files",
    "reference_catalogue",
    "stream",
]
