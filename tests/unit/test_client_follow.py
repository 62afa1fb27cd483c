"""``follow_job`` (the CLI's ``submit --wait`` and the demo) stops when the job has ended."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from genejobs.client import follow_job
from genejobs.jobs.states import ENDED, JobStatus


@pytest.mark.parametrize("final", sorted(s.value for s in ENDED))
def test_follow_returns_the_first_ended_row(final: str) -> None:
    rows = iter(
        [
            {"status": "LAUNCHING", "progress": "0/3"},
            {"status": "RUNNING", "progress": "1/3"},
            {"status": final, "progress": "3/3", "message": "m"},
            {"status": "never read", "progress": "0/0"},
        ]
    )
    seen = []

    def fetch() -> dict[str, str]:
        row = next(rows)
        seen.append(row["status"])
        return row

    out = io.StringIO()
    row = follow_job(fetch, job_id="j" * 36, console=Console(file=out), interval_s=0)
    assert row == {"status": final, "progress": "3/3", "message": "m"}
    assert seen == ["LAUNCHING", "RUNNING", final]


def test_canceling_is_not_an_end() -> None:
    rows = iter(
        [{"status": JobStatus.CANCELING.value, "progress": "1/3"}]
        + [{"status": JobStatus.CANCELLED.value, "progress": "1/3"}]
    )
    row = follow_job(
        lambda: next(rows), job_id="j", console=Console(file=io.StringIO()), interval_s=0
    )
    assert row["status"] == "CANCELLED"
