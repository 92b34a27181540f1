"""The reaper's pass against a real broker: lost workers' jobs are re-sent, lost messages re-sent once."""

from __future__ import annotations

from datetime import timedelta

import redis

from domain.jobs import transitions
from service.broker import celery_app
from service.db.models import Job, utcnow
from service.db.session import session_scope
from service.job_queue import enqueue_job
from tests.fixtures.job_rows import job_row
from worker.broker_messages import pending_job_ids
from worker.reaper import reap_and_reconcile


def _redis_messages(settings) -> int:
    client = redis.Redis.from_url(str(settings.broker_url))
    try:
        return client.llen(settings.queue_name)
    finally:
        client.close()


def _requeued_and_sent(settings, make_job) -> None:
    job_id = make_job()
    with session_scope(settings) as session:
        assert transitions.claim(session, job_id, "gone:1/abc", settings.job_lease_seconds)
        session.get(Job, job_id).lease_expires_at = utcnow() - timedelta(seconds=1)
    assert reap_and_reconcile(settings).requeued == [job_id]
    assert job_id in pending_job_ids(celery_app)
    job = job_row(settings, job_id)
    assert job.status == "queued" and job.enqueued_at is not None


def test_a_lost_workers_job_is_requeued_and_sent_file_broker(embedded, make_job):
    _requeued_and_sent(embedded, make_job)


def test_a_lost_workers_job_is_requeued_and_sent_redis(production, make_job):
    _requeued_and_sent(production, make_job)


def test_a_message_lost_by_redis_is_sent_again_and_only_once(production, make_job):
    settings = production.model_copy(update={"requeue_after_seconds": 60})
    long_ago = utcnow() - timedelta(seconds=120)
    waiting = make_job(created_at=long_ago)  # its message is still in Redis (all workers busy)
    lost = make_job(created_at=long_ago)  # Redis restarted empty after the API sent it
    enqueue_job(waiting)
    assert pending_job_ids(celery_app) == {waiting}

    assert reap_and_reconcile(settings).resent == [lost]
    assert pending_job_ids(celery_app) == {waiting, lost} and _redis_messages(settings) == 2
    assert reap_and_reconcile(settings).resent == []  # both marked as just sent / seen
    assert job_row(settings, waiting).enqueued_at is not None


def test_the_reconciler_survives_a_broker_that_is_down(production, make_job):
    settings = production.model_copy(update={"requeue_after_seconds": 1})
    job_id = make_job(created_at=utcnow() - timedelta(seconds=10))
    sends: list[str] = []

    def broker_down(sent_id: str, devices: int = 1) -> None:
        sends.append(sent_id)
        raise ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    assert reap_and_reconcile(settings, send=broker_down).resent == []
    assert sends == [job_id] and job_row(settings, job_id).enqueued_at is None  # tried again next pass
    assert reap_and_reconcile(settings).resent == [job_id]
