"""``textui.follow`` (``submit --wait``, ``jobs wait`` and the demo) stops when the job has ended."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from genejobs.jobs.states import ENDED, JobStatus
from genejobs.textui import follow


class _Shows:
    """A stand-in client whose ``show`` answers the given details in turn."""

    def __init__(self, statuses: list[str]) -> None:
        self.details = iter(
            {"status": s, "progress": "1/3", "duration": 10, "samples": [], "message": s}
            for s in statuses
        )
        self.seen: list[str] = []

    def show(self, project: str, job_id: str) -> dict[str, Any]:
        detail = next(self.details)
        self.seen.append(detail["status"])
        return detail


@pytest.mark.parametrize("final", sorted(s.value for s in ENDED))
def test_follow_returns_the_first_ended_detail(final: str) -> None:
    client = _Shows(["LAUNCHING", "RUNNING", final, "never asked"])
    detail = follow(client, "p", "j" * 36, console=Console(file=io.StringIO()), poll_s=0)
    assert detail["status"] == final and detail["message"] == final
    assert client.seen == ["LAUNCHING", "RUNNING", final]


def test_canceling_is_not_an_end() -> None:
    client = _Shows([JobStatus.CANCELING.value, JobStatus.CANCELLED.value])
    detail = follow(client, "p", "j", console=Console(file=io.StringIO()), poll_s=0)
    assert detail["status"] == "CANCELLED"
