"""The dry run: a submit that stores nothing, answering sizes, cache hits, an estimate and
what the heads of the FASTQ files show."""

from __future__ import annotations

import uuid
from typing import Any

from genejobs.config import Settings
from genejobs.jobs.request.fastq_heads import RunFiles, check_heads, head_report
from genejobs.jobs.request.spec import RnaDiffExprSpec
from genejobs.jobs.service import JobService
from genejobs.jobs.store.auth import Principal
from genejobs.jobs.store.estimate import estimate_ms, measured_throughput
from genejobs.storage import FileInfo, Location


def dry_run(
    service: JobService, *, principal: Principal, project_id: str, body: Any
) -> dict[str, Any]:
    """A submit that stores nothing: the same checks, then sizes, cache hits, estimate,
    and a look at the head of every FASTQ file (``fastq_heads``)."""
    spec, stored, inputs = service.check_request(body, job_id=str(uuid.uuid4()))
    cached = cached_samples(service.settings, spec, inputs)
    checks, problems, warnings = read_checks(service, spec, inputs)
    samples = [
        {
            "sample_name": sample.name,
            "group_name": sample.group,
            "input_bytes": sum(info.size_bytes for _, info in pair),
            "cached": hit,
            "runs": [list(run.uris) for run in sample.runs],
            "checks": sample_checks,
        }
        for sample, pair, hit, sample_checks in zip(
            spec.samples, inputs, cached, checks, strict=True
        )
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
        "reads_ok": not problems and all(c["checked"] for cs in checks for c in cs),
        "read_problems": problems,
        "read_warnings": warnings,
        # what submit would store (a sample sheet's samples as inputs), output as given
        "request": {**stored, "output": spec_output(body, stored)},
    }


def spec_output(body: Any, stored: dict[str, Any]) -> Any:
    return body.get("output", stored["output"]) if isinstance(body, dict) else stored["output"]


def read_checks(
    service: JobService, spec: RnaDiffExprSpec, inputs: list[list[tuple[Location, FileInfo]]]
) -> tuple[list[list[dict[str, Any]]], list[str], list[str]]:
    """Per sample, its files' head checks; and every problem and warning as one line each,
    naming the sample, run, read and file."""
    runs: list[RunFiles] = []
    owner: list[int] = []
    for si, (sample, pair) in enumerate(zip(spec.samples, inputs, strict=True)):
        locs = iter(pair)
        for ri, read_run in enumerate(sample.runs):
            files = tuple((uri, next(locs)[0]) for uri in read_run.uris)
            runs.append(RunFiles(sample=sample.name, run=ri + 1, files=files))
            owner.append(si)
    heads = check_heads(service.storage, runs) if runs else []
    checks: list[list[dict[str, Any]]] = [[] for _ in spec.samples]
    problems: list[str] = []
    warnings: list[str] = []
    for si, one_run, run_heads in zip(owner, runs, heads, strict=True):
        for entry in head_report(one_run, run_heads):
            checks[si].append(entry)
            where = f"sample '{one_run.sample}', run {one_run.run}, read {entry['read']} '{entry['uri']}'"
            problems += [f"{where}: {p}" for p in entry["problems"]]
            warnings += [f"{where}: {w}" for w in entry["warnings"]]
    return checks, problems, warnings


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
