"""Parse the URIs the API accepts into one typed ``Location``.

``s3a://``, ``s3://`` and ``obs://`` all speak the S3 protocol against one
endpoint; ``file://`` and absolute paths are local and must stay inside the
allowed roots (checked by ``Storage``, which knows the settings).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from genejobs.errors import ValidationError

S3_SCHEMES = ("s3a", "s3", "obs")
# What botocore accepts as a bucket name (its VALID_BUCKET, without access-point ARNs):
# anything else fails inside botocore's parameter check, which would surface as a 500.
BUCKET_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")


@dataclass(frozen=True)
class Location:
    """A file or folder: ``scheme`` is ``"s3"`` or ``"file"``.

    For S3, ``bucket`` and ``key`` (no leading slash); for files, ``key`` is the
    normalised absolute path and ``bucket`` is ``None``. ``original`` keeps the
    user's spelling (``s3a://...``) so messages and stored requests echo it.
    """

    scheme: str
    bucket: str | None
    key: str
    original: str

    @property
    def is_s3(self) -> bool:
        return self.scheme == "s3"

    @property
    def fs_path(self) -> str:
        """The path fsspec understands for this location."""
        return f"{self.bucket}/{self.key}" if self.is_s3 else self.key

    @property
    def name(self) -> str:
        return posixpath.basename(self.key.rstrip("/"))

    def join(self, *parts: str) -> Location:
        """A child location, keeping the user's scheme spelling in ``original``."""
        key = posixpath.join(self.key.rstrip("/") if self.key else "", *parts)
        if self.is_s3:
            key = key.lstrip("/")
        original = posixpath.join(self.original.rstrip("/"), *parts)
        return Location(self.scheme, self.bucket, key, original)

    @property
    def parent(self) -> Location:
        key = posixpath.dirname(self.key.rstrip("/"))
        return Location(self.scheme, self.bucket, key, posixpath.dirname(self.original.rstrip("/")))

    def with_suffix_name(self, name: str) -> Location:
        """A sibling location with another file name."""
        parent = posixpath.dirname(self.key.rstrip("/"))
        oparent = posixpath.dirname(self.original.rstrip("/"))
        key = posixpath.join(parent, name)
        return Location(self.scheme, self.bucket, key, posixpath.join(oparent, name))

    def __str__(self) -> str:
        return self.original


def parse_uri(uri: str, *, field: str = "path") -> Location:
    """Parse ``uri`` or raise ``ValidationError`` naming ``field`` and the reason."""
    if not isinstance(uri, str) or not uri.strip():
        raise ValidationError(f"{field}: must be a non-empty path or URI")
    if "\x00" in uri:
        raise ValidationError(f"{field}: contains a NUL character")
    if uri.startswith("/"):
        return Location("file", None, posixpath.normpath(uri), uri)
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    # urlsplit would cut a key at '#' or '?', both legal in object keys and file
    # names: everything after "scheme://" is taken literally instead.
    rest = uri.split("://", 1)[1] if "://" in uri else ""
    if scheme in S3_SCHEMES:
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise ValidationError(f"{field}: '{uri}' has no bucket")
        if not BUCKET_NAME.fullmatch(bucket):
            raise ValidationError(
                f"{field}: '{uri}': '{bucket[:64]}' is not a valid bucket name "
                "(letters, digits, '.', '-' and '_' only)"
            )
        key = key.lstrip("/")
        if any(seg == ".." for seg in key.split("/")):
            raise ValidationError(f"{field}: '{uri}' must not contain '..'")
        return Location("s3", bucket, key, uri)
    if scheme == "file":
        if "://" in uri:
            host, slash, path = rest.partition("/")
            path = slash + path
        else:  # file:/absolute/path (RFC 8089's short form)
            host, path = "", uri[len("file:") :]
        if host not in ("", "localhost"):
            raise ValidationError(
                f"{field}: '{uri}' names a remote host; use file:///absolute/path"
            )
        if not path.startswith("/"):
            raise ValidationError(f"{field}: '{uri}' must be an absolute path")
        return Location("file", None, posixpath.normpath(path), uri)
    raise ValidationError(
        f"{field}: '{uri}' is not a supported location "
        "(use s3a://, s3://, obs://, file:// or an absolute path)"
    )
