"""How one run of a job ends, as a value: the runner's path returns one of these and
one function (``Runner._write_outcome``) writes it to the store.

Normal endings are values, not exceptions: a failed sample, a cancel, a stop of
this runner or a lost lease each return here, and only a programming error is
left to travel as an exception (the runner turns it into an internal-error
``Failed``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from distributed.scheduler import KilledWorker

from genejobs.errors import GeneJobsError


@dataclass(frozen=True)
class Finished:
    """Statistics done: the outputs (logical name → URI) and warnings to add."""

    outputs: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    written: list[tuple[str, int]] = field(default_factory=list)  # (URI, bytes): the manifest


@dataclass(frozen=True)
class Failed:
    """The job fails with a message for its user; ``sample`` names the sample at fault."""

    message: str
    sample: str | None = None


@dataclass(frozen=True)
class Cancelled:
    """The API moved the job to CANCELING, or a task saw the job's cancel Event."""


@dataclass(frozen=True)
class Requeued:
    """This runner is being stopped: the job goes back to the queue for the next one."""


@dataclass(frozen=True)
class LeaseLost:
    """Another runner owns the job now: nothing is written."""


Outcome = Finished | Failed | Cancelled | Requeued | LeaseLost
OUTCOMES = (Finished, Failed, Cancelled, Requeued, LeaseLost)


def internal_error(job_id: str, where: str = "") -> Failed:
    """A programming error: a plain message, the details only in the runner log."""
    what = f"{where}: internal error" if where else "internal error"
    return Failed(
        f"{what} while running job {job_id}; the administrator can find the details in "
        "the runner log under this job id"
    )


def sample_failed(job_id: str, sample: str, error: BaseException | None) -> Failed:
    """The user's failure message for a sample: the pipeline's own words, naming the
    sample once; a worker that died is named as such; anything else is internal."""
    if isinstance(error, GeneJobsError) and error.message:
        text = error.message
        message = text if f"'{sample}'" in text else f"sample '{sample}': {text}"
    elif isinstance(error, KilledWorker):
        message = (
            f"sample '{sample}': the Dask worker processing it died each time it was "
            "tried, possibly out of memory; the administrator can find the details in "
            f"the worker logs (job {job_id})"
        )
    else:
        message = (
            f"sample '{sample}': internal error while processing it (job {job_id}); "
            "the administrator can find the details in the runner log"
        )
    return Failed(message, sample=sample)


def statistics_failed(job_id: str, error: BaseException | None) -> Failed:
    if isinstance(error, GeneJobsError) and error.message:
        return Failed(f"statistics: {error.message}")
    return Failed(
        f"statistics: internal error (job {job_id}); the administrator can find "
        "the details in the runner log"
    )
