"""QC outputs cached next to a sample's counts, so a QC job's resubmission skips alignment.

A QC job needs more than counts: the sample's BAM, RSeQC's files and the read-level
QC. They depend on the same inputs as the counts (the sample cache key) plus the
gene-model BED, and they carry the sample's name in file names and contents, so
the key adds the BED's identity and the sample name. An entry is the folder tree
as it lands under ``<output>/<job_id>/`` (``bam/``, ``qc/rseqc/``, ``qc/fastqc/``)
and ``summary.json`` (what the job records about the sample's QC). Entries live in
the sample cache's entry of the same inputs, so they are used, aged and pruned with
it; they are built aside and renamed into place, so a reader sees all or nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Bump when what a QC entry holds changes meaning (2: distribution modules subsampled).
QC_CACHE_FORMAT = 2


def qc_cache_key(sample_key: str, *, sample_name: str, bed_identity: str) -> str:
    """sha256 over the sample's cache key, its name and the BED's identity."""
    from genejobs.pipeline.qc import DISTRIBUTION_PAIRS  # a new cap is a new entry

    text = (
        f"{sample_key}\n{sample_name}\n{bed_identity}\nqc-format={QC_CACHE_FORMAT}"
        f"\ndistribution-pairs={DISTRIBUTION_PAIRS}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


class QcCache:
    """``<sample entry>/qc/<qc key>/{files/…, summary.json}``, inside the sample cache's
    own entry (``<root>/<key[:2]>/<key>/``), so it lives and is pruned with it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _sample_entry(self, sample_key: str) -> Path:
        if len(sample_key) != 64 or not all(ch in "0123456789abcdef" for ch in sample_key):
            raise ValueError(f"cache key must be a sha256 hex digest, got {sample_key!r}")
        return self.root / sample_key[:2] / sample_key

    def get(self, sample_key: str, qc_key: str) -> tuple[Path, dict[str, Any]] | None:
        """(folder of files to publish, summary), or None when absent or unreadable."""
        entry = self._sample_entry(sample_key) / "qc" / qc_key
        try:
            summary = json.loads((entry / "summary.json").read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("QC cache entry %s is unreadable (%s); ignoring it", qc_key, exc)
            return None
        files = entry / "files"
        return (files, summary) if files.is_dir() else None

    def put(self, sample_key: str, qc_key: str, files: Path, summary: dict[str, Any]) -> None:
        """Move ``files`` (a folder) into the sample's cache entry with ``summary``; does
        nothing without that entry (its counts were not cached); a concurrent writer of
        the same key is harmless."""
        sample = self._sample_entry(sample_key)
        if not (sample / "meta.json").is_file():
            return
        entry = sample / "qc" / qc_key
        if (entry / "summary.json").is_file():
            return
        entry.parent.mkdir(exist_ok=True)
        building = entry.parent / f".{qc_key}.{uuid.uuid4().hex}.tmp"
        building.mkdir()
        try:
            shutil.move(str(files), str(building / "files"))  # a rename on one filesystem
            (building / "summary.json").write_text(json.dumps(summary))
            try:
                os.rename(building, entry)
            except OSError:
                if not (entry / "summary.json").is_file():  # not simply a lost race
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
