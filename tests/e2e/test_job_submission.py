"""What ``POST /v1/jobs`` refuses and what it replays, against a running service."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.service_processes import (
    RunningService,
    assert_error,
    event_types,
    listed_ids,
    submit,
    tiny_job,
)

pytestmark = pytest.mark.slow


def test_invalid_jobs_are_refused_with_the_field_named(service: RunningService) -> None:
    with service.client("t1") as client:
        teacher = service.wait_for_job(client, submit(client, tiny_job())["id"], {"succeeded"})
        before = listed_ids(client)

        error = assert_error(
            client.post("/v1/jobs", json=tiny_job(learning_rate=0.1)), 422, "validation_error", "learning_rate"
        )
        assert "unknown field" in error["message"]
        assert_error(
            client.post("/v1/jobs", json=tiny_job(hyperparameters={"lr_typo": 0.1})),
            422,
            "validation_error",
            "hyperparameters.lr_typo",
        )
        assert_error(client.post("/v1/jobs", json=tiny_job(method="sd-kd")), 422, "validation_error", "teacher")
        error = assert_error(
            client.post(
                "/v1/jobs",
                json=tiny_job(
                    method="sd-kd",
                    student="mobilenetv2",
                    teacher={"job": teacher["id"]},
                    image_size=32,
                    scales=[1, 2, 4],
                ),
            ),
            422,
            "invalid_spec",
            "scales",
        )
        assert "mobilenetv2" in error["message"]

        assert listed_ids(client) == before  # nothing refused was stored


def test_idempotency_key_replays_the_same_job(service: RunningService) -> None:
    key = f"e2e-{uuid.uuid4().hex}"
    tag = {"idempotency_test": key}
    body = tiny_job(metadata=tag)
    with service.client("t1") as client:
        first = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
        assert first.status_code == 201, first.text
        assert "Idempotent-Replayed" not in first.headers
        job_id = first.json()["id"]

        again = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
        assert again.status_code == 201, again.text
        assert again.json()["id"] == job_id
        assert again.headers["Idempotent-Replayed"] == "true"

        assert_error(
            client.post("/v1/jobs", json={**body, "seed": 1}, headers={"Idempotency-Key": key}),
            409,
            "idempotency_conflict",
            "Idempotency-Key",
        )

        service.wait_for_job(client, job_id, {"succeeded"})
        after = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
        assert after.status_code == 201 and after.json()["id"] == job_id
        assert after.json()["status"] == "succeeded"

        listed = client.get("/v1/jobs", params={"limit": 100}).json()["data"]
        assert [job["id"] for job in listed if job["metadata"] == tag] == [job_id]
        events = event_types(client, job_id)
        assert events.count("queued") == 1 and events.count("started") == 1, events
