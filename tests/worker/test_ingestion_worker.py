"""Ingestion in real ``sdd worker`` processes, with the artifact store and the sources in a real
S3-protocol server (moto's, on loopback): a default worker (no ``--queues``) ingests through the
ingestion queue and trains a job on the dataset; an ingestion killed mid-way (SIGKILL: its lease
expires) or stopped mid-way (SIGTERM to a prefork worker: given back at once) starts over on the
next worker, which first deletes the shards the stopped attempt stored.

"Mid-way" is made certain by freezing the S3 server (SIGSTOP) once the first shard of the dataset
is stored: the attempt cannot read its remaining images until the server runs again (SIGCONT).

The workers follow one another through the module (one is started per step): the tests run in
order.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from domain.datasets import ingestion
from service.broker import celery_app, configure
from service.db.models import Dataset, DatasetEvent, Tenant
from service.db.session import dispose_engines, session_scope
from service.job_queue import enqueue_job
from service.migrate import upgrade
from service.settings import Settings
from tests.domain import dataset_files as make
from tests.fixtures.servers import S3Server, ServerUnavailable, start_s3, stop_s3
from tests.worker.conftest import _insert_job, start_worker_process
from tests.worker.worker_harness import TINY_SPEC, WorkerProcess, wait_for_status

pytestmark = pytest.mark.slow
LEASE_SECONDS = 6
MANY_IMAGES = 150  # 48 px noise: about 13 to a 64 KiB shard, so the first shard comes long before the last image
_clusters = itertools.count(1)


@dataclass
class Cluster:
    s3: S3Server
    home: Path
    env: dict[str, str]
    settings: Settings
    tenant_id: str
    sources: str
    artifacts: str
    workers: list[WorkerProcess] = field(default_factory=list)

    def start_worker(self, pool: str = "solo") -> WorkerProcess:
        worker = start_worker_process(self.home, self.env, pool)  # no --queues: the default serves ingestion
        self.workers.append(worker)
        return worker

    def register(self, prefix: str) -> str:
        """A dataset registered from ``s3://<sources>/<prefix>`` and handed to the workers, as the API does."""
        source = f"s3://{self.sources}/{prefix}"
        with session_scope(self.settings) as session:
            row = Dataset(tenant_id=self.tenant_id, name=prefix.strip("/"), status="ingesting", source=source,
                          storage_key="datasets/x", size_bytes=0, sha256="")  # fmt: skip
            session.add(row)
            session.flush()
            session.add(DatasetEvent(dataset_id=row.id, type="registered", data={"source": source}))
            session.commit()
            ingestion.start_ingestion(session, self.settings, row)
            return row.id

    def row(self, dataset_id: str) -> Dataset:
        with session_scope(self.settings) as session:
            row = session.get(Dataset, dataset_id)
            session.expunge(row)
            return row

    def events(self, dataset_id: str) -> list[tuple[str, dict]]:
        with session_scope(self.settings) as session:
            rows = ingestion.dataset_events(session, self.tenant_id, dataset_id)
            return [(event.type, event.data or {}) for event in rows]

    def wait_for(self, dataset_id: str, status: str, worker: WorkerProcess, timeout: float = 120) -> Dataset:
        deadline = time.monotonic() + timeout
        while (row := self.row(dataset_id)).status != status:
            if worker.process.poll() is not None:
                pytest.fail(f"worker exited while dataset {dataset_id} was {row.status}:\n{worker.log()}")
            if time.monotonic() > deadline or row.status == "failed":
                pytest.fail(f"dataset {dataset_id} is {row.status} ({row.error_message}):\n{worker.log()}")
            time.sleep(0.3)
        return row

    def stored_shards(self, dataset_id: str) -> list[str]:
        return self.s3.object_names(self.artifacts, f"sdd/datasets/{dataset_id}/shards/")

    def freeze_once_a_shard_is_stored(self, dataset_id: str, timeout: float = 60) -> None:
        """SIGSTOP the S3 server as soon as the dataset's first shard is stored."""
        deadline = time.monotonic() + timeout
        while not self.stored_shards(dataset_id):
            if time.monotonic() > deadline:
                pytest.fail(f"no shard of {dataset_id} was stored within {timeout:.0f}s:\n{self.workers[-1].log()}")
            time.sleep(0.01)
        os.kill(self.s3.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.s3.process.pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    try:
        s3 = start_s3()
    except ServerUnavailable as exc:
        pytest.skip(f"needs moto_server: {exc}")
    number = next(_clusters)
    sources = s3.create_bucket(f"sources-{os.getpid()}-{number}")
    artifacts = s3.create_bucket(f"artifacts-{os.getpid()}-{number}")
    home = tmp_path_factory.mktemp("ingestion") / "sdd_home"
    env = {
        **s3.environment(),
        "SDD_ARTIFACT_URL": f"s3://{artifacts}/sdd",
        "SDD_DATASET_SOURCES": f"s3://{sources}/=acme",
        "SDD_SHARD_MAX_BYTES": str(1 << 16),
        "SDD_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "SDD_REAPER_INTERVAL_SECONDS": "0.5",
    }
    settings = Settings(home=home, artifact_url=f"s3://{artifacts}/sdd", s3_endpoint_url=s3.endpoint_url,
                        dataset_sources=f"s3://{sources}/=acme")  # fmt: skip
    settings.ensure_dirs()
    upgrade(str(settings.database_url))
    configure(celery_app, settings)
    with session_scope(settings) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
    client = s3.client()
    make.put_files(client, sources, "pets/", make.image_folder(("cat", "dog"), train=8, val=3))
    many = {f"train/{('cat', 'dog')[i % 2]}/{i:03d}.jpg": make.image_bytes(i % 2, i, 48) for i in range(MANY_IMAGES)}
    many |= {f"val/{name}/{name}.jpg": make.image_bytes(label, 999, 48) for label, name in enumerate(("cat", "dog"))}
    make.put_files(client, sources, "many/", many)
    make.put_files(client, sources, "birds/", make.cub200(classes=2, per_class=4))
    make.put_files(client, sources, "ilsvrc/", make.imagenet("kaggle"))
    cluster = Cluster(s3, home, env, settings, tenant_id, sources, artifacts)
    try:
        yield cluster
    finally:
        cluster.thaw()
        for worker in cluster.workers:
            worker.stop()
        dispose_engines()
        stop_s3(s3)


def test_a_default_worker_ingests_each_layout_through_the_queue_and_trains_a_job_on_it(cluster: Cluster):
    """An image folder, CUB-200-2011 and ImageNet as distributed, each registered from the bucket
    (layout detected), ingested by the worker and trained on by a job in the same worker."""
    configure(celery_app, cluster.settings)
    worker = cluster.start_worker()
    pets, birds, ilsvrc = (cluster.register(prefix) for prefix in ("pets/", "birds/", "ilsvrc/"))
    row = cluster.wait_for(pets, "ready", worker)
    assert (row.layout, row.num_classes, row.train_count, row.val_count) == ("imagefolder", 2, 16, 6)
    index = cluster.s3.object_names(cluster.artifacts, f"sdd/datasets/{pets}/")
    assert f"sdd/{row.index_key}" in index and f"sdd/datasets/{pets}/samples.png" in index
    row = cluster.wait_for(birds, "ready", worker)
    assert (row.layout, row.num_classes, row.train_count, row.val_count) == ("cub200", 2, 6, 2)
    row = cluster.wait_for(ilsvrc, "ready", worker)
    assert (row.layout, row.num_classes) == ("imagenet", len(make.WORDS))

    job_ids = []
    for dataset_id in (pets, birds, ilsvrc):
        spec = {**TINY_SPEC, "dataset": dataset_id, "student": "resnet8", "image_size": 16}
        job_ids.append(_insert_job(cluster.settings, cluster.tenant_id, spec))
        enqueue_job(job_ids[-1])
    for job_id in job_ids:
        job = wait_for_status(cluster.settings, job_id, {"succeeded", "failed"}, worker=worker, timeout=240)
        assert job.status == "succeeded", f"{job.error_code}: {job.error_message}\n{worker.log()}"
    assert "fetched s3://" in worker.log()  # its index and shards came through the node's cache


def test_an_ingestion_killed_or_stopped_mid_way_starts_over_cleanly_on_the_next_worker(cluster: Cluster):
    configure(celery_app, cluster.settings)
    victim = cluster.workers[-1]  # the running default worker
    killed = cluster.register("many/")
    try:
        cluster.freeze_once_a_shard_is_stored(killed)
        victim.process.kill()  # SIGKILL: no chance to record anything; its lease runs out
        victim.process.wait()
    finally:
        cluster.thaw()
    left = len(cluster.stored_shards(killed))
    assert left >= 1 and cluster.row(killed).status == "ingesting"

    prefork = cluster.start_worker("prefork")  # the next worker's reaper hands the ingestion on
    row = cluster.wait_for(killed, "ready", prefork)
    assert (row.attempts, row.train_count, row.val_count) == (2, MANY_IMAGES, 2)
    events = cluster.events(killed)
    assert ("requeued", {"reason": "lease_expired", "attempt": 1}) in events
    assert ("cleanup", {"deleted": left}) in events  # the killed attempt's shards, deleted before starting over
    assert len(cluster.stored_shards(killed)) == row.statistics["shards"]  # the index's, and nothing else

    stopped = cluster.register("many/")
    try:
        cluster.freeze_once_a_shard_is_stored(stopped)
        prefork.process.send_signal(signal.SIGTERM)  # a warm shutdown: forwarded to the pool child
        time.sleep(1.0)
    finally:
        cluster.thaw()
    assert prefork.process.wait(timeout=60) == 0
    row = cluster.row(stopped)
    if row.attempts:  # shown in full on failure (an assertion message would be cut short)
        print(cluster.events(stopped), prefork.log(), sep="\n")
    assert (row.status, row.worker, row.attempts) == ("ingesting", None, 0)  # given back, the attempt not counted
    assert cluster.events(stopped)[-1] == ("requeued", {"reason": "shutdown"})

    successor = cluster.start_worker()
    row = cluster.wait_for(stopped, "ready", successor)
    assert row.attempts == 1 and row.train_count == MANY_IMAGES
    assert any(kind == "cleanup" for kind, _ in cluster.events(stopped))
