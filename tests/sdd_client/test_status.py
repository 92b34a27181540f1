"""One ``JobStatus`` (``sdd_client.job_status``) for the server's rules and the client's models."""

from __future__ import annotations

from domain import status as server
from sdd_client import TERMINAL_STATUSES, Job, JobStatus
from sdd_client import job_status as client
from sdd_client.job_status import epochs_done_text


def test_the_server_s_job_statuses_are_the_client_s() -> None:
    assert server.JobStatus is client.JobStatus is JobStatus
    for name in ("TERMINAL", "ACTIVE", "IN_FLIGHT", "CANCELLABLE", "JOB_STATUSES"):
        assert getattr(server, name) is getattr(client, name), name
    assert TERMINAL_STATUSES is client.TERMINAL


def test_a_job_s_plain_status_string_compares_with_the_enum() -> None:
    spec = {"dataset": "digits", "student": "resnet8", "method": "ce", "teacher": None, "scales": [1, 2, 4]}
    job = Job.model_validate(
        {
            "id": "job_a",
            "status": "cancelled",
            "spec": {**spec, "beta": 2.0, "seed": 0, "image_size": 32, "hyperparameters": {"epochs": 2}},
            "request": {"dataset": "digits", "student": "resnet8", "method": "ce", "hyperparameters": {"epochs": 2}},
            "metadata": None,
            "progress": {"epoch": 1, "epochs": 2},
            "result": None,
            "error": None,
            "created_at": "2024-01-01T00:00:00Z",
            "started_at": None,
            "finished_at": None,
        }
    )
    assert job.is_terminal and not job.succeeded and job.status == JobStatus.CANCELLED == "cancelled"


def test_progress_counts_the_epochs_done_never_the_one_in_progress() -> None:
    assert epochs_done_text(2, 3) == "2/3 done"  # the third one running
    assert epochs_done_text(2, 3, batch=12, batches=57) == "2/3 done · batch 12/57"
    assert epochs_done_text(3, 3, batch=57, batches=57) == "3/3 done"  # no epoch left in progress
    assert epochs_done_text(0, 240, batch=None, batches=57) == "0/240 done"
