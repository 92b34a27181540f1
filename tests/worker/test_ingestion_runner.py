"""``worker.ingestion.ingest_dataset`` in-process, from a real S3-protocol source (moto's server):
every outcome recorded on the dataset, what an earlier attempt left deleted first, what a failed
one wrote deleted after, a shutdown giving the ingestion back, and the reaper's ``worker_lost``.
The same task in real worker processes: ``test_ingestion_worker.py``."""

from __future__ import annotations

import io
import itertools
import os
import zipfile
from datetime import timedelta

import pytest

from domain.datasets import ingestion
from service import migrate
from service.broker import celery_app, configure
from service.db.models import Dataset, DatasetEvent, Tenant, utcnow
from service.db.session import session_scope
from service.local_store import LocalArtifactStore
from service.settings import Settings
from tests.domain import dataset_files as make
from worker import reaper
from worker.ingestion import ingest_dataset
from worker.shutdown import clear_shutdown_request, request_shutdown

_buckets = itertools.count(1)


@pytest.fixture
def bucket(s3_server, monkeypatch) -> str:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    return s3_server.create_bucket(f"runner-{os.getpid()}-{next(_buckets)}")


@pytest.fixture
def settings(sdd_env, s3_server, bucket) -> Settings:
    configured = sdd_env(
        dataset_sources=f"s3://{bucket}/=acme",
        dataset_s3_endpoint_url=s3_server.endpoint_url,
        shard_max_bytes=1 << 16,
        job_max_attempts=2,
    )
    migrate.upgrade(str(configured.database_url))
    configure(celery_app, configured)
    return configured


@pytest.fixture
def tenant_id(settings) -> str:
    with session_scope(settings) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        return tenant.id


def register(settings, tenant_id, source, *, layout=None, **columns) -> str:
    """A dataset row as the API writes it (``ingesting``, a ``registered`` event)."""
    with session_scope(settings) as session:
        row = Dataset(tenant_id=tenant_id, name="pets", status="ingesting", source=source, layout=layout,
                      storage_key="datasets/x", size_bytes=0, sha256="", **columns)  # fmt: skip
        session.add(row)
        session.flush()
        session.add(DatasetEvent(dataset_id=row.id, type="registered", data={"source": source}))
        return row.id


def row_of(settings, dataset_id) -> Dataset:
    with session_scope(settings) as session:
        row = session.get(Dataset, dataset_id)
        session.expunge(row)
        return row


def events(settings, dataset_id) -> list[DatasetEvent]:
    with session_scope(settings) as session:
        found = list(ingestion.dataset_events(session, row_of(settings, dataset_id).tenant_id, dataset_id))
        session.expunge_all()
        return found


def stored_keys(settings, dataset_id) -> list[str]:
    root = settings.artifact_dir / "datasets" / dataset_id
    return (
        sorted(str(p.relative_to(settings.artifact_dir)) for p in root.rglob("*") if p.is_file())
        if root.exists()
        else []
    )


def test_an_ingestion_ends_ready_after_deleting_what_an_earlier_attempt_left(settings, tenant_id, s3_server, bucket):
    source = make.put_files(s3_server.client(), bucket, "pets/", make.image_folder(train=4, val=2))
    dataset_id = register(settings, tenant_id, source)
    store = LocalArtifactStore(settings.artifact_dir)
    store.put_bytes(f"datasets/{dataset_id}/shards/train-000007.tar", b"a partial shard of a lost attempt")

    assert ingest_dataset(dataset_id, settings) == "ready"
    row = row_of(settings, dataset_id)
    assert (row.status, row.layout, row.num_classes, row.train_count, row.val_count, row.attempts) == (
        "ready", "imagefolder", 2, 8, 4, 1,
    )  # fmt: skip
    assert (row.worker, row.progress, row.index_key) == (None, None, f"datasets/{dataset_id}/index.json")
    keys = stored_keys(settings, dataset_id)
    assert f"datasets/{dataset_id}/shards/train-000007.tar" not in keys
    assert f"datasets/{dataset_id}/samples.png" in keys and row.storage_bytes == sum(
        (settings.artifact_dir / key).stat().st_size for key in keys
    )
    seen = [
        (e.type, (e.data or {}).get("stage") or (e.data or {}).get("deleted")) for e in events(settings, dataset_id)
    ]
    assert seen == [
        ("registered", None), ("ingesting", None), ("cleanup", 1), ("progress", "listing"), ("layout", None),
        ("progress", "writing"), ("progress", "finishing"), ("ready", None),
    ]  # fmt: skip
    assert ingest_dataset(dataset_id, settings) == "ready"  # a duplicate delivery does nothing
    assert row_of(settings, dataset_id).attempts == 1


