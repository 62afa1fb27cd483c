"""What the console reads besides jobs: references, storage listings and a job's outputs.

Every listing goes through ``Storage``, so the allowed local roots and the one S3
endpoint bound the console exactly as they bound a submission: a prefix that a
submit would refuse is refused here with the same error.
"""

from __future__ import annotations

import heapq
import json
import mimetypes
import os
import posixpath
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from genejobs.errors import GeneJobsError, JobNotFound, PermissionDenied, ValidationError
from genejobs.jobs.request.spec import artifacts_folder
from genejobs.jobs.service import JobService
from genejobs.jobs.store.auth import Principal
from genejobs.jobs.store.models import JobRow
from genejobs.jobs.store.ownership import Manifest, Written, manifest_of
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


@dataclass(frozen=True)
class PrivateFolders:
    """The service's own folders (its home with the token and database, the reference
    store, the sample cache): never offered as data, even under an allowed root.

    A data root inside one of them (the default ``<home>/data``) stays browsable.
    """

    local: tuple[Path, ...] = ()
    remote: tuple[str, ...] = ()  # s3 prefixes such as a shared reference store

    @classmethod
    def of(cls, settings: Any) -> PrivateFolders:
        local = [settings.home, settings.reference_root, settings.sample_cache_root]
        remote = [settings.reference_uri] if settings.reference_uri else []
        return cls(
            tuple(Path(p).resolve() for p in local),
            tuple(_s3_key(r) for r in remote),
        )

    def hides(self, loc: Location, roots: Sequence[Path]) -> bool:
        if loc.is_s3:
            key = _s3_key(loc.original)
            return any(key == r or key.startswith(r + "/") for r in self.remote)
        path = Path(os.path.realpath(loc.key))
        for private in self.local:
            if path != private and private not in path.parents:
                continue
            inner_roots = [r for r in roots if private in r.parents]
            if not any(path == r or r in path.parents for r in inner_roots):
                return True
        return False


def _s3_key(uri: str) -> str:
    """``s3a://bucket/a/b/`` -> ``bucket/a/b`` (any s3 scheme)."""
    return uri.split("://", 1)[-1].strip("/")


def list_files(
    storage: Storage,
    prefix: str | None,
    *,
    limit: int = 100,
    marker: str | None = None,
    private: PrivateFolders | None = None,
) -> dict[str, Any]:
    """Files and folders under ``prefix`` (a folder, or a folder plus a name prefix).

    Without a prefix, the places this service may read: its allowed local roots and
    the configured S3 endpoint's buckets. Pages are ordered by URI; ``marker`` is the
    last URI of the previous page (the folder is listed whole, then paged). The
    service's own folders (``private``) are neither listed nor browsable.
    """
    if not 1 <= limit <= MAX_LIST:
        raise ValidationError(f"limit: must be between 1 and {MAX_LIST}")
    private = private or PrivateFolders()
    roots = storage.allowed_roots
    if not prefix:
        entries = [
            Entry(str(root) + "/", 0, None, True)
            for root in roots
            if not private.hides(storage.location(str(root), field="prefix"), roots)
        ]
        entries += [Entry(f"s3a://{b}/", 0, None, True) for b in storage.buckets()]
        return _page(entries, limit, marker)
    loc = storage.location(prefix, field="prefix")
    if private.hides(loc, roots):
        raise PermissionDenied(
            f"prefix: '{prefix}' is the service's own storage (its home, reference store "
            "or cache), not data to read"
        )
    folder, name_prefix = loc, ""
    if not prefix.endswith("/") and loc.key and not storage.is_folder(loc):
        folder, name_prefix = loc.parent, loc.name
        folder = Location(folder.scheme, folder.bucket, folder.key, folder.original + "/")
    if not folder.is_s3:
        return _local_page(storage, folder, name_prefix, limit, marker, private)
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
        if private.hides(storage.location(uri, field="prefix"), roots):
            continue
        entries.append(
            Entry(uri, 0 if is_dir else int(raw.get("size") or 0), _modified(raw), is_dir)
        )
    return _page(entries, limit, marker)


