"""The project's one error hierarchy.

Every layer raises these; the API maps each class to its contract code
(``DLI.xxxx``) in one place (``genejobs.api.errors``). Messages are meant for
the person who sent the request: they name the field or file and the reason.
"""

from __future__ import annotations


class GeneJobsError(Exception):
    """Base class: a message a user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(GeneJobsError):
    """A request field breaks a rule (DLI.0001)."""


class NotFound(GeneJobsError):
    """A referenced object, such as an input file, does not exist (DLI.0002)."""


class Unsupported(GeneJobsError):
    """A feature or job type that genejobs does not offer (DLI.0007)."""


class LimitReached(GeneJobsError):
    """A quota or system limit stops the call (DLI.0009)."""


class PermissionDenied(GeneJobsError):
    """A file cannot be read or written, or a path leaves the allowed roots (DLI.0011)."""


class OutputExists(PermissionDenied):
    """A job's ``output`` names something that exists or another job claimed (DLI.0011).

    A job owns only what it wrote, so its table must be a new path: never an existing
    file or folder (of this user or another), nor a path inside another job's outputs.
    """


class Unavailable(GeneJobsError):
    """The resource is in a state that forbids the call (DLI.0012)."""


class StorageUnavailable(Unavailable):
    """The storage endpoint cannot be reached or refuses to talk (503 DLI.0012).

    Not the caller's fault and usually temporary, so the API answers 503.
    """


class NoSpaceLeft(StorageUnavailable):
    """The storage holding an output is full (ENOSPC/EDQUOT): named, not an internal error."""


class ShareLinkInvalid(GeneJobsError):
    """A share link whose signature does not match: altered, or signed with another
    server secret (403 DLI.0013)."""


class ShareLinkExpired(GeneJobsError):
    """A share link past its expiry (410 DLI.0013)."""


class AuthenticationFailed(GeneJobsError):
    """Missing, invalid or expired token (401 DLI.0013)."""


class Forbidden(GeneJobsError):
    """Valid token, but not for this project (403 DLI.0013)."""


class JobNotFound(GeneJobsError):
    """Unknown job id in this project (404 DLI.0023)."""


class InputError(GeneJobsError):
    """Bad input data found while running a job (a truncated gzip, mismatched pairs...).

    Raised by the pipeline; the runner turns it into the job's failure message.
    """


class WorkerProcessDied(GeneJobsError):
    """A process the pipeline started on a worker (an align process) died mid-sample.

    The message names the process, how it ended (signal or exit status) and the
    likely reason; such a death may be transient, so the sample is tried once more.
    """


class CancelledError(GeneJobsError):
    """The job was cancelled; raised by a stop check between chunks."""
