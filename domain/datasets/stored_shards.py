"""Where an ingestion's output lies in the artifact store, and how it gets there within the quota.

    datasets/<id>/shards/train-000000.tar …   the WebDataset shards (``sdd_core.data.shard_writer``)
    datasets/<id>/index.json                  the shard index (``sdd_core.data.shard_index``)
    datasets/<id>/samples.png                 the dashboard's grid of sample images
    datasets/<id>/upload.<kind>               an uploaded archive (written by the API)

``ShardUploader`` stores each shard as the writer closes it and deletes the local file, so a
worker's disk holds one shard at a time however large the dataset; past the tenant's storage
quota it stops with ``quota_exceeded``. ``discard_outputs`` deletes what an attempt wrote (its
shards, index and grid; never the uploaded archive): before an attempt starts (a lost one may
have left shards behind) and after one fails.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from domain.datasets.ingestion_errors import IngestionError
from sdd_core.data.shard_index import ShardRef
from service.artifacts import ArtifactStore, validate_key

log = logging.getLogger(__name__)


def shards_prefix(dataset_id: str) -> str:
    return validate_key(f"datasets/{dataset_id}/shards")


def shard_key(dataset_id: str, file_name: str) -> str:
    return validate_key(f"datasets/{dataset_id}/shards/{file_name}")


def index_key(dataset_id: str) -> str:
    return validate_key(f"datasets/{dataset_id}/index.json")


def samples_key(dataset_id: str) -> str:
    return validate_key(f"datasets/{dataset_id}/samples.png")


def discard_outputs(store: ArtifactStore, dataset_id: str) -> int:
    """Delete the dataset's shards, index and sample grid; how many objects went."""
    removed = store.delete_prefix(shards_prefix(dataset_id))
    removed += sum(store.delete(key) for key in (index_key(dataset_id), samples_key(dataset_id)))
    if removed:
        log.info("dataset %s: deleted %d object(s) an ingestion had written", dataset_id, removed)
    return removed


class QuotaGuard:
    """The bytes an ingestion may still store for its tenant (None: no quota), and those it stored."""

    def __init__(self, quota_bytes: int, used_by_others: int) -> None:
        self.quota_bytes = quota_bytes
        self.used_by_others = used_by_others
        self.stored = 0

    @property
    def left(self) -> int | None:
        if self.quota_bytes <= 0:
            return None
        return self.quota_bytes - self.used_by_others - self.stored

    def check(self, more: int, what: str) -> None:
        """``quota_exceeded`` if storing ``more`` bytes (``what``) would pass the quota."""
        left = self.left
        if left is not None and more > left:
            raise IngestionError(
                f"{what} would take your datasets past your storage quota of {self.quota_bytes:,} bytes "
                f"({self.used_by_others:,} bytes taken by your other datasets and uploads, {self.stored:,} by this "
                "one so far); delete datasets or ask the operator for a larger quota",
                code="quota_exceeded",
            )

    def add(self, stored: int) -> None:
        self.stored += stored


class ShardUploader:
    """The writer's ``on_shard``: each closed shard stored under ``datasets/<id>/shards/``, checked
    against the SHA-256 the writer computed, and removed from the local disk."""

    def __init__(self, store: ArtifactStore, dataset_id: str, quota: QuotaGuard) -> None:
        self.store = store
        self.dataset_id = dataset_id
        self.quota = quota

    def __call__(self, path: Path, ref: ShardRef) -> None:
        try:
            self.quota.check(ref.size_bytes, f"shard {ref.key} ({ref.size_bytes:,} bytes)")
            stored = self.store.put_file(shard_key(self.dataset_id, ref.key), path)
        finally:
            path.unlink(missing_ok=True)
        if stored.sha256 != ref.sha256:
            raise OSError(f"shard {ref.key} changed on the local disk before it was stored")
        self.quota.add(stored.size_bytes)

    def stored_ref(self, ref: ShardRef) -> ShardRef:
        """``ref`` as the index lists it: keyed by where it lies in the artifact store."""
        return dataclasses.replace(ref, key=shard_key(self.dataset_id, ref.key))
