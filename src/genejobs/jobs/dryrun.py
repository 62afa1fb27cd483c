"""The dry run: a submit that stores nothing, answering sizes, cache hits and an estimate."""

from __future__ import annotations

import uuid
from typing import Any

from genejobs.config import Settings
from genejobs.jobs.request.spec import RnaDiffExprSpec
from genejobs.jobs.service import JobService
from genejobs.jobs.store.auth import Principal
from genejobs.jobs.store.estimate import estimate_ms, measured_throughput
from genejobs.storage import FileInfo, Location


def dry_run(
    service: JobService, *, principal: Principal, project_id: str, body: Any
) -> dict[str, Any]:
    """A submit that stores nothing: the same checks, then sizes, cache hits, estimate."""
    spec, _stored, inputs = service.check_request(body, job_id=str(uuid.uuid4()))
    cached = cached_samples(service.settings, spec, inputs)
    samples = [
        {
            "sample_name": sample.name,
            "group_name": sample.group,
            "input_bytes": sum(info.size_bytes for _, info in pair),
            "cached": hit,
        }
        for sample, pair, hit in zip(spec.samples, inputs, cached, strict=True)
    ]
    with service.sessions() as s:
        service.check_cap(s, project_id)
        rate = measured_throughput(s, qc=spec.is_export_qc)
    return {
        "valid": True,
        "samples": samples,
        "input_bytes": sum(info.size_bytes for pair in inputs for _, info in pair)
        + service.counts_table_bytes(spec),
        "estimate_ms": estimate_ms(samples, rate),
        "measured_jobs": rate.jobs if rate else 0,
    }


def cached_samples(
    settings: Settings, spec: RnaDiffExprSpec, inputs: list[list[tuple[Location, FileInfo]]]
) -> list[bool]:
    """Which samples the runner would take from the sample cache (never with QC).

    The key is the runner's own (``sample_cache_key``), from what the API knows: no
    external tool runs here. A transcripts entry is predicted a hit whatever salmon
    made it (the entry records it; a worker with another salmon computes it again).
    """
    if spec.is_export_qc or spec.counts or spec.gtf is None:
        return [False] * len(inputs)
    from genejobs.jobs.run.cache import SampleCache, sample_cache_key, sample_params
    from genejobs.references.registry import registry_for

    try:
        info = next(r for r in registry_for(settings).list() if r.name == spec.ref)
        gtf_sha = info.annotations[spec.gtf].gtf_sha256
    except (StopIteration, KeyError, OSError):
        return [False] * len(inputs)
    cache = SampleCache(settings.sample_cache_root)
    params = sample_params(spec)
    return [
        cache.get(
            sample_cache_key(
                sample, files, fasta_sha256=info.fasta_sha256, gtf_sha256=gtf_sha, params=params
            )
        )
        is not None
        for sample, files in zip(spec.samples, inputs, strict=True)
    ]
