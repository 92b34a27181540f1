"""POST /v1/jobs/{id}/resume: a cancelled or failed job queued again as the same job, metrics kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.jobs.transitions import claim, finish, record_epoch
from service.db.models import Job
from tests.api.conftest import Api, assert_error, make_api
from tests.api.test_jobs_in_flight import limited_settings


def _fail_after_epochs(api: Api, job_id: str, epochs: int, worker: str = "w1") -> None:
    with api.session() as session:
        assert claim(session, job_id, worker, 60)
        for epoch in range(1, epochs + 1):
            assert record_epoch(session, job_id, {"epoch": epoch, "epochs": 4, "val_top1": 10.0 * epoch}, worker=worker)
        assert finish(session, job_id, "failed", error_code="worker_lost", error_message="lost", worker=worker)


def test_a_failed_job_resumes_as_the_same_job_keeping_its_metrics(any_api: Api) -> None:
    job = any_api.create_job(hyperparameters={"epochs": 4})
    _fail_after_epochs(any_api, job["id"], 2)
    failed = any_api.get(f"/v1/jobs/{job['id']}").json()
    assert failed["status"] == "failed" and failed["error"] is not None

    response = any_api.post(f"/v1/jobs/{job['id']}/resume")
    assert response.status_code == 200, response.text
    resumed = response.json()
    assert resumed["id"] == job["id"] and resumed["status"] == "queued"
    assert resumed["error"] is None and resumed["finished_at"] is None
    assert resumed["progress"]["epoch"] == 2  # the recorded epochs stay
    metrics = any_api.get(f"/v1/jobs/{job['id']}/metrics").json()["data"]
    assert [row["epoch"] for row in metrics] == [1, 2]
    events = any_api.get(f"/v1/jobs/{job['id']}/events").json()["data"]
    assert events[-1]["type"] == "resumed_by_request"
    assert "after it was failed" in events[-1]["message"] and "2 of 4 epochs recorded" in events[-1]["message"]
    with any_api.session() as session:
        row = session.get(Job, job["id"])
        assert row is not None and row.attempts == 0 and row.worker is None  # the reaper's patience afresh
        # The next worker claims it like any queued job; its epoch 3 is recorded after the kept two.
        assert claim(session, job["id"], "w2", 60)
        assert record_epoch(session, job["id"], {"epoch": 3, "epochs": 4}, worker="w2")
        assert not record_epoch(session, job["id"], {"epoch": 2, "epochs": 4}, worker="w2")  # never twice


def test_a_cancelled_job_resumes_and_is_sent_to_the_workers(api: Api) -> None:
    job = api.create_job()
    assert api.post(f"/v1/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    queue_dir = api.settings.broker_dir / "queue"
    before = len(list(queue_dir.iterdir()))
    resumed = api.post(f"/v1/jobs/{job['id']}/resume").json()
    assert resumed["status"] == "queued"
    assert len(list(queue_dir.iterdir())) == before + 1, "resuming sends the job to the workers again"
    with api.session() as session:
        row = session.get(Job, job["id"])
        assert row is not None and row.cancel_requested is False


def test_only_cancelled_or_failed_jobs_resume(api: Api) -> None:
    queued = api.create_job()
    assert_error(api.post(f"/v1/jobs/{queued['id']}/resume"), 409, "job_active")
    done = api.create_job()
    api.succeed_job(done["id"])
    error = assert_error(api.post(f"/v1/jobs/{done['id']}/resume"), 409, "job_succeeded")
    assert "nothing to resume" in error["message"]
    assert_error(api.post("/v1/jobs/job_nope/resume"), 404)
    other = api.create_job(token=api.other_token)
    api.post(f"/v1/jobs/{other['id']}/cancel", token=api.other_token)
    assert_error(api.post(f"/v1/jobs/{other['id']}/resume"), 404)  # another tenant's job is not found


@pytest.fixture
def one_in_flight(sdd_env, request: pytest.FixtureRequest, sqlite_template: Path) -> Iterator[Api]:
    yield from make_api(limited_settings("sqlite", sdd_env, request, sqlite_template, 1))


def test_resuming_counts_against_the_jobs_in_flight_limit(one_in_flight: Api) -> None:
    job = one_in_flight.create_job()
    one_in_flight.post(f"/v1/jobs/{job['id']}/cancel")
    one_in_flight.create_job()  # the one place in flight
    assert_error(one_in_flight.post(f"/v1/jobs/{job['id']}/resume"), 429, "too_many_jobs")
    assert one_in_flight.get(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
