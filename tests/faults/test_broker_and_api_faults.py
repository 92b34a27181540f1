"""The broker and the API die: redis-server restarted empty, ``sdd api`` killed under submission load.

The database is the record of every job: whatever the broker forgot is sent again by a worker's
reconciler, and a job the API answered 201 for was committed before the answer.
"""

from __future__ import annotations

import signal
import threading

import httpx
import pytest

from service import tokens
from service.db.session import session_scope
from tests.e2e.service_processes import tiny_job
from tests.faults.cluster import Cluster, tiny_spec
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.slow

JOB_TIMEOUT_S = 150.0


def test_redis_restarted_empty_while_jobs_are_queued(cluster: Cluster):
    worker = cluster.start_worker()
    job_ids = [cluster.submit(tiny_spec(epochs=2, seed=seed)) for seed in range(3)]
    cluster.wait_for(lambda: cluster.job(job_ids[0]).status == "running", JOB_TIMEOUT_S, "the first job to start")
    cluster.restart_redis()  # the two waiting messages (and the running one's) are gone

    cluster.wait_terminal(job_ids, JOB_TIMEOUT_S)
    assert cluster.status_counts(job_ids) == {"succeeded": 3}
    assert "missing from the broker" in worker.log()  # the reconciler, not luck
    cluster.check_no_loss(job_ids)


KILL_AFTER_ACCEPTED = 5


def _submit_until_stopped(
    url: str, token: str, accepted: list[str], refused: list[str], enough: threading.Event
) -> None:
    """Submit tiny jobs one after another, keeping the ids answered 201, until the API dies."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0) as client:
        for seed in range(1, 100):
            try:
                response = client.post("/v1/jobs", json=tiny_job(seed=seed, hyperparameters={"batch_size": 256}))
            except httpx.TransportError:
                return
            if response.status_code == 201:
                accepted.append(response.json()["id"])
                if len(accepted) >= KILL_AFTER_ACCEPTED:
                    enough.set()
            else:
                refused.append(f"{response.status_code} {response.text}")


def test_api_killed_under_submission_load_loses_no_accepted_job(cluster: Cluster):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    worker = cluster.start_worker(concurrency=2, wait=False)
    api = cluster.start_api(port)
    with session_scope(cluster.settings) as session:
        token, _ = tokens.create_token(session, "t1")

    accepted: list[str] = []
    refused: list[str] = []
    enough = threading.Event()
    clients = [
        threading.Thread(target=_submit_until_stopped, args=(url, token, accepted, refused, enough)) for _ in range(3)
    ]
    for client in clients:
        client.start()
    assert enough.wait(timeout=60), refused
    api.process.send_signal(signal.SIGKILL)  # the other clients' requests are in flight
    api.process.wait()
    for client in clients:
        client.join(timeout=30)
    assert len(accepted) >= KILL_AFTER_ACCEPTED and refused == []

    api = cluster.start_api(port)  # a restarted API knows every job it accepted
    cluster.wait_ready(worker)
    cluster.wait_terminal(accepted, JOB_TIMEOUT_S + 10 * len(accepted))
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        for job_id in accepted:
            assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"
    cluster.check_no_loss(accepted)
