"""File operations over local folders and S3, through fsspec/s3fs.

A ``Storage`` is built from settings and is picklable, so Dask workers get the
same view of the world as the API. Local paths are confined to the allowed
roots (symlinks resolved), S3 paths go to the one configured endpoint.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import errno
import os
import shutil
import stat
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import fsspec

from genejobs.errors import NoSpaceLeft, NotFound, PermissionDenied, StorageUnavailable
from genejobs.storage.locations import Location, parse_uri

# An unreachable endpoint must answer within ~3 s, not botocore's default 60 s connect
# timeout with up to 5 attempts (6-12 s against a closed port). One retry still rides
# over a dropped connection; reads keep a long timeout (large objects, busy servers).
S3_CONNECT_TIMEOUT_S = 2.0
S3_READ_TIMEOUT_S = 60.0
S3_MAX_ATTEMPTS = 2
S3FS_RETRIES = 5  # s3fs's own loop around botocore's (its default)
S3_MAX_CONNECTIONS = 32


@dataclass(frozen=True)
class S3Timeouts:
    """How long one storage call may wait, and how often it is tried.

    s3fs retries a timed-out call itself (``retries``) around botocore's attempts, so
    the worst case of one call is about ``retries x attempts x (connect + read)``.
    """

    connect_s: float = S3_CONNECT_TIMEOUT_S
    read_s: float = S3_READ_TIMEOUT_S
    attempts: int = S3_MAX_ATTEMPTS
    retries: int = S3FS_RETRIES


BATCH = S3Timeouts()
# The API answers people: a stalled endpoint (it accepts connections, never answers) is a
# 503 naming it within ~7 s (2 s connect + 5 s read, one try), not minutes later.
INTERACTIVE = S3Timeouts(connect_s=2.0, read_s=5.0, attempts=1, retries=1)


# When the current request must be answered by (time.monotonic()), set by the API's
# storage pool around a request's work: a storage call started later is refused at
# once, so one request's calls cannot add up their timeouts (submit checks many files).
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "genejobs_storage_deadline", default=None
)


@contextlib.contextmanager
def deadline_in(seconds: float) -> Iterator[None]:
    """Storage calls made inside start only within ``seconds`` from now."""
    token = DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        DEADLINE.reset(token)


@dataclass(frozen=True)
class FileInfo:
    """What submission checks and the sample cache need to know about an input."""

    size_bytes: int
    identity: str  # changes whenever the content may have changed (ETag or mtime)


class Storage:
    """One view of local files and one S3 endpoint."""

    def __init__(
        self,
        *,
        allowed_roots: tuple[Path, ...] = (),
        s3_endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        timeouts: S3Timeouts = BATCH,
    ) -> None:
        self.timeouts = timeouts
        self.allowed_roots = tuple(Path(r).resolve() for r in allowed_roots)
        self.s3_endpoint_url = s3_endpoint_url
        self._key = aws_access_key_id
        self._secret = aws_secret_access_key
        self._s3: Any = None

    @classmethod
    def from_settings(cls, settings: Any) -> Storage:
        return cls(
            allowed_roots=settings.allowed_roots,
            s3_endpoint_url=settings.s3_endpoint_url,
            aws_access_key_id=settings.aws_access_key_id,
            aws_secret_access_key=settings.aws_secret_access_key,
        )

    def interactive(self) -> Storage:
        """The same view (and class) with the API's short timeouts (see ``INTERACTIVE``)."""
        interactive = copy.copy(self)
        interactive.timeouts = INTERACTIVE
        interactive._s3 = None  # built again with those timeouts
        return interactive

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_s3"] = None  # rebuilt lazily in the worker process
        return state

    # -- filesystems ---------------------------------------------------------

    def filesystem(self, loc: Location) -> Any:
        if not loc.is_s3:
            return fsspec.filesystem("file")
        if self._s3 is None:
            client_kwargs: dict[str, Any] = {}
            if self.s3_endpoint_url:
                client_kwargs["endpoint_url"] = self.s3_endpoint_url
            creds: dict[str, Any] = {}
            if self._key:
                creds = {"key": self._key, "secret": self._secret}
            config = {
                "connect_timeout": self.timeouts.connect_s,
                "read_timeout": self.timeouts.read_s,
                "retries": {"total_max_attempts": self.timeouts.attempts, "mode": "standard"},
                # more connections than the API's storage pool has places: a call must not
                # wait for a connection held by a stalled one (botocore's default is 10)
                "max_pool_connections": S3_MAX_CONNECTIONS,
            }
            self._s3 = fsspec.filesystem(
                "s3",
                client_kwargs=client_kwargs,
                config_kwargs=config,
                skip_instance_cache=True,
                # A long-lived service must see what others wrote or created since:
                # s3fs would otherwise answer from listings it cached (a bucket created
                # after the buckets were listed "does not exist").
                use_listings_cache=False,
                **creds,
            )
            self._s3.retries = self.timeouts.retries  # s3fs's own retry loop (no init arg)
        return self._s3

    @property
    def s3_endpoint_name(self) -> str:
        """The endpoint as messages name it, including when none is configured."""
        if self.s3_endpoint_url:
            return self.s3_endpoint_url
        return "AWS's default (GENEJOBS_S3_ENDPOINT_URL is not set)"

    @contextlib.contextmanager
    def _reachable(self, loc: Location, field: str) -> Iterator[None]:
        """Turn 'cannot talk to the S3 endpoint' into ``StorageUnavailable`` naming it."""
        until = DEADLINE.get()
        if loc.is_s3 and until is not None and time.monotonic() > until:
            raise StorageUnavailable(
                f"{field}: '{loc.original}' cannot be accessed: storage endpoint "
                f"{self.s3_endpoint_name} is too slow to answer this request in time"
            )
        try:
            yield
        except Exception as exc:
            reason = _unreachable_reason(exc, self.timeouts) if loc.is_s3 else None
            if reason is None:
                raise
            raise StorageUnavailable(
                f"{field}: '{loc.original}' cannot be accessed: storage endpoint "
                f"{self.s3_endpoint_name} {reason}"
            ) from exc

    def location(self, uri: str | Location, *, field: str = "path") -> Location:
        """Parse and confine: a local path must resolve inside an allowed root."""
        loc = uri if isinstance(uri, Location) else parse_uri(uri, field=field)
        if not loc.is_s3:
            self._confine(loc, field)
        return loc

    def _confine(self, loc: Location, field: str) -> None:
        resolved = Path(os.path.realpath(loc.key))
        for root in self.allowed_roots:
            if resolved == root or root in resolved.parents:
                return
        raise PermissionDenied(
            f"{field}: '{loc.original}' is outside the allowed local roots "
            f"({', '.join(str(r) for r in self.allowed_roots) or 'none configured'}); "
            "the server's GENEJOBS_ALLOWED_ROOTS (colon-separated folders) sets them"
        )

    # -- reads ---------------------------------------------------------------

    def info(self, loc: Location, *, field: str = "path") -> FileInfo:
        """Size and identity of an existing file, or ``NotFound``/``PermissionDenied``."""
        fs = self.filesystem(loc)
        try:
            with self._reachable(loc, field):
                raw = fs.info(loc.fs_path)
        except StorageUnavailable:
            raise
        except FileNotFoundError as exc:
            raise NotFound(f"{field}: '{loc.original}' does not exist") from exc
        except PermissionError as exc:
            raise PermissionDenied(f"{field}: '{loc.original}' cannot be read") from exc
        except OSError as exc:
            raise NotFound(f"{field}: '{loc.original}' cannot be reached ({exc})") from exc
        if raw.get("type") == "directory":
            raise NotFound(f"{field}: '{loc.original}' is a folder, not a file")
        size = int(raw.get("size") or 0)
        tag = raw.get("ETag") or raw.get("etag") or raw.get("mtime") or raw.get("LastModified")
        if not loc.is_s3 and not os.access(loc.key, os.R_OK):
            raise PermissionDenied(f"{field}: '{loc.original}' cannot be read")
        return FileInfo(size_bytes=size, identity=f"{size}:{str(tag).strip(chr(34))}")

    def kind(self, loc: Location, *, field: str = "path") -> str | None:
        """What is at ``loc`` without following a final symlink: "file", "folder",
        "symbolic link", or None when nothing is there."""
        if not loc.is_s3:
            try:
                mode = os.lstat(loc.key).st_mode
            except FileNotFoundError:
                return None
            except NotADirectoryError:  # a parent is a file: nothing can be here
                return None
            except PermissionError as exc:
                raise PermissionDenied(f"{field}: '{loc.original}' cannot be checked") from exc
            if stat.S_ISLNK(mode):
                return "symbolic link"
            return "folder" if stat.S_ISDIR(mode) else "file"
        try:
            with self._reachable(loc, field):
                raw = self.filesystem(loc).info(loc.fs_path)
        except FileNotFoundError:
            return None
        except PermissionError as exc:
            raise PermissionDenied(f"{field}: '{loc.original}' cannot be checked") from exc
        return "folder" if raw.get("type") == "directory" else "file"

    def own_size(self, loc: Location, *, field: str = "path") -> int | None:
        """A regular file's own size (never a symlink's target's); None for anything else
        (missing, a folder, a symlink)."""
        if not loc.is_s3:
            try:
                st = os.lstat(loc.key)
            except OSError:
                return None
            return st.st_size if stat.S_ISREG(st.st_mode) else None
        try:
            with self._reachable(loc, field):
                raw = self.filesystem(loc).info(loc.fs_path)
        except (FileNotFoundError, PermissionError):
            return None
        return None if raw.get("type") == "directory" else int(raw.get("size") or 0)

    def remove_file(self, loc: Location) -> None:
        """Delete one file (locally a symlink itself, never its target); never a folder."""
        if not loc.is_s3:
            with _mapped_errors(loc, "path", "cannot be deleted"):
                if stat.S_ISDIR(os.lstat(loc.key).st_mode):
                    raise PermissionDenied(f"path: '{loc.original}' is a folder; not deleted")
                os.unlink(loc.key)
            return
        with self._reachable(loc, "path"):
            self.filesystem(loc).rm_file(loc.fs_path)

    def exists(self, loc: Location) -> bool:
        with _mapped_errors(loc, "path", "cannot be read"), self._reachable(loc, "path"):
            return bool(self.filesystem(loc).exists(loc.fs_path))

    def open_read(self, loc: Location, *, field: str = "path") -> IO[bytes]:
        """A streaming binary reader (S3 reads are ranged, not a full download)."""
        fs = self.filesystem(loc)
        with _mapped_errors(loc, field, "cannot be read"), self._reachable(loc, field):
            fh: IO[bytes] = fs.open(loc.fs_path, "rb", block_size=4 * 1024 * 1024)
        if not loc.is_s3:
            return fh
        # the endpoint may go away in the middle of a job: later reads name it too
        guarded = _GuardedReader(fh, lambda: self._reachable(loc, field))
        return cast(IO[bytes], guarded)  # a file object: what it does not wrap, it passes on

    def read_bytes(self, loc: Location) -> bytes:
        with self.open_read(loc) as fh:
            return fh.read()

    @contextlib.contextmanager
    def local_copy(self, loc: Location) -> Iterator[Path]:
        """A local path for tools that need one (pysam, RSeQC); S3 objects are fetched."""
        if not loc.is_s3:
            yield Path(loc.key)
            return
        with tempfile.TemporaryDirectory(prefix="genejobs-") as tmp:
            dest = Path(tmp) / (loc.name or "object")
            with _mapped_errors(loc, "path", "cannot be read"), self._reachable(loc, "path"):
                self.filesystem(loc).get(loc.fs_path, str(dest))
            yield dest

    # -- writes --------------------------------------------------------------

    def check_writable(self, loc: Location, *, field: str = "output") -> None:
        """Prove that a file can be created at ``loc`` (a probe written and removed)."""
        probe = loc.join(f".genejobs-probe-{uuid.uuid4().hex}")
        try:
            if loc.is_s3:
                fs = self.filesystem(loc)
                # ``fs.exists`` swallows a refused signature and answers False, and a
                # PUT may silently create the bucket (SeaweedFS does): ask the bucket.
                try:
                    with self._reachable(loc, field):
                        fs.info(loc.bucket)
                except FileNotFoundError as exc:
                    raise NotFound(f"{field}: bucket '{loc.bucket}' does not exist") from exc
                except PermissionError as exc:
                    raise PermissionDenied(
                        f"{field}: '{loc.original}' is not writable (access to bucket "
                        f"'{loc.bucket}' denied)"
                    ) from exc
                with self._reachable(loc, field):
                    fs.pipe(probe.fs_path, b"")
                    fs.rm(probe.fs_path)
            else:
                Path(loc.key).mkdir(parents=True, exist_ok=True)
                Path(probe.key).write_bytes(b"")
                Path(probe.key).unlink()
        except (NotFound, PermissionDenied, StorageUnavailable):
            raise
        except OSError as exc:
            raise PermissionDenied(f"{field}: '{loc.original}' is not writable ({exc})") from exc

    def write_bytes(self, loc: Location, data: bytes) -> None:
        """Write a whole object: readers see the old state or the new one, never a part.

        S3 PUTs are atomic per object; locally we write a temporary sibling and rename.
        """
        if loc.is_s3:
            with _mapped_errors(loc, "output", "cannot be written"), self._reachable(loc, "output"):
                self.filesystem(loc).pipe(loc.fs_path, data)
            return
        with _mapped_errors(loc, "output", "cannot be written"), _replacing(Path(loc.key)) as out:
            out.write(data)

    def put_file(self, local: Path, loc: Location) -> None:
        """Upload or copy a finished local file to ``loc``, atomically as ``write_bytes``."""
        if loc.is_s3:
            with _mapped_errors(loc, "output", "cannot be written"), self._reachable(loc, "output"):
                self.filesystem(loc).put_file(str(local), loc.fs_path)
            return
        with (
            open(local, "rb") as src,
            _mapped_errors(loc, "output", "cannot be written"),
            _replacing(Path(loc.key)) as out,
        ):
            shutil.copyfileobj(src, out, 1 << 20)

    def remove(self, loc: Location) -> None:
        fs = self.filesystem(loc)
        with self._reachable(loc, "path"):
            if fs.exists(loc.fs_path):
                fs.rm(loc.fs_path, recursive=True)

    # -- browsing (the console's files and outputs listings) ---------------------

    def buckets(self) -> list[str]:
        """The configured S3 endpoint's buckets; none when it has none we may list."""
        if not self.s3_endpoint_url:
            return []
        loc = Location("s3", "-", "", "s3a://")
        try:
            with self._reachable(loc, "prefix"):
                found = self.filesystem(loc).ls("", detail=False, refresh=True)
        except (StorageUnavailable, OSError, ValueError):
            return []
        return sorted(str(b).strip("/") for b in found)

    def is_folder(self, loc: Location, *, field: str = "prefix") -> bool:
        try:
            with self._reachable(loc, field):
                return bool(self.filesystem(loc).isdir(loc.fs_path))
        except (FileNotFoundError, PermissionError):
            return False

    def entries(self, loc: Location, *, field: str = "prefix") -> list[dict[str, Any]]:
        """The folder's children as fsspec describes them (name, size, type, times)."""
        try:
            with self._reachable(loc, field):
                return list(self.filesystem(loc).ls(loc.fs_path or "/", detail=True))
        except FileNotFoundError as exc:
            raise NotFound(f"{field}: '{loc.original}' does not exist") from exc
        except PermissionError as exc:
            raise PermissionDenied(f"{field}: '{loc.original}' cannot be listed") from exc
        except OSError as exc:
            raise NotFound(f"{field}: '{loc.original}' cannot be listed ({exc})") from exc

    def local_names(self, loc: Location, *, field: str = "prefix") -> list[tuple[str, bool]]:
        """A local folder's (name, is a folder) pairs, read without a stat per file."""
        try:
            with os.scandir(loc.key) as it:
                return [(e.name, _is_dir(e)) for e in it]
        except FileNotFoundError as exc:
            raise NotFound(f"{field}: '{loc.original}' does not exist") from exc
        except NotADirectoryError as exc:
            raise NotFound(f"{field}: '{loc.original}' is not a folder") from exc
        except PermissionError as exc:
            raise PermissionDenied(f"{field}: '{loc.original}' cannot be listed") from exc
        except OSError as exc:
            raise NotFound(f"{field}: '{loc.original}' cannot be listed ({exc})") from exc

    def tree(self, loc: Location, *, field: str = "output") -> dict[str, dict[str, Any]]:
        """Every file under a folder (path → details); empty when the folder is absent."""
        fs = self.filesystem(loc)
        try:
            with self._reachable(loc, field):
                if not fs.exists(loc.fs_path):
                    return {}
                return dict(fs.find(loc.fs_path, detail=True))
        except FileNotFoundError:
            return {}
        except PermissionError as exc:
            raise PermissionDenied(f"{field}: '{loc.original}' cannot be listed") from exc

    def listdir(self, loc: Location) -> list[str]:
        fs = self.filesystem(loc)
        with self._reachable(loc, "path"):
            if not fs.exists(loc.fs_path):
                return []
            own = loc.fs_path.rstrip("/")
            # S3 servers may list a folder's own marker object ("dir/") as its child
            return sorted(
                os.path.basename(p.rstrip("/"))
                for p in fs.ls(loc.fs_path, detail=False)
                if p.rstrip("/") != own
            )


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # the d_type the listing gave; a stat only for symlinks
    except OSError:
        return False


