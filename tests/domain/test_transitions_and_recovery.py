"""Leases, the reaper's transitions, graceful release, cancel racing completion and the fenced
batch progress, in SQL (both backends).

These call ``domain.jobs.transitions`` / ``domain.recovery.lost_jobs`` directly; the processes that use
them are tested in ``tests/worker`` and ``tests/faults``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from domain.jobs import cancellation, transitions
from domain.jobs.transitions import LeaseLost
from domain.recovery import lost_jobs
from service import migrate
from service.db.models import Job, JobMetric, Tenant, utcnow
from service.db.session import session_scope
from service.settings import Settings
from tests.fixtures.job_rows import job_events, job_row

LEASE = 60


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, sdd_env) -> Settings:
    if request.param == "postgresql":
        configured = sdd_env(database_url=request.getfixturevalue("postgres_url"))
    else:
        configured = sdd_env()
    migrate.upgrade(str(configured.database_url))
    return configured


@pytest.fixture
def new_job(settings) -> Callable[..., str]:
    with session_scope(settings) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id

    def make(**columns) -> str:
        with session_scope(settings) as session:
            job = Job(tenant_id=tenant_id, spec={"dataset": "digits"}, epochs=4, **columns)
            session.add(job)
            session.flush()
            return job.id

    return make


def _claim(settings, job_id: str, worker: str = "w1") -> None:
    with session_scope(settings) as session:
        assert transitions.claim(session, job_id, worker, LEASE)


def _expire(settings, job_id: str) -> None:
    with session_scope(settings) as session:
        session.get(Job, job_id).lease_expires_at = utcnow() - timedelta(seconds=1)


def _reap(settings, max_attempts: int = 3) -> lost_jobs.Reaped:
    with session_scope(settings) as session:
        return lost_jobs.reap_expired(session, max_attempts=max_attempts)


# ------------------------------------------------------------------ leases


def test_only_the_owner_renews_and_only_while_active(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    with session_scope(settings) as session:
        assert transitions.renew_lease(session, job_id, "w1", LEASE, run_seconds=12.0)
        assert not transitions.renew_lease(session, job_id, "w2", LEASE)
    assert job_row(settings, job_id).run_seconds == 12.0
    with session_scope(settings) as session:
        assert transitions.finish(session, job_id, "succeeded", worker="w1")
        assert not transitions.renew_lease(session, job_id, "w1", LEASE)


def test_a_live_lease_is_not_reaped(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id)
    assert _reap(settings) == lost_jobs.Reaped()
    assert job_row(settings, job_id).status == "running"


def test_expired_lease_requeues_then_the_old_owner_is_fenced_off(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    _expire(settings, job_id)
    assert _reap(settings).requeued == [job_id]
    job = job_row(settings, job_id)
    assert (job.status, job.worker, job.lease_expires_at, job.attempts) == ("queued", None, None, 1)
    requeued = job_events(settings, job_id)[-1]
    assert requeued.type == "requeued" and "lease expired" in requeued.message
    assert requeued.data["attempt"] == 1 and requeued.data["reason"] == "lease_expired"

    _claim(settings, job_id, "w2")
    with session_scope(settings) as session:
        assert not transitions.renew_lease(session, job_id, "w1", LEASE)
        with pytest.raises(LeaseLost):
            transitions.record_epoch(session, job_id, {"epoch": 1, "epochs": 4}, worker="w1")
        assert not transitions.finish(session, job_id, "failed", error_code="internal_error", worker="w1")
        assert transitions.release(session, job_id, "w1", reason="shutdown", message="bye") is None
        assert transitions.record_epoch(session, job_id, {"epoch": 1, "epochs": 4}, worker="w2")
    job = job_row(settings, job_id)
    assert (job.status, job.worker, job.attempts, job.epoch) == ("running", "w2", 2, 1)


def test_retries_are_bounded_worker_lost(settings, new_job):
    job_id = new_job()
    for attempt in (1, 2):
        _claim(settings, job_id, f"w{attempt}")
        _expire(settings, job_id)
        assert _reap(settings, max_attempts=3).requeued == [job_id]
    _claim(settings, job_id, "w3")
    _expire(settings, job_id)
    assert _reap(settings, max_attempts=3).failed == [job_id]
    job = job_row(settings, job_id)
    assert (job.status, job.error_code, job.attempts) == ("failed", "worker_lost", 3)
    assert job.finished_at is not None and job.lease_expires_at is None and "3 times" in job.error_message
    assert _reap(settings) == lost_jobs.Reaped()  # terminal: never touched again


def test_expired_lease_of_a_cancelling_job_ends_cancelled(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id)
    with session_scope(settings) as session:
        cancellation.request_cancel(session, session.get(Job, job_id))
    _expire(settings, job_id)
    assert _reap(settings).cancelled == [job_id]
    assert job_row(settings, job_id).status == "cancelled"


def test_renewal_racing_the_reaper(settings, new_job):
    """The reaper picked a job, then its owner renewed before the UPDATE: the renewal wins."""
    job_id = new_job()
    _claim(settings, job_id, "w1")
    _expire(settings, job_id)
    now = utcnow()
    with session_scope(settings) as session:
        assert transitions.renew_lease(session, job_id, "w1", LEASE)
    with session_scope(settings) as session:
        assert lost_jobs.reap_expired(session, now=now) == lost_jobs.Reaped()
    assert job_row(settings, job_id).status == "running"


def test_epochs_are_recorded_once_across_attempts(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    with session_scope(settings) as session:
        assert transitions.record_epoch(session, job_id, {"epoch": 1, "epochs": 4, "val_top1": 50.0}, worker="w1")
    _expire(settings, job_id)
    _reap(settings)
    _claim(settings, job_id, "w2")
    with session_scope(settings) as session:  # w2 resumed before epoch 1's checkpoint: it replays epoch 1
        assert not transitions.record_epoch(session, job_id, {"epoch": 1, "epochs": 4, "val_top1": 51.0}, worker="w2")
        assert transitions.record_epoch(session, job_id, {"epoch": 2, "epochs": 4, "val_top1": None}, worker="w2")
    with session_scope(settings) as session:
        rows = session.execute(
            select(JobMetric.epoch, JobMetric.data).where(JobMetric.job_id == job_id).order_by(JobMetric.epoch)
        ).all()
    assert [(epoch, data["val_top1"]) for epoch, data in rows] == [(1, 50.0), (2, None)]


def test_an_early_stop_makes_the_trained_epochs_the_job_s_epochs_for_its_owner_only(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    with session_scope(settings) as session:
        assert not transitions.record_early_stop(session, job_id, 2, 1, worker="w2")  # not the owner: nothing
        assert transitions.record_early_stop(session, job_id, 2, 1, worker="w1")
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        assert (job.epochs, job.spec) == (2, {"dataset": "digits"})  # the spec keeps what was asked
    (event,) = [e for e in job_events(settings, job_id) if e.type == "stopped_early"]
    assert event.message == "stopped early at epoch 2 (no top-1 gain for 1 epochs)"
    assert event.data == {"epoch": 2, "patience": 1}


# ------------------------------------------------------------------ batch progress


def _batch(settings, job_id: str, epoch: int, batch: int, worker: str = "w1", batches: int = 57) -> bool:
    with session_scope(settings) as session:
        return transitions.record_batch_progress(session, job_id, epoch, batch, batches, worker)


def _position(settings, job_id: str) -> tuple[int, int | None, int | None]:
    job = job_row(settings, job_id)
    return job.epoch, job.batch, job.batches


def test_batch_progress_is_written_for_the_owner_and_cleared_by_the_finished_epoch(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    assert _batch(settings, job_id, epoch=1, batch=12)
    assert _position(settings, job_id) == (0, 12, 57)
    assert not _batch(settings, job_id, epoch=1, batch=13, worker="w2")  # not its job
    assert _position(settings, job_id) == (0, 12, 57)
    with session_scope(settings) as session:
        assert transitions.record_epoch(session, job_id, {"epoch": 1, "epochs": 4}, worker="w1")
    assert _position(settings, job_id) == (1, None, 57)  # the bar stops at the finished epoch
    assert not _batch(settings, job_id, epoch=1, batch=30)  # epoch 1 is recorded: a replay is not shown
    assert _batch(settings, job_id, epoch=2, batch=3)
    assert _position(settings, job_id) == (1, 3, 57)


def test_batch_progress_is_not_written_once_the_attempt_lost_the_job(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    assert _batch(settings, job_id, epoch=1, batch=5)
    _expire(settings, job_id)
    assert _reap(settings).requeued == [job_id]
    assert _position(settings, job_id) == (0, None, None)  # queued: no bar
    assert not _batch(settings, job_id, epoch=1, batch=6)  # queued: nobody's job
    _claim(settings, job_id, "w2")
    assert not _batch(settings, job_id, epoch=1, batch=7, worker="w1")  # the stale attempt, never raising
    assert _batch(settings, job_id, epoch=1, batch=1, worker="w2")
    assert _position(settings, job_id) == (0, 1, 57)


@pytest.mark.parametrize("end", ["succeeded", "cancelled", "released"])
def test_batch_progress_is_cleared_when_the_attempt_ends_and_not_written_after(settings, new_job, end):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    assert _batch(settings, job_id, epoch=1, batch=40)
    with session_scope(settings) as session:
        if end == "released":
            assert transitions.release(session, job_id, "w1", reason="shutdown", message="bye") == "queued"
        else:
            if end == "cancelled":
                cancellation.request_cancel(session, session.get(Job, job_id))
                assert _batch(settings, job_id, epoch=1, batch=41)  # still its job while it stops
            assert transitions.finish(session, job_id, "succeeded", worker="w1")
    assert job_row(settings, job_id).status == ("queued" if end == "released" else end)
    assert _position(settings, job_id) == (0, None, None)
    assert not _batch(settings, job_id, epoch=1, batch=42)
    assert _position(settings, job_id) == (0, None, None)


# ------------------------------------------------------------------ graceful release


def test_release_requeues_without_counting_the_attempt(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    with session_scope(settings) as session:
        status = transitions.release(
            session, job_id, "w1", reason="shutdown", message="worker stopping", run_seconds=30.0
        )
    assert status == "queued"
    job = job_row(settings, job_id)
    assert (job.status, job.attempts, job.worker, job.lease_expires_at, job.run_seconds) == (
        "queued",
        0,
        None,
        None,
        30.0,
    )
    assert job_events(settings, job_id)[-1].data["reason"] == "shutdown"


def test_release_of_a_cancelling_job_cancels_it(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    with session_scope(settings) as session:
        cancellation.request_cancel(session, session.get(Job, job_id))
        assert transitions.release(session, job_id, "w1", reason="shutdown", message="worker stopping") == "cancelled"
    assert job_row(settings, job_id).status == "cancelled"


# ------------------------------------------------------------------ cancel racing completion


@pytest.mark.parametrize("outcome", ["succeeded", "failed"])
def test_cancel_first_then_completion_ends_cancelled(settings, new_job, outcome):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    with session_scope(settings) as session:
        assert cancellation.request_cancel(session, session.get(Job, job_id)).status == "cancelling"
        assert transitions.finish(session, job_id, outcome, result={"val_top1": 1.0}, worker="w1")
        assert not transitions.finish(session, job_id, outcome, worker="w1")  # once only
    job = job_row(settings, job_id)
    assert (job.status, job.result, job.error_code) == ("cancelled", None, None)
    assert [event.type for event in job_events(settings, job_id)][-2:] == ["cancelling", "cancelled"]


def test_completion_first_then_cancel_does_nothing(settings, new_job):
    job_id = new_job()
    _claim(settings, job_id, "w1")
    with session_scope(settings) as session:
        job = session.get(Job, job_id)  # the API loaded the job while it was still running
        assert transitions.finish(session, job_id, "succeeded", result={"val_top1": 1.0}, worker="w1")
        assert cancellation.request_cancel(session, job).status == "succeeded"
    job = job_row(settings, job_id)
    assert (job.status, job.cancel_requested, job.result) == ("succeeded", False, {"val_top1": 1.0})
    assert [event.type for event in job_events(settings, job_id)][-1] == "succeeded"


# ------------------------------------------------------------------ the broker


def test_queued_jobs_are_re_sent_only_after_requeue_after(settings, new_job):
    old = utcnow() - timedelta(seconds=120)
    new_job()  # fresh: the API sent it a moment ago
    created_long_ago = new_job(created_at=old)
    sent_long_ago = new_job(created_at=old, enqueued_at=old)
    new_job(created_at=old, enqueued_at=utcnow())  # re-sent a moment ago
    running = new_job(created_at=old, status="running")
    with session_scope(settings) as session:
        assert set(lost_jobs.jobs_to_enqueue(session, requeue_after=60)) == {created_long_ago, sent_long_ago}
        transitions.mark_enqueued(session, [created_long_ago, sent_long_ago, running])
        assert lost_jobs.jobs_to_enqueue(session, requeue_after=60) == []
    assert job_row(settings, running).enqueued_at is None  # only queued jobs are marked
