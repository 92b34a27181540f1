"""Resuming a cancelled or failed job (``domain.jobs.resumption``) on the embedded database, sent
through the embedded file broker: what is cleared, what is kept, and which jobs are refused."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from domain.errors import Conflict, NotFound, TooManyJobs, not_found
from domain.jobs.resumption import resume_job
from service.broker import RUN_JOB_TASK, celery_app, configure
from service.db.models import Artifact, Job, JobEvent, JobMetric, JobTag, Tenant, utcnow
from service.db.session import session_scope
from service.settings import Settings
from tests.fixtures.job_rows import job_events, job_row


@pytest.fixture
def queue(embedded: Settings) -> Path:
    """The file broker's queue folder, where each message sent is one file."""
    configure(celery_app, embedded)
    folder = embedded.broker_dir / "queue"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sent(queue: Path) -> list[str]:
    """The job ids of the "run job" messages in the queue folder."""
    ids = []
    for path in queue.iterdir():
        message = json.loads(path.read_text())
        assert message["headers"]["task"] == RUN_JOB_TASK
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        ids.extend(args)
    return ids


def add_job(settings: Settings, tenant_id: str, status: str, **values: Any) -> str:
    """A job of ``tenant_id`` in ``status`` that trained 2 of 4 epochs, with its metrics, events and a checkpoint."""
    now = utcnow()
    with session_scope(settings) as session:
        job = Job(
            tenant_id=tenant_id,
            status=status,
            spec={"dataset": "digits", "student": "resnet8", "method": "ce", "image_size": 32},
            metadata_={"run": "a1"},
            name="first try",
            epoch=2,
            epochs=4,
            run_seconds=12.5,
            started_at=now - timedelta(minutes=5),
            tag_rows=[JobTag(tag="digits")],
            **values,
        )
        session.add(job)
        session.flush()
        for epoch in (1, 2):
            session.add(JobMetric(job_id=job.id, epoch=epoch, data={"epoch": epoch, "val_top1": 10.0 * epoch}))
            session.add(JobEvent(job_id=job.id, type="epoch", message=f"epoch {epoch}/4"))
        session.add(Artifact(job_id=job.id, kind="checkpoint", epoch=2, key="k", size_bytes=1, sha256="0" * 64))
        return job.id


def failed_job(settings: Settings, tenant_id: str) -> str:
    now = utcnow()
    return add_job(
        settings,
        tenant_id,
        "failed",
        result={"val_top1": 20.0},
        error_code="worker_lost",
        error_message="the worker was lost 3 times",
        finished_at=now,
        attempts=3,
        worker="host:123",
        lease_expires_at=now + timedelta(minutes=1),
        enqueued_at=now,
        batch=5,
        batches=12,
    )


def resume(settings: Settings, tenant_id: str, job_id: str) -> Job:
    with session_scope(settings) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        job = resume_job(session, settings, tenant, job_id)
        session.expunge(job)
        return job


def test_a_failed_job_is_queued_again_with_its_outcome_cleared_and_its_history_kept(
    embedded: Settings, tenant_id: str, queue: Path
) -> None:
    job_id = failed_job(embedded, tenant_id)
    before = job_row(embedded, job_id)

    returned = resume(embedded, tenant_id, job_id)
    assert (returned.id, returned.status) == (job_id, "queued")

    job = job_row(embedded, job_id)
    cleared = (
        job.result,
        job.error_code,
        job.error_message,
        job.finished_at,
        job.worker,
        job.lease_expires_at,
        job.enqueued_at,
        job.batch,
        job.batches,
    )
    assert cleared == (None,) * 9
    assert (job.status, job.attempts, job.cancel_requested) == ("queued", 0, False)  # the reaper's full patience
    kept = ("spec", "metadata_", "name", "epoch", "epochs", "run_seconds", "started_at", "created_at", "tenant_id")
    assert {field: getattr(job, field) for field in kept} == {field: getattr(before, field) for field in kept}
    assert job.tags == ["digits"]
    with session_scope(embedded) as session:
        assert session.scalars(select(JobMetric.epoch).where(JobMetric.job_id == job_id)).all() == [1, 2]
        assert session.scalars(select(Artifact.kind).where(Artifact.job_id == job_id)).all() == ["checkpoint"]

    events = job_events(embedded, job_id)
    assert [event.type for event in events] == ["epoch", "epoch", "resumed_by_request"]
    assert events[-1].data == {"previous_status": "failed", "epoch": 2}
    assert "after it was failed" in events[-1].message and "2 of 4 epochs recorded" in events[-1].message
    assert sent(queue) == [job_id], "the job is sent to the workers again"


