"""The trainer callbacks of a job: epochs, batches, checkpoints (kept and pruned), when to stop, the lease."""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from domain.jobs import cancellation, transitions
from domain.jobs.transitions import LeaseLost
from domain.recovery import lost_jobs
from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainCallbacks, TrainOptions, train
from service.artifact_stores import get_artifact_store
from service.db.models import Artifact, Job, JobMetric, utcnow
from service.db.session import session_scope
from tests.worker.worker_harness import TINY_SPEC, event_types
from worker import training_callbacks
from worker.lease_heartbeat import LeaseHeartbeat
from worker.shutdown import clear_shutdown_request, request_shutdown
from worker.training_callbacks import (
    BATCH_PROGRESS_SECONDS,
    BATCH_WARNING_SECONDS,
    CANCEL_POLL_SECONDS,
    JobCallbacks,
    json_safe,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def running_job(embedded, make_job) -> str:
    job_id = make_job()
    with session_scope(embedded) as session:
        assert transitions.claim(session, job_id, "test:1", embedded.job_lease_seconds)
    return job_id


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def callbacks(embedded, running_job, clock) -> JobCallbacks:
    return JobCallbacks(
        running_job, embedded.model_copy(update={"keep_checkpoints": 2}), get_artifact_store(embedded), clock=clock
    )


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


def _batch_position(settings, job_id: str) -> tuple[int | None, int | None]:
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        return job.batch, job.batches


PARTS = {"loss": 1.0, "ce": 0.6, "kd": 0.4}


def test_batch_progress_is_written_at_most_every_interval_and_at_the_epochs_end(
    embedded, running_job, owned, clock, monkeypatch
):
    sessions = []

    def counted_session_scope(settings):
        sessions.append(settings)
        return session_scope(settings)

    monkeypatch.setattr(training_callbacks, "session_scope", counted_session_scope)
    assert owned.train_callbacks().on_batch_end == owned.on_batch_end
    owned.on_batch_end(1, 1, 5, PARTS)  # the first batch is written
    assert _batch_position(embedded, running_job) == (1, 5) and len(sessions) == 1
    clock.now += BATCH_PROGRESS_SECONDS - 0.1
    owned.on_batch_end(1, 2, 5, PARTS)  # within the interval: nothing written, no session opened
    owned.on_batch_end(1, 3, 5, PARTS)
    assert _batch_position(embedded, running_job) == (1, 5) and len(sessions) == 1
    clock.now += 0.1
    owned.on_batch_end(1, 4, 5, PARTS)
    assert _batch_position(embedded, running_job) == (4, 5)
    owned.on_batch_end(1, 5, 5, PARTS)  # the epoch's last batch always is: the bar is full while it evaluates
    assert _batch_position(embedded, running_job) == (5, 5)


def test_the_real_trainer_reports_batches_as_on_batch_end_expects(embedded, running_job, owned, tmp_path):
    """One epoch of the tiny job with only ``on_batch_end`` wired: its last batch is stored as epoch 1's."""
    spec = JobSpec.model_validate({key: value for key, value in TINY_SPEC.items() if key != "metadata"})
    callbacks = TrainCallbacks(on_batch_end=owned.on_batch_end)
    train(spec, tmp_path / "run", options=TrainOptions(data_root=embedded.data_root), callbacks=callbacks)
    batch, batches = _batch_position(embedded, running_job)
    assert batches is not None and batches > 1 and batch == batches


def test_a_database_error_in_batch_progress_does_not_stop_training(embedded, running_job, clock, tmp_path, caplog):
    broken = embedded.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'no-tables.sqlite'}"})
    callbacks = JobCallbacks(running_job, broken, get_artifact_store(embedded), "test:1", clock=clock)
    with caplog.at_level(logging.WARNING, logger="worker.training_callbacks"):
        for _ in range(3):
            callbacks.on_batch_end(1, 1, 5, PARTS)
            clock.now += BATCH_PROGRESS_SECONDS
        assert len(caplog.records) == 1  # one warning, not one per failed write
        assert "could not store batch progress" in caplog.records[0].getMessage()
        clock.now += BATCH_WARNING_SECONDS
        callbacks.on_batch_end(1, 2, 5, PARTS)
        assert len(caplog.records) == 2


