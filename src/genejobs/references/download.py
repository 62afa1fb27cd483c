"""Resumable downloads of upstream files, through pooch.

pooch places files, skips ones already present and checks known hashes (MD5 for
GENCODE), but its own HTTP downloader starts again from byte 0 after an
interruption and knows no ``file://`` URLs. So pooch gets a downloader of ours
(pooch's documented extension point): it keeps a ``<file>.part`` next to the target
across runs, asks an HTTP server for the rest with a ``Range`` request, copies
``file://`` sources from the same offset, and shows a tqdm progress bar. Only a
complete file is handed back to pooch, which checks it and moves it into place.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pooch
import requests
import urllib3
from tqdm import tqdm

from genejobs.errors import GeneJobsError, LimitReached, NotFound, Unavailable

_CHUNK = 1 << 20
# pooch logs every download at INFO with advice meant for its own users ("use this
# value as known_hash"); fetch says what it does itself.
pooch.get_logger().setLevel("WARNING")
_TIMEOUT = (30, 300)  # connect, between bytes: a hung mirror fails instead of waiting forever


class ChecksumMismatch(GeneJobsError):
    """A downloaded file does not match the sum its source publishes."""


class DiskFull(LimitReached):
    """The disk filled up while a file was being downloaded; the partial file is kept."""


class ResumableDownloader:
    """A pooch downloader that resumes from ``part`` (HTTP ``Range`` or ``file://`` seek)."""

    def __init__(self, part: Path, *, progressbar: bool = False) -> None:
        self.part = part
        self.progressbar = progressbar

    def __call__(self, url: str, output_file: str, pooch_obj: Any, check_only: bool = False) -> Any:
        self.part.parent.mkdir(parents=True, exist_ok=True)
        scheme = urlparse(url).scheme
        try:
            if scheme == "file":
                self._copy(url)
            elif scheme in ("http", "https"):
                self._http(url)
            else:  # ftp:// and the rest: pooch's own downloaders (no resume)
                pooch.downloaders.choose_downloader(url, progressbar=self.progressbar)(
                    url, output_file, pooch_obj
                )
                return None
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                have = self.part.stat().st_size if self.part.exists() else 0
                raise DiskFull(
                    f"disk full while downloading {url}: {have:,} bytes kept in {self.part}; "
                    "free some space and run the same fetch again to resume "
                    "(nothing was registered)"
                ) from exc
            raise
        os.replace(self.part, output_file)
        return None

    def _bar(self, url: str, done: int, total: int | None) -> tqdm[Any]:
        return tqdm(
            total=total,
            initial=done,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=url.rsplit("/", 1)[-1][:40],
            disable=not self.progressbar,
            file=sys.stderr,
            leave=True,
        )

    def _copy(self, url: str) -> None:
        source = Path(unquote(urlparse(url).path))
        if not source.is_file():
            raise NotFound(f"{url}: no such file on the mirror")
        done = self.part.stat().st_size if self.part.exists() else 0
        total = source.stat().st_size
        if done > total:
            done = 0
        with (
            open(source, "rb") as fin,
            open(self.part, "r+b" if done else "wb") as fout,
            self._bar(url, done, total) as bar,
        ):
            fin.seek(done)
            fout.seek(done)
            fout.truncate()
            while chunk := fin.read(_CHUNK):
                fout.write(chunk)
                bar.update(len(chunk))

    def _http(self, url: str) -> None:
        done = self.part.stat().st_size if self.part.exists() else 0
        headers = {"Range": f"bytes={done}-"} if done else {}
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=_TIMEOUT)
        except requests.RequestException as exc:
            raise Unavailable(f"{url}: could not be reached ({exc})") from exc
        with response:
            if response.status_code == 416 and done:  # asked past the end: already whole
                return
            if response.status_code == 404:
                raise NotFound(f"{url}: the server answered 404 Not Found")
            if response.status_code >= 400:
                raise Unavailable(f"{url}: the server answered {response.status_code}")
            resumed = response.status_code == 206
            if not resumed:
                done = 0  # the server ignores ranges: start again
            length = response.headers.get("Content-Length")
            total = done + int(length) if length and length.isdigit() else None
            try:
                with (
                    open(self.part, "r+b" if resumed else "wb") as fout,
                    self._bar(url, done, total) as bar,
                ):
                    fout.seek(done)
                    fout.truncate()
                    # read1: whatever has arrived, so a connection that breaks off
                    # leaves every byte received in the .part file for the next run.
                    while chunk := response.raw.read1(_CHUNK):
                        fout.write(chunk)
                        bar.update(len(chunk))
            except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
                raise Unavailable(
                    f"{url}: the transfer broke off ({exc}); run the same fetch again to resume"
                ) from exc
            if total is not None and self.part.stat().st_size < total:
                raise Unavailable(
                    f"{url}: the transfer ended early ({self.part.stat().st_size:,} of "
                    f"{total:,} bytes); run the same fetch again to resume"
                )


def retrieve(url: str, dest: Path, *, md5: str | None = None, progressbar: bool = False) -> Path:
    """``dest``, downloaded from ``url`` unless already there (with ``md5`` when given).

    A mismatching MD5 removes the download and names the file and both sums.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        path = pooch.retrieve(
            url,
            known_hash=f"md5:{md5}" if md5 else None,
            fname=dest.name,
            path=dest.parent,
            downloader=ResumableDownloader(part, progressbar=progressbar),
        )
    except ValueError as exc:
        if md5 and "hash" in str(exc).lower():
            got = _md5_in(str(exc), expected=md5)
            raise ChecksumMismatch(
                f"{url}: checksum mismatch: the source publishes md5 {md5}, "
                f"the download has md5 {got or 'a different one'}; the download was removed"
            ) from exc
        raise
    return Path(path)


def _md5_in(message: str, *, expected: str) -> str | None:
    """The other MD5 in pooch's mismatch message (it names both)."""
    import re

    found = [h for h in re.findall(r"[0-9a-f]{32}", message) if h != expected.lower()]
    return found[0] if found else None


def remove_quietly(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
