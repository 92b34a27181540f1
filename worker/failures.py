"""Why a job failed, as an ``(error_code, message)`` pair stored on the job.

* ``SDDError`` subclasses carry their own code (``invalid_spec``, ``teacher_error``, …);
* a domain refusal (the job validated again before training, ``domain.jobs.validation``) keeps its
  code, except that a dataset or teacher that is gone or not usable any more is stored as
  ``dataset_error`` / ``teacher_error``, what the job's owner has to fix;
* running out of host or GPU memory is ``out_of_memory``, a full disk ``disk_full`` — also when
  the error was raised from (``__cause__``/``__context__``) such an error;
* a rank of a job on several devices that died is ``rank_lost`` (re-queued while attempts remain);
* a worker stopped while the job ran is ``interrupted`` (the runner re-queues such a job instead
  of failing it; the code remains for callers that cannot);
* anything else is a bug: ``internal_error`` with the exception type, and a logged traceback.

Two codes are set elsewhere: ``timeout`` (the runner, past ``SDD_JOB_TIME_LIMIT_SECONDS``) and
``worker_lost`` (``domain.recovery.lost_jobs``, after ``SDD_JOB_MAX_ATTEMPTS`` lost attempts).

Messages are shown to users, so the runner passes them through ``domain.redaction.redact_paths``, which replaces the worker's folders in them: an
uploaded dataset's folder becomes ``<dataset ds_…>`` (a bad image's path stays useful), the
other service folders become ``<artifacts>``, ``<work>``, ``<data>``, ``<sdd_home>``.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

import torch

from domain.errors import Conflict, DomainError, NotFound
from sdd_core.errors import DataError, SDDError, TeacherError
from worker.distributed_job import RankLost

_TORCH_OOM: tuple[type[BaseException], ...] = tuple(
    {oom for oom in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if oom}
)
_CPU_OOM_MESSAGE = "can't allocate memory"  # torch's DefaultCPUAllocator raises a plain RuntimeError


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_failure(exc: BaseException) -> tuple[str, str]:
    """The error code and user-facing message to store for a job that raised ``exc``."""
    if isinstance(exc, (SDDError, RankLost)):
        return exc.code, str(exc)
    if isinstance(exc, DomainError):
        return _reference_code(exc), exc.message
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return "interrupted", "the worker was stopped while this job ran; submit the job again"
    for cause in _chain(exc):
        if (
            isinstance(cause, MemoryError)
            or isinstance(cause, _TORCH_OOM)
            or (isinstance(cause, RuntimeError) and _CPU_OOM_MESSAGE in str(cause))
        ):
            return "out_of_memory", (
                f"ran out of memory ({type(cause).__name__}: {cause}); "
                "try a smaller batch_size or image_size, or a smaller model"
            )
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return "disk_full", f"no space left on the worker's disk: {cause}"
    return "internal_error", f"{type(exc).__name__}: {exc}"


_REFERENCE_CODES = {"dataset": DataError.code, "teacher": TeacherError.code}


def _reference_code(exc: DomainError) -> str:
    """A missing or unusable dataset or teacher is a ``dataset_error`` / ``teacher_error`` of the job."""
    if isinstance(exc, (NotFound, Conflict)) and exc.location and exc.location[0] in _REFERENCE_CODES:
        return _REFERENCE_CODES[str(exc.location[0])]
    return exc.code
