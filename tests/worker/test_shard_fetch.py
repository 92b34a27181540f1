"""``worker.shard_fetch.ShardFetcher`` (``TrainOptions.fetch_shard``) and ``dataset_source`` of a
ready sharded dataset: shards by artifact key or by ``s3://`` address, into the node cache and
checked; the allow-list consulted again for shards registered where they lie; datasets uploaded
before shards still read as folders."""

from __future__ import annotations

import hashlib
import itertools
import os
import pickle

import pytest

from domain.jobs.references import dataset_source
from sdd_core.errors import DataError
from service import migrate
from service.artifacts import ChecksumMismatch
from service.db.models import Dataset, Tenant
from service.db.session import session_scope
from service.local_store import LocalArtifactStore
from worker.shard_fetch import ShardFetcher

_buckets = itertools.count(1)


@pytest.fixture
def bucket(s3_server, monkeypatch) -> str:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    return s3_server.create_bucket(f"fetch-{os.getpid()}-{next(_buckets)}")


@pytest.fixture
def settings(sdd_env, s3_server, bucket):
    configured = sdd_env(dataset_sources=f"s3://{bucket}/shared/=acme", dataset_s3_endpoint_url=s3_server.endpoint_url)
    migrate.upgrade(str(configured.database_url))
    return configured


def test_an_artifact_key_is_read_from_the_store_and_an_s3_address_through_the_node_cache(settings, s3_server, bucket):
    store = LocalArtifactStore(settings.artifact_dir)
    stored = store.put_bytes("datasets/ds_1/shards/train-000000.tar", b"an ingested shard")
    data = b"a registered shard"
    s3_server.client().put_object(Bucket=bucket, Key="shared/train/000.tar", Body=data)
    uri, sha = f"s3://{bucket}/shared/train/000.tar", hashlib.sha256(data).hexdigest()

    fetch = ShardFetcher(settings, store)
    assert fetch(stored.key, stored.sha256) == store.path(stored.key)
    cached = fetch(uri, sha)
    assert cached.read_bytes() == data and cached.is_relative_to(settings.cache_dir)
    s3_server.client().delete_object(Bucket=bucket, Key="shared/train/000.tar")
    assert fetch(uri, sha) == cached  # once per node
    with pytest.raises(ChecksumMismatch):  # a shard changed in its bucket since it was indexed
        fetch(_put(s3_server, bucket, b"changed"), hashlib.sha256(b"as indexed").hexdigest())
    with pytest.raises(FileNotFoundError, match="gone from its bucket"):
        fetch(f"s3://{bucket}/shared/train/missing.tar", "0" * 64)

    copy = pickle.loads(pickle.dumps(fetch))  # a spawned loader worker's: its own stores
    assert copy(stored.key, stored.sha256) == store.path(stored.key) and copy(uri, sha) == cached
    fetch.close()
    copy.close()


def _put(s3_server, bucket, data: bytes) -> str:
    s3_server.client().put_object(Bucket=bucket, Key="shared/train/002.tar", Body=data)
    return f"s3://{bucket}/shared/train/002.tar"


def _ready_dataset(settings, **columns) -> tuple[str, str]:
    with session_scope(settings) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        values = {"storage_key": "datasets/x", **columns}
        row = Dataset(tenant_id=tenant.id, name="pets", status="ready", size_bytes=0, sha256="", num_classes=2,
                      image_size=16, **values)  # fmt: skip
        session.add(row)
        session.flush()
        return tenant.id, row.id


def test_a_ready_sharded_dataset_is_its_fetched_index(settings, sdd_env, bucket):
    store = LocalArtifactStore(settings.artifact_dir)
    index = store.put_bytes("datasets/ds_x/index.json", b'{"an": "index"}')
    tenant_id, dataset_id = _ready_dataset(
        settings, layout="shards", source=f"s3://{bucket}/shared/", index_key=index.key, manifest_sha256=index.sha256
    )
    with session_scope(settings) as session:
        assert dataset_source(session, settings, tenant_id, dataset_id, store) == f"shards:{store.path(index.key)}"
    revoked = sdd_env(dataset_sources="")
    with session_scope(revoked) as session, pytest.raises(DataError, match="is not under a prefix"):
        dataset_source(session, revoked, tenant_id, dataset_id, store)
    store.delete(index.key)
    with session_scope(settings) as session, pytest.raises(DataError, match="shard index of dataset .* is missing"):
        dataset_source(session, settings, tenant_id, dataset_id, store)


def test_a_dataset_uploaded_before_shards_still_reads_as_its_folder(settings):
    store = LocalArtifactStore(settings.artifact_dir)
    (settings.artifact_dir / "datasets" / "ds_old" / "train").mkdir(parents=True)
    tenant_id, dataset_id = _ready_dataset(settings, id="ds_old", storage_key="datasets/ds_old")
    with session_scope(settings) as session:
        source = dataset_source(session, settings, tenant_id, dataset_id, store)
    assert source == f"imagefolder:{settings.artifact_dir / 'datasets' / 'ds_old'}"
