"""One tenant cannot see, use or cancel another tenant's jobs, over HTTP."""

from __future__ import annotations

import pytest

from tests.e2e.service_processes import RunningService, assert_error, listed_ids, submit, tiny_job

pytestmark = pytest.mark.slow


def test_tenants_cannot_see_or_use_each_others_jobs(service: RunningService) -> None:
    with service.client("t1") as owner, service.client("t2") as other:
        job_id = submit(owner, tiny_job())["id"]
        service.wait_for_job(owner, job_id, {"succeeded"})

        assert_error(other.get(f"/v1/jobs/{job_id}"), 404, "not_found", None)
        for path in ("metrics", "events", "checkpoints", "student", "student/card"):
            assert_error(other.get(f"/v1/jobs/{job_id}/{path}"), 404, "not_found", None)
        assert_error(other.post(f"/v1/jobs/{job_id}/cancel"), 404, "not_found", None)
        assert_error(
            other.post("/v1/jobs", json=tiny_job(method="kd", teacher={"job": job_id})), 404, "not_found", "teacher.job"
        )
        assert job_id not in listed_ids(other)

        assert job_id in listed_ids(owner)
        assert owner.get(f"/v1/jobs/{job_id}/student").status_code == 200