def _unreachable_reason(exc: BaseException, timeouts: S3Timeouts = BATCH) -> str | None:
    """Why the S3 endpoint could not be talked to, or None for any other error."""
    from botocore import exceptions as bx  # s3fs's own dependency; only needed on failure

    if isinstance(exc, bx.ConnectTimeoutError):
        return f"did not accept a connection within {timeouts.connect_s:g} s"
    if isinstance(exc, bx.ReadTimeoutError):
        return f"did not answer within {timeouts.read_s:g} s"
    if isinstance(exc, bx.ConnectionError):
        return "cannot be reached (could not connect)"
    if isinstance(exc, bx.HTTPClientError):
        return "dropped the connection"
    if isinstance(exc, bx.NoCredentialsError):
        return (
            "needs credentials and none are configured (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, TimeoutError):
        return "did not answer in time"
    return None


class _GuardedReader:
    """A file object whose reads name the storage endpoint when it stops answering."""

    def __init__(
        self, raw: IO[bytes], guard: Callable[[], contextlib.AbstractContextManager[None]]
    ) -> None:
        self._raw = raw
        self._guard = guard

    def read(self, size: int = -1) -> bytes:
        with self._guard():
            return self._raw.read(size)

    def readinto(self, buffer: Any) -> int:
        with self._guard():
            count: int = self._raw.readinto(buffer)  # type: ignore[attr-defined]  # IO[bytes] has no readinto; fsspec's files do
            return count

    def __enter__(self) -> _GuardedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


@contextlib.contextmanager
def _replacing(target: Path) -> Iterator[IO[bytes]]:
    """A temporary sibling of ``target`` to write; renamed onto it only when all went well."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as out:
            yield out
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def no_space(loc: Location, exc: OSError) -> NoSpaceLeft:
    return NoSpaceLeft(f"output: no space left on '{loc.original}' ({exc.strerror or exc})")


@contextlib.contextmanager
def _mapped_errors(loc: Location, field: str, verb: str) -> Iterator[None]:
    """Turn the filesystem's ``FileNotFoundError``/``PermissionError`` (and a full disk)
    into ours."""
    try:
        yield
    except FileNotFoundError as exc:
        raise NotFound(f"{field}: '{loc.original}' does not exist") from exc
    except PermissionError as exc:
        raise PermissionDenied(f"{field}: '{loc.original}' {verb} (permission denied)") from exc
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise no_space(loc, exc) from exc
        raise


def is_same_bucket(uris: list[str]) -> bool:
    """True when all S3 URIs share one bucket (local paths are ignored)."""
    buckets = {parse_uri(u).bucket for u in uris if parse_uri(u).is_s3}
    return len(buckets) <= 1
