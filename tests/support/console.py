"""Helpers of the console's browser tests (a module, not conftest: several conftest.py
files exist and ``from conftest import`` would pick whichever pytest loaded last)."""

from __future__ import annotations

import time
from typing import Any

import httpx

REF, GTF = "sim1", "sim1.annotation.gtf"


def reads_request(world: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A request for the simulated samples, as the console would build it."""
    m, data = world["manifest"], world["data"]
    inputs = [
        {
            "group_name": g,
            "group_inputs": [
                {"sample_name": s, "files": [str(p) for p in m.reads[s]]} for s in samples
            ],
        }
        for g, samples in m.groups.items()
    ]
    req = {
        "job_type": "RNA_DIFF_EXPR",
        "inputs": inputs,
        "ref": REF,
        "gtf": GTF,
        "library_type": m.library_type,
        "adapt": m.adapter,
        "is_export_qc": False,
        "output": f"{data}/out",
    }
    return req | changes


def wait_status(
    http: httpx.Client, job_id: str, statuses: tuple[str, ...], timeout_s: float = 240
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        detail = http.get(f"/jobs/{job_id}").json()
        if detail["status"] in statuses:
            return dict(detail)
        assert time.monotonic() < deadline, detail
        time.sleep(0.5)
