"""The job state table: the contract's status strings and the only allowed moves."""

from __future__ import annotations

from enum import Enum

from genejobs.errors import Unavailable


class JobStatus(str, Enum):
    LAUNCHING = "LAUNCHING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELING = "CANCELING"
    CANCELLED = "CANCELLED"


ENDED: frozenset[JobStatus] = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED})


def has_ended(status: str) -> bool:
    """True for FINISHED, FAILED and CANCELLED (a status string as the API returns it)."""
    return status in {s.value for s in ENDED}


class SampleState(str, Enum):
    """A sample's state in the job detail call.

    PENDING until its task starts, RUNNING, then DONE or FAILED; the samples
    still PENDING or RUNNING when the job is cancelled (or fails elsewhere)
    become CANCELLED.
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


# The one place that says which status may follow which. RUNNING -> LAUNCHING is
# the lease take-over: a runner died, the job goes back to the queue.
ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.LAUNCHING: frozenset({JobStatus.RUNNING, JobStatus.CANCELING, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELING, JobStatus.LAUNCHING}
    ),
    JobStatus.CANCELING: frozenset({JobStatus.CANCELLED}),
    JobStatus.FINISHED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def can_move(old: JobStatus, new: JobStatus) -> bool:
    return new in ALLOWED[old]


def check_move(old: JobStatus, new: JobStatus) -> None:
    """Raise ``Unavailable`` (DLI.0012) when ``old -> new`` is not in the table."""
    if not can_move(old, new):
        raise Unavailable(f"job is {old.value}; it cannot become {new.value}")