def _local_page(
    storage: Storage,
    folder: Location,
    name_prefix: str,
    limit: int,
    marker: str | None,
    private: PrivateFolders,
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
            entry = _local_entry(
                storage, folder, key.rstrip("/"), base + key, key.endswith("/"), private
            )
            if entry is not None:
                page.append(entry)
        if not more:
            keys = [k for k in keys if k > batch[-1]]
    return _page(page, limit, None) | {"next_marker": page[-1].uri if more and page else None}


def _local_entry(
    storage: Storage,
    folder: Location,
    name: str,
    uri: str,
    is_dir: bool,
    private: PrivateFolders,
) -> Entry | None:
    """The entry's size and time, or None when it may not be listed (a symlink that
    leads out of the allowed roots: listed only what submit would accept; the service's
    own folders) or vanished."""
    path = posixpath.join(folder.key, name)
    try:
        if private.hides(storage.location(path, field="prefix"), storage.allowed_roots):
            return None
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
    """What one job wrote, by its manifest (``jobs/store/ownership.py``): its table and the
    files in ``<output>/<job_id>/``. Nothing else is listed, served or shared."""

    job_id: str
    manifest: Manifest

    @classmethod
    def of(cls, row: JobRow) -> JobOutputs:
        table, folder = artifacts_folder(str(json.loads(row.request_json)["output"]), row.job_id)
        return cls(row.job_id, manifest_of(row, table, folder))

    @property
    def table_name(self) -> str:
        return posixpath.basename(self.manifest.table)

    def _named(self) -> dict[str, Written]:
        """Listing name → file: the table under its own name, the rest relative to the folder."""
        prefix = self.manifest.folder.rstrip("/") + "/"
        out: dict[str, Written] = {}
        for w in self.manifest.files:
            if w.uri == self.manifest.table:
                out[self.table_name] = w
            elif w.uri.startswith(prefix):
                out.setdefault(w.uri[len(prefix) :], w)
        return out

    def listing(self, storage: Storage) -> list[dict[str, Any]]:
        """Every file the job wrote with the size it wrote (a legacy record: the file's own
        size now, never a symlink's target's); the table first."""
        out: list[dict[str, Any]] = []
        for name, w in sorted(
            self._named().items(), key=lambda kv: (kv[0] != self.table_name, kv[0])
        ):
            size = w.size
            if size is None:
                size = storage.own_size(storage.location(w.uri, field="output"), field="output")
                if size is None:  # gone, a folder or a symlink: not something the job wrote
                    continue
            out.append({"path": name, "size": size})
        return out

    def resolve(self, storage: Storage, path: str) -> Location:
        """An output by its listing name; only files in the manifest, never a symlink."""
        found = self._named().get(path)
        if found is None:
            raise JobNotFound(f"job '{self.job_id}' has no output '{path}'")
        return self._checked(storage, found.uri, path)

    def resolve_shared(self, storage: Storage, path: str) -> Location:
        """An output by its path under the share root (``<job_id>/report.html``, ``x.csv``)."""
        found = self.manifest.by_relative().get(path)
        if found is None:
            raise JobNotFound(f"this share link has no file '{path}'")
        return self._checked(storage, found.uri, path)

    def _checked(self, storage: Storage, uri: str, path: str) -> Location:
        missing = JobNotFound(f"job '{self.job_id}' has no output '{path}'")
        try:
            loc = storage.location(uri, field="output")
        except GeneJobsError as exc:
            raise missing from exc
        if not loc.is_s3:
            # a file replaced by a symlink, or a folder on the way swapped for one, is refused
            if storage.own_size(loc) is None:
                raise missing
            home = self.manifest.folder if uri != self.manifest.table else None
            real_parent = Path(os.path.realpath(posixpath.dirname(loc.key)))
            if home is not None:
                base = Path(os.path.realpath(storage.location(home, field="output").key))
                if real_parent != base and base not in real_parent.parents:
                    raise missing
        return loc


def outputs_of(
    service: JobService, principal: Principal, project_id: str, job_id: str
) -> JobOutputs:
    """The outputs of a job this principal may see (else ``JobNotFound``)."""
    with service.sessions() as s:
        return JobOutputs.of(service.visible_row(s, principal, project_id, job_id))


def sized(storage: Storage, loc: Location, job_id: str, path: str) -> int:
    """The bytes a response will stream: the file's own size (never a symlink's)."""
    size = storage.own_size(loc, field="output")
    if size is None:
        raise JobNotFound(f"job '{job_id}' has no output '{path}'")
    return size


ACTIVE_SUFFIXES = (".html", ".htm", ".xhtml", ".svg", ".svgz", ".xml", ".xsl", ".js", ".mjs")
SANDBOX = "sandbox allow-scripts allow-popups allow-downloads"


def disposition(kind: str, path: str) -> str:
    """``inline``/``attachment`` with the file's name, RFC 6266/5987: an ASCII fallback and,
    when the name is not plain ASCII, ``filename*`` in UTF-8 (``résultats-€.csv``)."""
    name = posixpath.basename(path)
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    value = f'{kind}; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def content_headers(path: str) -> dict[str, str]:
    """HTML, SVG and every other active type open only under a sandbox CSP (an opaque
    origin: no script in them can reach the console's token); images open inline; the
    rest downloads. ``nosniff`` always, so no browser guesses a type into HTML."""
    kind, _ = mimetypes.guess_type(path)
    lower = path.lower()
    base = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    if lower.endswith((".html", ".htm")):
        return base | {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Disposition": disposition("inline", path),
            "Content-Security-Policy": SANDBOX,
        }
    if lower.endswith(ACTIVE_SUFFIXES):
        return base | {
            "Content-Type": kind or "application/octet-stream",
            "Content-Disposition": disposition("inline", path),
            "Content-Security-Policy": SANDBOX,
        }
    if lower.endswith((".png", ".jpg", ".jpeg", ".gif", ".webp")):
        return base | {
            "Content-Type": kind or "application/octet-stream",
            "Content-Disposition": disposition("inline", path),
            "Content-Security-Policy": "sandbox",
        }
    if lower.endswith((".md", ".txt")):  # read in the browser, as text
        return base | {
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Disposition": disposition("inline", path),
            "Content-Security-Policy": "sandbox",
        }
    return base | {
        "Content-Type": kind or "application/octet-stream",
        "Content-Disposition": disposition("attachment", path),
    }


# A sandboxed page (an opaque origin) has no localStorage: reading it throws, and MultiQC's
# theme code does so outside any try. This page-local, in-memory stand-in (the console's,
# server-side here for share links) keeps such pages working; it reaches nothing stored.
STORAGE_SHIM = (
    b"<script>try { window.localStorage.length; } catch (e) { const m = new Map(); "
    b'Object.defineProperty(window, "localStorage", { configurable: true, value: { '
    b"get length() { return m.size; }, key: i => [...m.keys()][i] ?? null, "
    b"getItem: k => m.has(k) ? m.get(k) : null, setItem: (k, v) => m.set(k, String(v)), "
    b"removeItem: k => m.delete(k), clear: () => m.clear() } }); }</script>"
)
SHIM_MAX_BYTES = 64 << 20  # larger HTML is streamed as is


def with_storage_shim(html: bytes) -> bytes:
    """``html`` with ``STORAGE_SHIM`` first in its head (or first of all, without one)."""
    head = re.search(rb"<head[^>]*>", html[:65536], re.IGNORECASE)
    at = head.end() if head else 0
    return html[:at] + STORAGE_SHIM + html[at:]


def stream(storage: Storage, loc: Location) -> Generator[bytes, None, None]:
    with storage.open_read(loc) as fh:
        while chunk := fh.read(CHUNK_BYTES):
            yield chunk


__all__ = [
    "JobOutputs",
    "PrivateFolders",
    "content_headers",
    "disposition",
    "list_files",
    "outputs_of",
    "sized",
    "reference_catalogue",
    "stream",
    "with_storage_shim",
]
