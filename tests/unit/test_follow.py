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


def test_time_left_counts_down_and_damps_a_jumpy_estimate():
    from genejobs.textui import TimeLeft

    left = TimeLeft()
    # the sequence, one poll every 2 s: 18, 27, 15, 8 s
    shown = [left.update(ms, t) for ms, t in ((18_000, 0), (27_000, 2), (15_000, 4), (8_000, 6))]
    assert shown[0] == 18_000
    assert shown[1] < 18_000  # a jump up to 27 s does not make it rise
    assert shown[1] > shown[2] > shown[3]  # it only falls
    assert abs(shown[3] - 8_000) < 4_000  # and follows the estimate
    assert left.update(None, 8) is None  # no estimate: nothing shown