def test_a_cancelled_job_resumes_without_its_cancel_request(embedded: Settings, tenant_id: str, queue: Path) -> None:
    job_id = add_job(embedded, tenant_id, "cancelled", cancel_requested=True, finished_at=utcnow())
    resume(embedded, tenant_id, job_id)
    job = job_row(embedded, job_id)
    assert (job.status, job.cancel_requested, job.finished_at) == ("queued", False, None)
    assert job_events(embedded, job_id)[-1].data == {"previous_status": "cancelled", "epoch": 2}
    assert sent(queue) == [job_id]


def test_a_succeeded_job_has_nothing_to_resume(embedded: Settings, tenant_id: str, queue: Path) -> None:
    job_id = add_job(embedded, tenant_id, "succeeded", result={"val_top1": 90.0}, finished_at=utcnow())
    with pytest.raises(Conflict) as caught:
        resume(embedded, tenant_id, job_id)
    assert caught.value.code == "job_succeeded" and "nothing to resume" in caught.value.message
    assert job_row(embedded, job_id).result == {"val_top1": 90.0}
    assert [event.type for event in job_events(embedded, job_id)] == ["epoch", "epoch"]
    assert sent(queue) == []


@pytest.mark.parametrize("status", ["queued", "running", "cancelling"])
def test_a_job_still_going_is_not_resumed(embedded: Settings, tenant_id: str, queue: Path, status: str) -> None:
    job_id = add_job(embedded, tenant_id, status, worker="host:1" if status != "queued" else None)
    with pytest.raises(Conflict) as caught:
        resume(embedded, tenant_id, job_id)
    assert caught.value.code == "job_active"
    assert f"is {status}; only a cancelled or failed job can be resumed" in caught.value.message
    assert f"`sdd jobs cancel --wait {job_id}` returns once it has stopped" in caught.value.message
    assert ("stops at its next batch" in caught.value.message) == (status == "cancelling")
    assert job_row(embedded, job_id).status == status
    assert sent(queue) == []


def test_a_resumed_job_cannot_be_resumed_again_until_it_ends(embedded: Settings, tenant_id: str, queue: Path) -> None:
    job_id = failed_job(embedded, tenant_id)
    resume(embedded, tenant_id, job_id)
    with pytest.raises(Conflict) as caught:
        resume(embedded, tenant_id, job_id)
    assert caught.value.code == "job_active"
    assert [event.type for event in job_events(embedded, job_id)].count("resumed_by_request") == 1
    assert sent(queue) == [job_id]


def test_a_job_that_changed_while_being_resumed_is_left_as_the_change_made_it(
    embedded: Settings, tenant_id: str, queue: Path
) -> None:
    job_id = failed_job(embedded, tenant_id)
    with session_scope(embedded) as session:
        tenant = session.get(Tenant, tenant_id)
        stale = session.get(Job, job_id)  # this session now holds the job as failed (kept across commits)
        assert tenant is not None and stale is not None and stale.status == "failed"
        session.commit()
        with session_scope(embedded) as elsewhere:  # meanwhile another request resumed it and a worker took it
            elsewhere.execute(update(Job).where(Job.id == job_id).values(status="running", worker="host:9"))
        with pytest.raises(Conflict) as caught:
            resume_job(session, embedded, tenant, job_id)
        assert caught.value.code == "job_changed" and "read it again" in caught.value.message
    job = job_row(embedded, job_id)
    assert (job.status, job.worker, job.attempts) == ("running", "host:9", 3)
    assert [event.type for event in job_events(embedded, job_id)] == ["epoch", "epoch"]
    assert sent(queue) == []


def test_another_tenants_job_reads_exactly_like_a_missing_one(embedded: Settings, tenant_id: str, queue: Path) -> None:
    with session_scope(embedded) as session:
        other = Tenant(name="bob")
        session.add(other)
        session.flush()
        other_id = other.id
    theirs = failed_job(embedded, other_id)
    for job_id in (theirs, "job_missing"):
        with pytest.raises(NotFound) as caught:
            resume(embedded, tenant_id, job_id)
        expected = not_found("job", job_id)
        assert (caught.value.message, caught.value.code, caught.value.location) == (
            expected.message,
            expected.code,
            expected.location,
        )
    assert job_row(embedded, theirs).status == "failed"
    assert sent(queue) == []


def test_resuming_counts_against_the_jobs_in_flight_limit(sdd_env, tenant_id: str, queue: Path) -> None:
    settings = sdd_env(max_jobs_in_flight=1)
    job_id = failed_job(settings, tenant_id)
    add_job(settings, tenant_id, "running", worker="host:1")
    with pytest.raises(TooManyJobs) as caught:
        resume(settings, tenant_id, job_id)
    assert "you have 1 jobs queued, running or cancelling" in caught.value.message
    job = job_row(settings, job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", "worker_lost", 3)  # untouched
    assert sent(queue) == []