def test_a_failed_ingestion_records_why_and_deletes_what_it_wrote(settings, tenant_id, s3_server, bucket, sdd_env):
    source = make.put_files(s3_server.client(), bucket, "big/", make.image_folder(train=8, val=2))
    images = sum(len(d) for d in make.image_folder(train=8, val=2).values())
    settings = sdd_env(tenant_storage_quota_bytes=images + 1000)  # the images fit; their shards do not
    dataset_id = register(settings, tenant_id, source)
    assert ingest_dataset(dataset_id, settings) == "failed"
    row = row_of(settings, dataset_id)
    assert (row.status, row.error_code, row.worker) == ("failed", "quota_exceeded", None)
    assert "storage quota" in row.error_message and events(settings, dataset_id)[-1].type == "failed"
    assert stored_keys(settings, dataset_id) == []


def test_an_upload_ingested_deletes_its_archive_and_counts_only_its_shards(settings, tenant_id):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path, data in make.image_folder(train=3, val=1).items():
            archive.writestr(path, data)
    dataset_id = register(settings, tenant_id, "upload:", layout="imagefolder", storage_bytes=len(out.getvalue()))
    key = f"datasets/{dataset_id}/upload.zip"
    stored = LocalArtifactStore(settings.artifact_dir).put_bytes(key, out.getvalue())
    with session_scope(settings) as session:
        ingestion.transition(session, Dataset.id == dataset_id, source=f"upload:{key}", sha256=stored.sha256)
        session.commit()
    assert ingest_dataset(dataset_id, settings) == "ready"
    keys = stored_keys(settings, dataset_id)
    assert key not in keys and row_of(settings, dataset_id).storage_bytes == sum(
        (settings.artifact_dir / k).stat().st_size for k in keys
    )


def test_a_worker_shutting_down_gives_the_ingestion_back_without_counting_the_attempt(settings, tenant_id, s3_server,
                                                                                       bucket):  # fmt: skip
    source = make.put_files(s3_server.client(), bucket, "pets/", make.image_folder(train=2, val=1))
    dataset_id = register(settings, tenant_id, source)
    request_shutdown()
    try:
        assert ingest_dataset(dataset_id, settings) == "ingesting"
    finally:
        clear_shutdown_request()
    row = row_of(settings, dataset_id)
    assert (row.status, row.worker, row.attempts) == ("ingesting", None, 0)
    requeued = events(settings, dataset_id)[-1]
    assert (requeued.type, requeued.data) == ("requeued", {"reason": "shutdown"})
    assert len(list((settings.broker_dir / "queue").glob("*.ingestion.msg"))) == 1  # sent again at once
    assert ingest_dataset(dataset_id, settings) == "ready"


def test_the_reaper_fails_an_ingestion_lost_too_often_and_deletes_its_shards(settings, tenant_id):
    dataset_id = register(settings, tenant_id, "s3://nowhere/x/")
    store = LocalArtifactStore(settings.artifact_dir)
    for attempt in (1, 2):  # SDD_JOB_MAX_ATTEMPTS=2 for this test
        with session_scope(settings) as session:
            assert ingestion.claim(session, dataset_id, f"killed-{attempt}", lease_seconds=60) == attempt
            ingestion.transition(session, Dataset.id == dataset_id, lease_expires_at=utcnow() - timedelta(seconds=1))
            session.commit()
        store.put_bytes(f"datasets/{dataset_id}/shards/train-000000.tar", b"partial")
        reaped, _ = reaper.reap_ingestions(settings, send=lambda settings, dataset_id: True)
        assert (reaped.requeued, reaped.failed) == (([dataset_id], []) if attempt == 1 else ([], [dataset_id]))
    row = row_of(settings, dataset_id)
    assert (row.status, row.error_code) == ("failed", "worker_lost")
    assert stored_keys(settings, dataset_id) == []
    assert ingest_dataset(dataset_id, settings) == "failed"  # a late delivery claims nothing
