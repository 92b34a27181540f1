"""The trainer callbacks of a job: epochs, checkpoints (kept and pruned), cancel polling, lease."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from service import job_lifecycle
from service.artifacts import get_artifact_store
from service.db.models import Artifact, Job, JobMetric, utcnow
from service.db.session import session_scope
from tests.worker.worker_harness import event_types
from worker.training_callbacks import CANCEL_POLL_SECONDS, JobCallbacks, json_safe


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def running_job(embedded, make_job) -> str:
    job_id = make_job()
    with session_scope(embedded) as session:
        assert job_lifecycle.claim(session, job_id, "test:1", embedded.job_lease_seconds)
    return job_id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def callbacks(embedded, running_job, clock) -> JobCallbacks:
    return JobCallbacks(running_job, embedded.model_copy(update={"keep_checkpoints": 2}),
                        get_artifact_store(embedded), clock=clock)


def test_checkpoints_are_stored_hashed_and_pruned(embedded, running_job, callbacks, tmp_path):
    store = get_artifact_store(embedded)
    for epoch in (1, 2, 3):
        path = tmp_path / "checkpoint.pt"
        path.write_bytes(f"weights of epoch {epoch}".encode())
        callbacks.on_checkpoint(epoch, path)
    with session_scope(embedded) as session:
        rows = session.scalars(select(Artifact).where(Artifact.job_id == running_job).order_by(Artifact.epoch)).all()
        assert [(r.kind, r.epoch) for r in rows] == [("checkpoint", 2), ("checkpoint", 3)]
        for row in rows:
            data = store.path(row.key).read_bytes()
            assert row.sha256 == hashlib.sha256(data).hexdigest() and row.size_bytes == len(data)
            assert data == f"weights of epoch {row.epoch}".encode()
    assert not store.path(f"jobs/{running_job}/checkpoints/epoch_0001.pt").exists()
    assert event_types(embedded, running_job).count("checkpoint") == 3


def test_epoch_metrics_recorded_once_with_non_finite_values_as_null(embedded, running_job, callbacks):
    metrics = {"epoch": 1, "epochs": 2, "val_top1": 50.0, "train_loss": float("nan")}
    callbacks.on_epoch_end(metrics)
    callbacks.on_epoch_end(metrics)  # a replayed epoch is not recorded twice
    with session_scope(embedded) as session:
        rows = session.scalars(select(JobMetric).where(JobMetric.job_id == running_job)).all()
        assert len(rows) == 1 and rows[0].data["train_loss"] is None
        assert session.get(Job, running_job).epoch == 1


def test_cancel_flag_is_polled_at_most_once_per_interval(embedded, running_job, callbacks, clock):
    assert callbacks.should_stop() is False
    with session_scope(embedded) as session:
        job_lifecycle.request_cancel(session, session.get(Job, running_job))
    assert callbacks.should_stop() is False  # cached until the next poll
    clock.now += CANCEL_POLL_SECONDS
    assert callbacks.should_stop() is True
    assert callbacks.should_stop() is True


def test_lease_is_renewed_from_batches_but_throttled(embedded, running_job, callbacks, clock):
    with session_scope(embedded) as session:
        session.get(Job, running_job).lease_expires_at = utcnow() - timedelta(seconds=1)

    def lease():
        with session_scope(embedded) as session:
            return session.get(Job, running_job).lease_expires_at

    before = lease()
    callbacks.on_batch_end(1, 1, 10, {"loss": 1.0})
    assert lease() == before  # too soon after the claim
    clock.now += 11
    callbacks.on_batch_end(1, 2, 10, {"loss": 1.0})
    renewed = lease()
    assert renewed is not None and renewed.replace(tzinfo=None) > utcnow().replace(tzinfo=None) + timedelta(seconds=60)


def test_json_safe():
    assert json_safe({"a": [float("inf"), 1.5], "b": None}) == {"a": [None, 1.5], "b": None}
