"""Object storage end to end: the API and two workers with separate local folders, sharing only
PostgreSQL, Redis and an S3 bucket on a real S3-protocol server (moto's standalone server).

One run covers what a fleet without a shared disk relies on: an uploaded dataset (ingested into
shards by a worker) and teacher weights go to the bucket; a job trains on the uploaded dataset, is
stopped by SIGTERM on one worker and resumes on the other from the stop checkpoint in the bucket; a
second job on the same dataset, taught by the first, finds its shards in that node's cache
(each downloaded once); the
student downloads through the API (streamed, digest checked), and as a redirect to a presigned
URL when ``SDD_S3_PRESIGNED_DOWNLOADS=true``. No artifact is ever written to a local folder.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from service.db.models import Artifact, Dataset, Job
from service.db.session import dispose_engines, session_scope
from service.settings import Settings
from tests.e2e.service_processes import (
    WORKER_READY,
    ServiceProcess,
    create_tokens,
    event_types,
    run_sdd,
    sdd_command,
    service_environment,
    stop_processes,
    submit,
    tiny_job,
    wait_for_job,
    wait_until_ready,
)
from tests.e2e.test_uploads_and_failures import image_folder_zip, resnet8_weights, upload_dataset
from tests.fixtures.servers import (
    PostgresServer,
    RedisServer,
    S3Server,
    free_port,
)

pytestmark = pytest.mark.slow

BUCKET = "sdd-e2e"
PREFIX = "fleet"
REDIS_DB = RedisServer.DATABASES - 12  # among the stacks' reserved databases, clear of tests/e2e and tests/worker


@pytest.fixture
def fleet_env(tmp_path, s3_server: S3Server, postgres_server: PostgresServer, redis_server: RedisServer):
    """The environment every process shares (database, broker, bucket); each gets its own SDD_HOME."""
    database = postgres_server.create_database(f"e2e_s3_{os.getpid()}")
    redis_server.flush(REDIS_DB)
    s3_server.create_bucket(BUCKET)
    shared = {
        "SDD_ARTIFACT_URL": f"s3://{BUCKET}/{PREFIX}",
        "SDD_RATE_LIMIT_PER_MINUTE": "0",
        **s3_server.environment(),
    }
    env = service_environment(tmp_path / "migrate_home", postgres_server.url(database), redis_server.url(REDIS_DB))
    env.update(shared)
    run_sdd(env, "migrate")
    try:
        yield env
    finally:
        dispose_engines()
        postgres_server.drop_database(database)
        redis_server.flush(REDIS_DB)


def _start(name: str, args: list[str], env: dict[str, str], root: Path) -> ServiceProcess:
    own = {**env, "SDD_HOME": str(root / f"{name}_home")}
    return ServiceProcess.start(name, sdd_command(*args), own, root / "logs" / f"{name}.log")


def _owner(settings: Settings, job_id: str, workers: list[ServiceProcess]) -> ServiceProcess:
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        assert job is not None and job.worker
        pid = int(job.worker.split(":")[1].split("/")[0])
    return next(worker for worker in workers if worker.pid == pid)


def _local_files(home: Path) -> list[str]:
    """Files under a process's SDD_HOME other than its node cache and temp folders."""
    ignored = ("cache", "work", "broker")
    return sorted(
        str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() and p.relative_to(home).parts[0] not in ignored
    )


