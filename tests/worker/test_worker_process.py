"""End to end through a real ``sdd worker`` process and a real broker (file broker or Redis).

Each job is tiny (digits at 16 px, resnet8, one epoch on the CPU). One worker per stack serves
all tests of this module (see ``conftest.py``); the API's part is played by inserting job rows
and calling ``enqueue_job``, as the API does.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from domain.jobs import cancellation
from service.artifact_stores import get_artifact_store
from service.db.models import Artifact, Job, JobMetric, UploadedModel
from service.db.session import session_scope
from service.job_queue import check_broker, enqueue_job
from tests.worker.worker_harness import TINY_SPEC, event_types, wait_for_status

pytestmark = pytest.mark.slow

TERMINAL = {"succeeded", "failed", "cancelled"}


def test_tiny_job_succeeds_with_artifacts_metrics_and_events(any_stack):
    settings = any_stack.settings
    check_broker()
    job_id = any_stack.make_job()
    enqueue_job(job_id)
    job = wait_for_status(settings, job_id, TERMINAL, worker=any_stack.worker)
    assert job.status == "succeeded", (job.error_code, job.error_message)
    assert job.attempts == 1 and job.epoch == 1 and job.finished_at is not None and job.lease_expires_at is None
    assert job.result["student_arch"] == "resnet8" and job.result["num_classes"] == 10
    assert 0.0 <= job.result["val_top1"] <= 100.0 and job.result["best_val_top1"] >= job.result["val_top1"]

    store = get_artifact_store(settings)
    with session_scope(settings) as session:
        artifacts = {(a.kind, a.epoch): a for a in session.scalars(select(Artifact).where(Artifact.job_id == job_id))}
        metric_epochs = session.scalars(select(JobMetric.epoch).where(JobMetric.job_id == job_id)).all()
    assert set(artifacts) == {
        ("student", 0),
        ("student_onnx", 0),
        ("student_torchscript", 0),
        ("card", 0),
        ("metrics", 0),
        ("checkpoint", 1),
        ("plot_png", 0),
        ("plot_svg", 0),
        ("tensorboard", 0),
    }
    for artifact in artifacts.values():
        data = store.path(artifact.key).read_bytes()
        assert hashlib.sha256(data).hexdigest() == artifact.sha256 and len(data) == artifact.size_bytes
    assert store.path(artifacts["plot_png", 0].key).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert job_id in store.path(artifacts["plot_svg", 0].key).read_text()  # the title names the job
    assert metric_epochs == [1]
    events = event_types(settings, job_id)
    assert events[0] == "started" and events[-1] == "succeeded"
    assert {"epoch", "checkpoint"} <= set(events)
    assert not (settings.work_dir / job_id).exists()  # the work folder is cleaned up


def test_second_delivery_of_a_job_does_not_train_again(production_stack):
    settings = production_stack.settings
    job_id = production_stack.make_job()
    enqueue_job(job_id)
    enqueue_job(job_id)
    job = wait_for_status(settings, job_id, TERMINAL, worker=production_stack.worker)
    assert job.status == "succeeded", (job.error_code, job.error_message)
    production_stack.worker.wait_for_log(f"job {job_id}: not claimed, it is succeeded")
    assert event_types(settings, job_id).count("started") == 1
    with session_scope(settings) as session:
        assert session.get(Job, job_id).attempts == 1


def test_missing_teacher_file_fails_with_teacher_error(embedded_stack):
    settings = embedded_stack.settings
    with session_scope(settings) as session:
        model = UploadedModel(
            tenant_id=embedded_stack.tenant_id,
            arch="resnet8",
            num_classes=10,
            storage_key="",
            size_bytes=1,
            sha256="0" * 64,
        )
        session.add(model)
        session.flush()
        model_id = model.id
    job_id = embedded_stack.make_job({**TINY_SPEC, "method": "kd", "teacher": {"model": model_id}})
    enqueue_job(job_id)
    job = wait_for_status(settings, job_id, TERMINAL, worker=embedded_stack.worker)
    assert (job.status, job.error_code) == ("failed", "teacher_error")
    assert model_id in job.error_message
    assert event_types(settings, job_id)[-1] == "failed"


def test_cancel_stops_a_running_job(production_stack):
    settings = production_stack.settings
    spec = {**TINY_SPEC, "hyperparameters": {**TINY_SPEC["hyperparameters"], "epochs": 50}}
    job_id = production_stack.make_job(spec)
    enqueue_job(job_id)
    wait_for_status(settings, job_id, {"running"}, worker=production_stack.worker)
    with session_scope(settings) as session:
        assert cancellation.request_cancel(session, session.get(Job, job_id)).status == "cancelling"
    job = wait_for_status(settings, job_id, TERMINAL, worker=production_stack.worker)
    assert job.status == "cancelled", (job.error_code, job.error_message)
    assert job.epoch < 50
    events = event_types(settings, job_id)
    assert events[-1] == "cancelled" and "cancelling" in events
    assert not (settings.work_dir / job_id).exists()


def test_worker_start_picks_up_jobs_left_queued(embedded_stack):
    """A job committed but never sent (the API died before enqueueing) runs when a worker starts."""
    job = wait_for_status(
        embedded_stack.settings, embedded_stack.job_left_queued, TERMINAL, worker=embedded_stack.worker
    )
    assert job.status == "succeeded", (job.error_code, job.error_message)
