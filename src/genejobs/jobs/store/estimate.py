"""How long a job will take, before it runs: input sizes, cache hits and measured throughput.

The rate is this deployment's own: over its recently finished jobs, the bytes of
uncached input read per millisecond of the sample phase (run start to the last
sample's end), and the time the statistics and report took after that. Nothing
is assumed: with no finished job measured yet, there is no estimate.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from genejobs.jobs.states import JobStatus
from genejobs.jobs.store.models import JobRow

RECENT_JOBS = 20


@dataclass(frozen=True)
class Throughput:
    bytes_per_ms: float
    finish_ms: float  # statistics, tables and report after the last sample
    jobs: int  # how many finished jobs the numbers come from


def _qc(request_json: str) -> bool:
    try:
        return bool(json.loads(request_json).get("is_export_qc"))
    except (ValueError, AttributeError):
        return False


def measured_throughput(session: Session, *, qc: bool) -> Throughput | None:
    """Medians over the latest finished jobs that aligned every sample (no cache hit).

    Jobs with the same QC setting are preferred (QC writes BAMs and runs RSeQC);
    without any, all finished jobs count.
    """
    rows = session.scalars(
        select(JobRow)
        .where(JobRow.status == JobStatus.FINISHED.value, JobRow.run_started_ms.is_not(None))
        .order_by(JobRow.end_time_ms.desc())
        .limit(RECENT_JOBS * 5)
    ).all()
    rates: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for row in rows:
        ends = [s.ended_ms for s in row.samples]
        if not row.samples or any(s.from_cache for s in row.samples) or None in ends:
            continue
        last = max(e for e in ends if e is not None)
        sample_ms = last - (row.run_started_ms or 0)
        if sample_ms <= 0 or row.input_size_bytes <= 0 or row.end_time_ms is None:
            continue
        bucket = rates[_qc(row.request_json)]
        if len(bucket) < RECENT_JOBS:
            bucket.append((row.input_size_bytes / sample_ms, max(0, row.end_time_ms - last)))
    chosen = rates[qc] or rates[not qc]
    if not chosen:
        return None
    return Throughput(
        bytes_per_ms=statistics.median(r for r, _ in chosen),
        finish_ms=statistics.median(f for _, f in chosen),
        jobs=len(chosen),
    )


def estimate_ms(samples: Sequence[dict[str, Any]], rate: Throughput | None) -> int | None:
    """Uncached bytes at the measured rate, plus the measured finishing time."""
    if rate is None:
        return None
    uncached = sum(s["input_bytes"] for s in samples if not s["cached"])
    return int(uncached / rate.bytes_per_ms + rate.finish_ms)
