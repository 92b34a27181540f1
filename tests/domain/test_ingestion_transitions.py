"""An ingestion's transitions in SQL (both backends): the claim, the lease and its fencing, the
graceful release, the reaper's re-queue and ``worker_lost``, the re-send of a lost message, a
failed ingestion started again, and the events a tenant reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from domain.datasets import ingestion
from domain.datasets.ingestion import IngestionLost
from domain.errors import NotFound
from domain.recovery import lost_ingestions
from service import migrate
from service.broker import celery_app, configure
from service.db.models import Dataset, DatasetEvent, Tenant, utcnow
from service.db.session import session_scope
from service.settings import Settings

LEASE = 60


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, sdd_env) -> Settings:
    if request.param == "postgresql":
        configured = sdd_env(database_url=request.getfixturevalue("postgres_url"))
    else:
        configured = sdd_env()
    migrate.upgrade(str(configured.database_url))
    configure(celery_app, configured)  # start_ingestion sends to this test's file broker
    return configured


@pytest.fixture
def tenant_id(settings) -> str:
    with session_scope(settings) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        return tenant.id


@pytest.fixture
def new_dataset(settings, tenant_id) -> Callable[..., str]:
    def make(**columns) -> str:
        with session_scope(settings) as session:
            row = Dataset(tenant_id=tenant_id, name="birds", status="ingesting", source="s3://corpus/birds/",
                          storage_key="datasets/x", size_bytes=0, sha256="", **columns)  # fmt: skip
            session.add(row)
            session.flush()
            session.add(DatasetEvent(dataset_id=row.id, type="registered", data={"crop_to_boxes": True}))
            return row.id

    return make


def _row(settings, dataset_id) -> Dataset:
    with session_scope(settings) as session:
        row = session.get(Dataset, dataset_id)
        session.expunge(row)
        return row


def _event_types(settings, dataset_id) -> list[str]:
    with session_scope(settings) as session:
        return [e.type for e in ingestion.dataset_events(session, _row(settings, dataset_id).tenant_id, dataset_id)]


def _messages(settings) -> list[Path]:
    return sorted((settings.broker_dir / "queue").glob("*.ingestion.msg"))


def test_one_claim_wins_and_its_writes_are_fenced_once_the_lease_moved_on(settings, new_dataset):
    dataset_id = new_dataset()
    with session_scope(settings) as session:
        assert ingestion.claim(session, dataset_id, "w1", LEASE) == 1
        assert ingestion.claim(session, dataset_id, "w2", LEASE) is None  # a duplicate delivery
        assert ingestion.ingestion_options(session, dataset_id).crop_to_boxes is True
        ingestion.record_progress(session, dataset_id, "w1", "writing", 3, 10, event="writing 10 images")
    assert _row(settings, dataset_id).progress == {"stage": "writing", "done": 3, "total": 10}
    with session_scope(settings) as session:  # the lease ran out; a reaper hands it on
        ingestion.transition(session, Dataset.id == dataset_id, lease_expires_at=utcnow() - timedelta(seconds=1))
        session.commit()
        reaped = lost_ingestions.reap_expired(session, max_attempts=3)
    assert reaped.requeued == [dataset_id] and not reaped.failed
    with session_scope(settings) as session:
        assert ingestion.renew_lease(session, dataset_id, "w1", LEASE) is False
        with pytest.raises(IngestionLost):
            ingestion.record_progress(session, dataset_id, "w1", "writing", 5, 10)
        assert ingestion.claim(session, dataset_id, "w2", LEASE) == 2
        assert ingestion.mark_failed(session, dataset_id, "w1", "internal_error", "stale") is False
    assert _row(settings, dataset_id).worker == "w2"
    assert _event_types(settings, dataset_id) == ["registered", "ingesting", "progress", "requeued", "ingesting"]


def test_lost_attempts_fail_the_ingestion_worker_lost_after_max_attempts(settings, new_dataset):
    dataset_id = new_dataset()
    for attempt in (1, 2):
        with session_scope(settings) as session:
            assert ingestion.claim(session, dataset_id, f"w{attempt}", LEASE) == attempt
            later = utcnow() + timedelta(seconds=LEASE + 1)
            reaped = lost_ingestions.reap_expired(session, now=later, max_attempts=2)
        assert (reaped.requeued, reaped.failed) == (([dataset_id], []) if attempt == 1 else ([], [dataset_id]))
    row = _row(settings, dataset_id)
    assert (row.status, row.error_code, row.worker) == ("failed", "worker_lost", None)
    assert "lost its worker 2 times" in row.error_message


def test_a_graceful_release_does_not_count_the_attempt(settings, new_dataset):
    dataset_id = new_dataset()
    with session_scope(settings) as session:
        ingestion.claim(session, dataset_id, "w1", LEASE)
        assert ingestion.release(session, dataset_id, "w1", reason="shutdown", message="requeued: shutting down")
        assert ingestion.release(session, dataset_id, "w1", reason="shutdown", message="again") is False
    row = _row(settings, dataset_id)
    assert (row.status, row.worker, row.attempts, row.progress["stage"]) == ("ingesting", None, 0, "queued")


def test_ready_records_the_facts_once(settings, new_dataset):
    dataset_id = new_dataset()
    facts = ingestion.ReadyFacts(
        layout="cub200", classes=["a", "b"], image_size=32, train_count=6, val_count=2,
        class_counts={"train": {"a": 3, "b": 3}, "val": {"a": 1, "b": 1}}, statistics={"bad_file_count": 1},
        bad_files=[{"path": "x.jpg", "reason": "cannot be read"}], index_key=f"datasets/{dataset_id}/index.json",
        manifest_sha256="ab" * 32, storage_bytes=1234,
    )  # fmt: skip
    with session_scope(settings) as session:
        ingestion.claim(session, dataset_id, "w1", LEASE)
        assert ingestion.mark_ready(session, dataset_id, "w1", facts)
        session.commit()
        assert ingestion.mark_ready(session, dataset_id, "w1", facts) is False
    row = _row(settings, dataset_id)
    assert (row.status, row.num_classes, row.layout, row.storage_bytes, row.worker) == (
        "ready",
        2,
        "cub200",
        1234,
        None,
    )
    with session_scope(settings) as session:
        events = ingestion.dataset_events(session, row.tenant_id, dataset_id)
        assert events[-1].message == "ready: 2 classes, 6 train / 2 val images at 32 px; 1 bad file(s) left out"
        with pytest.raises(NotFound):
            ingestion.dataset_events(session, "tnt_other", dataset_id)


def test_a_failed_ingestion_starts_again_and_a_waiting_one_without_a_message_is_resent(settings, new_dataset):
    dataset_id = new_dataset()
    with session_scope(settings) as session:
        ingestion.claim(session, dataset_id, "w1", LEASE)
        ingestion.mark_failed(session, dataset_id, "w1", "quota_exceeded", "past the quota")
        row = session.get(Dataset, dataset_id)
        ingestion.start_ingestion(session, settings, row)
    row = _row(settings, dataset_id)
    assert (row.status, row.error_code, row.attempts) == ("ingesting", None, 0)
    assert _event_types(settings, dataset_id)[-2:] == ["failed", "requeued"]
    assert len(_messages(settings)) == 1
    with session_scope(settings) as session:
        assert lost_ingestions.ingestions_to_enqueue(session, requeue_after=300) == []
        later = utcnow() + timedelta(seconds=301)
        assert lost_ingestions.ingestions_to_enqueue(session, requeue_after=300, now=later) == [dataset_id]
        ingestion.claim(session, dataset_id, "w2", LEASE)  # a claimed ingestion is never re-sent
        assert lost_ingestions.ingestions_to_enqueue(session, requeue_after=300, now=later) == []