def test_cancel_flag_is_polled_at_most_once_per_interval(embedded, running_job, callbacks, clock):
    assert callbacks.should_stop() is False
    with session_scope(embedded) as session:
        cancellation.request_cancel(session, session.get(Job, running_job))
    assert callbacks.should_stop() is False  # cached until the next poll
    clock.now += CANCEL_POLL_SECONDS
    assert callbacks.should_stop() is True
    assert callbacks.should_stop() is True


def _take_over(settings, job_id: str, new_owner: str = "other:2") -> None:
    """What the reaper and a second worker do to a job whose lease expired: re-queue, claim anew."""
    with session_scope(settings) as session:
        session.get(Job, job_id).lease_expires_at = utcnow() - timedelta(seconds=1)
    with session_scope(settings) as session:
        assert lost_jobs.reap_expired(session, max_attempts=3).requeued == [job_id]
    with session_scope(settings) as session:
        assert transitions.claim(session, job_id, new_owner, settings.job_lease_seconds)


@pytest.fixture
def owned(embedded, running_job, clock) -> JobCallbacks:
    """Callbacks of the attempt that claimed ``running_job`` (owner ``test:1``)."""
    return JobCallbacks(running_job, embedded, get_artifact_store(embedded), "test:1", clock=clock)


def test_heartbeat_renews_the_lease_and_keeps_the_running_time(embedded, running_job):
    with session_scope(embedded) as session:
        session.get(Job, running_job).lease_expires_at = utcnow() + timedelta(seconds=1)
    heartbeat = LeaseHeartbeat(embedded, running_job, "test:1", run_seconds=lambda: 42.5)
    assert heartbeat.renew() and not heartbeat.lost.is_set()
    with session_scope(embedded) as session:
        job = session.get(Job, running_job)
        lease = job.lease_expires_at.replace(tzinfo=None)
        assert lease > utcnow().replace(tzinfo=None) + timedelta(seconds=embedded.job_lease_seconds - 5)
        assert job.run_seconds == 42.5


def test_an_attempt_that_lost_its_job_stops_without_recording(embedded, running_job, owned, tmp_path):
    heartbeat = LeaseHeartbeat(embedded, running_job, "test:1", run_seconds=lambda: 1.0)
    _take_over(embedded, running_job)
    assert not heartbeat.renew() and heartbeat.lost.is_set()
    with pytest.raises(LeaseLost):  # the poll finds the new owner, without the heartbeat's help
        owned.should_stop()
    with pytest.raises(LeaseLost):
        owned.on_epoch_end({"epoch": 1, "epochs": 2, "val_top1": 10.0})
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"stale weights")
    with pytest.raises(LeaseLost):
        owned.on_checkpoint(1, path)
    with session_scope(embedded) as session:
        assert session.scalars(select(JobMetric).where(JobMetric.job_id == running_job)).all() == []
        assert session.scalars(select(Artifact).where(Artifact.job_id == running_job)).all() == []
        assert session.get(Job, running_job).worker == "other:2"


def test_heartbeat_loss_stops_the_loop_at_the_next_batch(embedded, running_job, clock):
    lost = threading.Event()
    callbacks = JobCallbacks(running_job, embedded, get_artifact_store(embedded), "test:1", lost=lost, clock=clock)
    assert callbacks.should_stop() is False
    lost.set()
    with pytest.raises(LeaseLost):
        callbacks.should_stop()


def test_worker_shutdown_stops_the_loop(owned):
    assert owned.should_stop() is False
    request_shutdown()
    try:
        assert owned.should_stop() is True and owned.stop_reason == "shutdown"
    finally:
        clear_shutdown_request()


def test_time_limit_counts_earlier_attempts(embedded, running_job, clock):
    settings = embedded.model_copy(update={"job_time_limit_seconds": 100})
    callbacks = JobCallbacks(
        running_job, settings, get_artifact_store(settings), "test:1", prior_run_seconds=60.0, clock=clock
    )
    clock.now += 39
    assert callbacks.should_stop() is False
    clock.now += 2
    assert callbacks.should_stop() is True and callbacks.stop_reason == "timeout"


def test_json_safe():
    assert json_safe({"a": [float("inf"), 1.5], "b": None}) == {"a": [None, 1.5], "b": None}