def test_a_fleet_without_a_shared_disk(tmp_path, fleet_env, s3_server: S3Server, monkeypatch) -> None:
    root = tmp_path
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = _start("api", ["api", "--host", "127.0.0.1", "--port", str(port)], fleet_env, root)
    workers = [
        _start(name, ["worker", "--pool", "solo", "--concurrency", "1"], fleet_env, root)
        for name in ("node_a", "node_b")
    ]
    processes = [api, *workers]
    settings = Settings(home=root / "test_home", database_url=fleet_env["SDD_DATABASE_URL"])
    try:
        tokens = create_tokens(fleet_env, ["t1"])
        wait_until_ready(url, processes)
        for worker in workers:
            worker.wait_for_log(WORKER_READY, 120)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['t1']}"}, timeout=30) as client:
            # Uploads go to the bucket, not to the API's disk.
            dataset = upload_dataset(client, image_folder_zip())
            model = client.post(
                "/v1/models",
                files={"file": ("teacher.safetensors", resnet8_weights(), "application/octet-stream")},
                data={"arch": "resnet8", "num_classes": "10"},
            )
            assert model.status_code == 201, model.text
            names = s3_server.object_names(BUCKET)
            ingested = f"{PREFIX}/datasets/{dataset['id']}"
            assert f"{ingested}/index.json" in names and f"{ingested}/shards/train-000000.tar" in names, names
            assert not any(name.startswith(f"{ingested}/upload.") for name in names)  # the archive, once ingested
            assert f"{PREFIX}/models/{model.json()['id']}/weights.safetensors" in names

            # A job on the uploaded dataset, stopped on its worker, resumes on the other one.
            body = tiny_job(dataset=dataset["id"], hyperparameters={"epochs": 40, "batch_size": 16})
            job = submit(client, body)
            wait_for_job(client, job["id"], {"running"}, processes=processes)
            with session_scope(settings) as session:
                _wait_for_checkpoint_row(session, job["id"])
            first = _owner(settings, job["id"], workers)
            other = next(worker for worker in workers if worker is not first)
            first.signal(signal.SIGTERM)
            assert first.process.wait(timeout=60) == 0, first.log_tail()
            done = wait_for_job(client, job["id"], {"succeeded"}, processes=[api, other])
            assert done["progress"]["epoch"] == 40
            resumed = [e for e in client.get(f"/v1/jobs/{job['id']}/events").json()["data"] if e["type"] == "resumed"]
            assert len(resumed) == 1 and resumed[0]["data"]["batch"] > 0, resumed  # from the stop checkpoint
            assert _owner(settings, job["id"], workers) is other

            # A second job on the same dataset, taught by the first: the node has the dataset cached.
            student = submit(client, tiny_job(dataset=dataset["id"], method="kd", teacher={"job": job["id"]}))
            wait_for_job(client, student["id"], {"succeeded"}, processes=[api, other])
            assert "resumed" not in event_types(client, student["id"])
            fetched = [line.split("fetched ", 1)[1].split(" ")[0] for line in other.log().splitlines()
                       if f"fetched s3://{BUCKET}/{ingested}/" in line]  # fmt: skip
            assert fetched and len(fetched) == len(set(fetched)), other.log_tail()  # once per node, for two jobs

            # The student, streamed through the API with its digest.
            response = client.get(f"/v1/jobs/{student['id']}/student")
            assert response.status_code == 200
            digest = hashlib.sha256(response.content).hexdigest()
            assert response.headers["x-content-sha256"] == digest == _sha(settings, student["id"], "student")
            assert client.get(f"/v1/jobs/{student['id']}/plots/curves.png").headers["x-plot-source"] == "stored"

        # Presigned downloads: the API answers 307 to the bucket; the bytes are the same.
        for name, value in {**s3_server.environment(), "SDD_HOME": str(root / "presigned_home")}.items():
            monkeypatch.setenv(name, value)
        presigned = Settings(
            database_url=fleet_env["SDD_DATABASE_URL"],
            broker_url=fleet_env["SDD_BROKER_URL"],
            artifact_url=fleet_env["SDD_ARTIFACT_URL"],
            s3_endpoint_url=s3_server.endpoint_url,
            s3_presigned_downloads=True,
        )
        with TestClient(create_app(presigned)) as app:
            redirect = app.get(
                f"/v1/jobs/{student['id']}/student",
                headers={"Authorization": f"Bearer {tokens['t1']}"},
                follow_redirects=False,
            )
        assert redirect.status_code == 307 and redirect.headers["location"].startswith(s3_server.endpoint_url)
        direct = httpx.get(redirect.headers["location"])
        assert direct.status_code == 200 and hashlib.sha256(direct.content).hexdigest() == digest
        assert redirect.headers["x-content-sha256"] == digest

        # Nothing but the node caches on local disks: every artifact lives in the bucket.
        for process in processes:
            assert _local_files(root / f"{process.name}_home") == [], process.name
        assert (root / "node_b_home" / "cache" / "files" / _index_sha(settings, dataset["id"])).is_file()
    finally:
        stop_processes(processes)


def _wait_for_checkpoint_row(session, job_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        found = session.scalar(select(Artifact.id).where(Artifact.job_id == job_id, Artifact.kind == "checkpoint"))
        if found is not None:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"no checkpoint of {job_id} after {timeout:.0f}s")
        session.rollback()
        time.sleep(0.1)


def _sha(settings: Settings, job_id: str, kind: str) -> str:
    with session_scope(settings) as session:
        sha = session.scalar(select(Artifact.sha256).where(Artifact.job_id == job_id, Artifact.kind == kind))
        assert sha is not None
        return sha


def _index_sha(settings: Settings, dataset_id: str) -> str:
    """The SHA-256 of the dataset's shard index: a node caches it under that name."""
    with session_scope(settings) as session:
        row = session.get(Dataset, dataset_id)
        assert row is not None and row.manifest_sha256 is not None
        return row.manifest_sha256
