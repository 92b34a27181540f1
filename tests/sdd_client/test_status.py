"""The client's copy of the job statuses (``sdd_client.models``) matches the server's (``domain.status``)."""

from __future__ import annotations

from domain import status as server
from sdd_client import TERMINAL_STATUSES, Job
from sdd_client import models as client


def test_the_client_s_job_statuses_are_the_server_s() -> None:
    assert [(s.name, s.value) for s in client.JobStatus] == [(s.name, s.value) for s in server.JobStatus]
    for name in ("TERMINAL", "IN_FLIGHT", "CANCELLABLE"):
        assert {s.value for s in getattr(client, name)} == {s.value for s in getattr(server, name)}, name
    assert TERMINAL_STATUSES == client.TERMINAL


def test_a_job_s_plain_status_string_compares_with_the_enum() -> None:
    job = Job.model_validate(
        {
            "id": "job_a",
            "status": "cancelled",
            "created_at": "2024-01-01T00:00:00Z",
            "spec": {"dataset": "digits", "student": "resnet8", "method": "ce"},
        }
    )
    assert job.is_terminal and not job.succeeded and job.status == client.JobStatus.CANCELLED
