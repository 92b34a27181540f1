"""Domain errors: what a caller did that the rules refuse, with the field at fault as data.

Each error carries a stable ``code`` (machine-readable), a ``message`` written for the user and
the ``location`` of the field at fault as a path (``("hyperparameters", "lr")``, ``("teacher",
"job")``, ``("file",)``), or ``()`` when no single field is to blame. The kind of error is its
class; ``api.errors`` maps each class to an HTTP status and the worker to a stored error code.
Nothing here knows HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

Location = tuple[str | int, ...]


def dotted(location: Sequence[str | int]) -> str | None:
    """``("hyperparameters", "lr")`` -> ``hyperparameters.lr``; list indices as ``[i]``; () -> None."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or None


class DomainError(Exception):
    """Base class: a refusal a user can act on."""

    default_code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, location: Sequence[str | int] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.location: Location = tuple(location)

    @property
    def param(self) -> str | None:
        """The location as one string (``teacher.job``), or None."""
        return dotted(self.location)


class InvalidRequest(DomainError):
    """The request cannot be carried out as written (a field's value, or a combination)."""

    default_code = "validation_error"


class LimitExceeded(InvalidRequest):
    """A value is above what this service allows (epochs, batch size, image size, scales)."""

    default_code = "limit_exceeded"


class NotFound(DomainError):
    """No such object, or another tenant's (the two are told apart by nobody)."""

    default_code = "not_found"


class Conflict(DomainError):
    """The object exists but is not in a state that allows this (a teacher job still running)."""

    default_code = "conflict"


class TooManyJobs(DomainError):
    """The tenant already has as many unfinished jobs as the service allows."""

    default_code = "too_many_jobs"


def not_found(kind: str, object_id: str, location: Sequence[str | int] = ()) -> NotFound:
    """The one wording of "not found" for every kind of object."""
    return NotFound(f"no {kind} with id {object_id!r}", location=location)
