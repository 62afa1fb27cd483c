"""Per-sample result cache, so a resubmitted job skips the alignments it already did.

The key covers everything a sample's counts depend on: every run's files, in order,
with their identity (size + ETag or mtime), whether the sample is single-end or
paired, the reference genome and annotation checksums, the adapter, the minimum
length and the engine version (and, for salmon, the ``-l`` it starts with). The
library type is *not* in it: a ``SampleResult`` holds the count vectors of all
three strand rules, so a job resubmitted with a corrected library type reuses the
alignments. One function (``sample_cache_key``) makes it, for the runner and for the
dry run alike; it runs no external tool, so the API can call it. Salmon's version,
which only a worker knows, is recorded in the entry instead (``TranscriptEstimates.
engine``): a worker with another salmon treats the entry as a miss and replaces it.

Entries are a folder holding ``counts.npz`` (read with ``allow_pickle=False``)
and ``meta.json``; nothing is unpickled, so a cache folder shared between users
cannot execute code. Entries are written in a hidden folder and renamed into
place, so a reader sees a whole entry or none.

An entry is content, not a sample of a job: it holds no sample-specific QC
(``read_qc``, ``qc``; a QC run aligns again for its BAM anyway) and so none of
QC's notes, which name the sample; ``renamed`` gives it the asking job's name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import mappy
import numpy as np

import genejobs
from genejobs.jobs.request.spec import RnaDiffExprSpec
from genejobs.pipeline.records import (
    CountStats,
    ReadStats,
    SampleParams,
    SampleResult,
    SampleSpec,
    TranscriptEstimates,
)
from genejobs.pipeline.salmon import cache_tag
from genejobs.storage import FileInfo, Location, Storage

log = logging.getLogger(__name__)

# Bump when the meaning of a cached entry changes without a version bump.
CACHE_FORMAT = 3  # 2: read 2 trimmed with its own TruSeq adapter; 3: runs, single-end


def engine_version() -> str:
    """The versions that shape a sample's counts: genejobs itself and minimap2 (mappy)."""
    return f"genejobs={genejobs.__version__};mappy={mappy.__version__};format={CACHE_FORMAT}"


