"""Exceptions -> (error_code, message) stored on a failed job."""

from __future__ import annotations

import errno

import pytest
import torch

from domain.redaction import redact_paths
from sdd_core.errors import DataError, TeacherError
from service.artifacts import dataset_key
from worker.failures import classify_failure


def _raised_from(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except BaseException as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (TeacherError("teacher weights unreadable"), "teacher_error"),
        (DataError("no val/ folder"), "dataset_error"),
        (MemoryError(), "out_of_memory"),
        (torch.OutOfMemoryError("CUDA out of memory"), "out_of_memory"),
        (
            RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"),
            "out_of_memory",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), "disk_full"),
        (OSError(errno.ENOENT, "No such file"), "internal_error"),
        (KeyboardInterrupt(), "interrupted"),
    ],
)
def test_codes(exc, code):
    assert classify_failure(exc)[0] == code


def test_causes_are_followed():
    exc = _raised_from(RuntimeError("checkpoint write failed"), OSError(errno.ENOSPC, "No space left on device"))
    code, message = classify_failure(exc)
    assert code == "disk_full" and "No space left" in message


def test_sdd_error_message_is_kept_and_bugs_name_their_type():
    assert classify_failure(TeacherError("teacher: file missing")) == ("teacher_error", "teacher: file missing")
    assert classify_failure(KeyError("epoch")) == ("internal_error", "KeyError: 'epoch'")


def test_redact_paths(embedded):
    folder = embedded.artifact_dir / dataset_key("ds_0123abcd")
    message = (
        f"cannot decode {folder}/train/cat/1.png; scratch {embedded.work_dir}/job_x; "
        f"cache {embedded.data_root}/cifar10; db {embedded.home}/sdd.sqlite"
    )
    assert redact_paths(message, embedded) == (
        "cannot decode <dataset ds_0123abcd>/train/cat/1.png; scratch <work>/job_x; "
        "cache <data>/cifar10; db <sdd_home>/sdd.sqlite"
    )
