"""A worker killed outright on a node without a shared disk: the job resumes on another node from
the checkpoint in the object store.

The two workers share PostgreSQL, Redis and an S3 bucket (moto's standalone server on loopback)
and nothing else: each has an ``SDD_HOME`` of its own, so the second worker can only find the
first one's checkpoint in the bucket, and its node cache starts empty.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from service.db.models import Artifact
from service.db.session import session_scope
from tests.e2e.service_processes import ServiceProcess, sdd_command
from tests.faults.cluster import Cluster, tiny_spec
from tests.fixtures.servers import S3Server

pytestmark = pytest.mark.slow

BUCKET = "sdd-faults"
JOB_TIMEOUT_S = 150.0


def _start_node(cluster: Cluster, name: str, s3: S3Server) -> ServiceProcess:
    """``sdd worker`` with its own SDD_HOME and the bucket as artifact store, in a group of its own."""
    home = cluster.root / f"{name}_home"
    env = {**cluster.env, **s3.environment(), "SDD_HOME": str(home), "SDD_ARTIFACT_URL": f"s3://{BUCKET}/jobs"}
    worker = ServiceProcess.start(
        name,
        sdd_command("worker", "--pool", "prefork", "--concurrency", "1"),
        env,
        cluster.root / "logs" / f"{name}.log",
        new_session=True,
    )
    cluster.workers.append(worker)
    return worker


def _checkpoint_epochs(cluster: Cluster, job_id: str) -> list[int]:
    with session_scope(cluster.settings) as session:
        return list(
            session.scalars(select(Artifact.epoch).where(Artifact.job_id == job_id, Artifact.kind == "checkpoint"))
        )


def test_sigkill_resumes_on_a_node_with_its_own_folders(cluster: Cluster, s3_server: S3Server) -> None:
    s3_server.create_bucket(BUCKET)
    nodes = [_start_node(cluster, name, s3_server) for name in ("node_a", "node_b")]
    for node in nodes:
        cluster.wait_ready(node)
    job_id = cluster.submit(tiny_spec(epochs=4))
    cluster.wait_for(lambda: _checkpoint_epochs(cluster, job_id), JOB_TIMEOUT_S, f"a checkpoint of {job_id}")
    owner = cluster.worker_of(job_id)
    stored = max(_checkpoint_epochs(cluster, job_id))
    cluster.kill(owner)  # main process and the pool child that trains: no chance to store anything more

    cluster.wait_terminal([job_id], JOB_TIMEOUT_S)
    job = cluster.job(job_id)
    assert job.status == "succeeded", (job.error_code, job.error_message)
    resumed = [event.data or {} for event in cluster.events(job_id) if event.type == "resumed"]
    assert len(resumed) == 1 and resumed[0]["epoch"] >= stored >= 1
    survivor = next(node for node in nodes if node is not owner)
    assert f"checkpoints/epoch_{resumed[0]['epoch']:04d}.pt" in survivor.log()  # fetched from the bucket
    names = s3_server.object_names(BUCKET)
    assert f"jobs/jobs/{job_id}/student.safetensors" in names
    for node in nodes:  # no artifact on either node's disk: only the cache of what it fetched
        home = cluster.root / f"{node.name}_home"
        artifacts = home / "artifacts"
        assert not artifacts.exists() or not any(p.is_file() for p in artifacts.rglob("*")), os.listdir(artifacts)
    cluster.check_no_loss([job_id])