def sample_cache_key(
    sample: SampleSpec,
    inputs: Sequence[tuple[Location, FileInfo]],
    *,
    fasta_sha256: str,
    gtf_sha256: str,
    params: SampleParams,
) -> str:
    """sha256 over everything the sample's counts depend on (see the module doc).

    ``inputs`` are the sample's files as ``sample.uris`` lists them (run by run, read 1
    before read 2), each with what storage says of it. The sample's name and group
    are not in it: an entry is content, shared between jobs.
    """
    if len(inputs) != len(sample.uris):
        raise ValueError(f"sample '{sample.name}': {len(inputs)} inputs for {sample.uris}")
    parts: list[str] = [f"layout={'paired' if sample.paired else 'single-end'}"]
    files = iter(inputs)
    for k, run in enumerate(sample.runs, start=1):
        for mate, (loc, info) in zip(("r1", "r2"), [next(files) for _ in run.uris], strict=False):
            # A local identity is size + mtime, which two different files can share;
            # the path makes it specific. S3 ETags are content hashes already.
            where = "" if loc.is_s3 else os.path.realpath(loc.key)
            parts.append(f"run{k}.{mate}={where}|{info.size_bytes}|{info.identity}")
    parts += [
        f"fasta={fasta_sha256}",
        f"gtf={gtf_sha256}",
        f"adapter={(params.adapter or '').upper()}",
        f"min_length={params.min_length}",
        f"engine={engine_version()}",
    ]
    quantifier = cache_tag(params, sample.paired)
    if quantifier:  # the transcript path: the -l salmon starts with (its counts depend on it)
        parts.append(f"quantifier={quantifier}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def sample_params(spec: RnaDiffExprSpec) -> SampleParams:
    """How the job's samples are processed (the runner's and the dry run's, one source)."""
    return SampleParams(
        adapter=spec.adapter,
        declared_library_type=spec.library_type,
        quantifier=spec.quantifier,
    )


def sample_inputs(storage: Storage, sample: SampleSpec) -> list[tuple[Location, FileInfo]]:
    """Each of the sample's files (``sample.uris`` order) with what storage says of it;
    a missing one is an error naming the sample, the run and the read."""
    out = []
    many = len(sample.runs) > 1
    for k, run in enumerate(sample.runs, start=1):
        for which, uri in zip(("read 1", "read 2"), run.uris, strict=False):
            label = f"sample '{sample.name}'" + (f" run {k}" if many else "") + f" {which}"
            loc = storage.location(uri, field=label)
            out.append((loc, storage.info(loc, field=label)))
    return out


def made_by_this_salmon(result: SampleResult, version: str) -> bool:
    """Whether a cached transcripts entry was quantified by salmon ``version`` (genome
    entries have no salmon and always qualify)."""
    est = result.transcripts
    return est is None or est.engine == f"salmon {version}"


class SampleCache:
    """A folder of cached ``SampleResult`` entries, one sub-folder per key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _entry(self, key: str) -> Path:
        if len(key) != 64 or not all(ch in "0123456789abcdef" for ch in key):
            raise ValueError(f"cache key must be a sha256 hex digest, got {key!r}")
        return self.root / key[:2] / key

    def get(self, key: str) -> SampleResult | None:
        """The cached result (``from_cache=True``), or ``None`` if absent or unreadable."""
        entry = self._entry(key)
        if not (entry / "meta.json").is_file():
            return None
        try:
            meta = json.loads((entry / "meta.json").read_text())
            with np.load(entry / "counts.npz", allow_pickle=False) as npz:
                counts = {name: np.asarray(npz[name], dtype=np.int64) for name in npz.files}
            stats = meta["count_stats"]
            transcripts = None
            if "transcripts" in meta:
                tx = meta["transcripts"]
                with np.load(entry / "transcripts.npz", allow_pickle=False) as npz:
                    arrays = {name: np.asarray(npz[name], dtype=np.float64) for name in npz.files}
                transcripts = TranscriptEstimates(
                    transcript_ids=list(tx["ids"]),
                    length=arrays["length"],
                    effective_length=arrays["effective_length"],
                    tpm=arrays["tpm"],
                    counts=arrays["counts"],
                    mapping_rate=float(tx["mapping_rate"]),
                    library_type_seen=str(tx["library_type_seen"]),
                    library_type_used=str(tx["library_type_used"]),
                    engine=str(tx["engine"]),
                )
            os.utime(entry / "meta.json")  # last use, for ``prune``
            return SampleResult(
                sample_name=meta["sample_name"],
                gene_ids=list(meta["gene_ids"]),
                counts=counts,
                read_stats=ReadStats(**meta["read_stats"]),
                count_stats=CountStats(**stats),
                timings_ms={k: int(v) for k, v in meta["timings_ms"].items()},
                from_cache=True,
                notes=list(meta.get("notes", [])),
                transcripts=transcripts,
            )
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            # A damaged entry costs one recomputation, never a failed job.
            log.warning("sample cache entry %s is unreadable (%s); ignoring it", key, exc)
            return None

    def put(self, key: str, result: SampleResult, *, replace_entry: bool = False) -> None:
        """Store ``result`` under ``key``; a concurrent writer of the same key is harmless.

        An existing entry is kept, unless ``replace_entry`` (it was made by another salmon).
        """
        entry = self._entry(key)
        if (entry / "meta.json").is_file():
            if not replace_entry:
                return
            stale = entry.parent / f".{key}.{uuid.uuid4().hex}.stale"
            try:
                os.rename(entry, stale)
            except OSError:
                return  # another writer replaced it meanwhile
            shutil.rmtree(stale, ignore_errors=True)
        entry.parent.mkdir(parents=True, exist_ok=True)
        building = entry.parent / f".{key}.{uuid.uuid4().hex}.tmp"
        building.mkdir()
        try:
            arrays: dict[str, Any] = {k: np.asarray(v) for k, v in result.counts.items()}
            np.savez(building / "counts.npz", **arrays)
            meta = {
                "sample_name": result.sample_name,
                "gene_ids": list(result.gene_ids),
                "read_stats": asdict(result.read_stats),
                "count_stats": asdict(result.count_stats),
                "timings_ms": dict(result.timings_ms),
                "notes": list(result.notes),
                "engine": engine_version(),
            }
            est = result.transcripts
            if est is not None:
                np.savez(
                    building / "transcripts.npz",
                    length=est.length,
                    effective_length=est.effective_length,
                    tpm=est.tpm,
                    counts=est.counts,
                )
                meta["transcripts"] = {
                    "ids": list(est.transcript_ids),
                    "mapping_rate": est.mapping_rate,
                    "library_type_seen": est.library_type_seen,
                    "library_type_used": est.library_type_used,
                    "engine": est.engine,
                }
            (building / "meta.json").write_text(json.dumps(meta))
            try:
                os.rename(building, entry)
            except OSError:
                if not (entry / "meta.json").is_file():  # not simply a lost race
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)

    def prune(self, *, unused_for_s: float, now_s: float | None = None) -> tuple[int, int]:
        """Remove entries unused (neither written nor read) for ``unused_for_s`` seconds.

        Also removes half-written entries left by a killed writer. Returns (entries
        removed, bytes freed). A job reading an entry while it is pruned recomputes it.
        """
        now_s = time.time() if now_s is None else now_s
        removed = freed = 0
        if not self.root.is_dir():
            return 0, 0
        for shard in self.root.iterdir():
            if not shard.is_dir():
                continue
            for entry in shard.iterdir():
                stamp = entry / "meta.json" if not entry.name.startswith(".") else entry
                try:
                    age = now_s - stamp.stat().st_mtime
                except FileNotFoundError:
                    age = now_s  # an entry without meta.json is unusable
                if age < (unused_for_s if stamp is not entry else max(unused_for_s, 3600)):
                    continue
                size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
                shutil.rmtree(entry, ignore_errors=True)
                removed, freed = removed + 1, freed + size
        return removed, freed

    @staticmethod
    def renamed(result: SampleResult, sample_name: str) -> SampleResult:
        """The same counts under this job's sample name (keys are content, not names)."""
        return replace(result, sample_name=sample_name)
