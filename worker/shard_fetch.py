"""How a worker's trainer gets a sharded dataset's shards: ``TrainOptions.fetch_shard``.

A shard key is one of two things (``sdd_core.data.shard_index``):

* an artifact key (``datasets/<id>/shards/train-000000.tar``), for a dataset the ingestion wrote:
  read in place from the local store, or fetched into the node's cache from the object store;
* an ``s3://`` address, for shards registered where they lie (``domain.datasets.registered_shards``):
  fetched from that bucket (the workers' credentials, ``SDD_DATASET_S3_ENDPOINT_URL``) into the
  same node cache.

Either way the copy is checked against the SHA-256 the index records, downloaded once per node
whatever the number of jobs reading it, and pinned for as long as the process that fetched it
reads it (``service.artifact_cache``): the trainer keeps a fetched shard's path for the run. The
fetcher is called in the training process (which fetches the next shards ahead) and in its
DataLoader workers: each process uses stores of its own (boto3 clients are not fork-safe), made
on first use, so the fetcher itself pickles as its settings.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from domain.datasets.sources import S3_SCHEME, parse_s3_uri
from service.artifact_cache import ArtifactCache, CachePins
from service.artifact_stores import get_artifact_store
from service.artifacts import ArtifactStore, ChecksumMismatch, sha256_file
from service.settings import Settings

log = logging.getLogger(__name__)


class ShardFetcher:
    """``fetch_shard(key, sha256) -> local path`` for the worker's trainer (see the module docstring)."""

    def __init__(self, settings: Settings, store: ArtifactStore | None = None) -> None:
        self.settings = settings
        self._start(store)

    def _start(self, store: ArtifactStore | None) -> None:
        self._pid = os.getpid()
        self._store = store  # the job's own store, in the process that made the fetcher
        self._own_store: ArtifactStore | None = None
        self._pins = CachePins()

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.settings = state["settings"]
        self._start(None)

    def __call__(self, key: str, sha256: str) -> Path:
        if key.startswith(S3_SCHEME):
            return self._from_source(key, sha256)
        return self._artifact_store().fetch(key, sha256)

    def close(self) -> None:
        """Unpin what this process fetched (the job is over)."""
        self._pins.release()
        if self._own_store is not None:
            self._own_store.close()
            self._own_store = None

    def _artifact_store(self) -> ArtifactStore:
        if self._pid != os.getpid():  # a forked loader worker: never the parent's clients or pins
            self._start(None)
        if self._store is not None:
            return self._store
        if self._own_store is None:
            self._own_store = get_artifact_store(self.settings)
        return self._own_store

    def _from_source(self, uri: str, sha256: str) -> Path:
        """A registered shard from its own bucket, into the node cache."""
        # imported here: the embedded default (no S3) never loads boto3
        from botocore.exceptions import BotoCoreError, ClientError

        from service.s3_store import s3_client

        self._artifact_store()  # resets what a forked process inherited
        location = parse_s3_uri(uri)
        bucket, name = location.bucket, location.key_prefix.rstrip("/")
        client = s3_client(self.settings.dataset_s3_endpoint_url or self.settings.s3_endpoint_url)

        def fill(dest: Path) -> None:
            try:
                client.download_file(bucket, name, str(dest))
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code"))
                if code in ("404", "NoSuchKey", "NotFound"):
                    raise FileNotFoundError(f"{uri} is gone from its bucket") from exc
                raise OSError(f"{uri} cannot be read: {code}") from exc
            except BotoCoreError as exc:
                raise OSError(f"{uri} cannot be read: {type(exc).__name__}") from exc
            actual = sha256_file(dest)
            if actual != sha256:
                dest.unlink(missing_ok=True)
                raise ChecksumMismatch(uri, sha256, actual)

        cache = ArtifactCache(self.settings.cache_dir, self.settings.cache_max_bytes)
        return cache.file(sha256, fill, self._pins)
