"""Workers that die, stop, freeze or get a message twice, with real ``sdd worker`` processes.

Every test ends with ``check_no_loss``: each job terminal, no epoch recorded twice.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from service.broker import RUN_JOB_TASK, celery_app
from tests.faults.cluster import Cluster, tiny_spec

pytestmark = pytest.mark.slow

JOB_TIMEOUT_S = 150.0


def _checkpoints(cluster: Cluster, job_id: str) -> list[int]:
    return [event.data["epoch"] for event in cluster.events(job_id) if event.type == "checkpoint"]


def _wait_for_checkpoint(cluster: Cluster, job_id: str, count: int) -> None:
    cluster.wait_for(
        lambda: len(_checkpoints(cluster, job_id)) >= count, JOB_TIMEOUT_S, f"{count} checkpoint(s) of {job_id}"
    )


def _events_of(cluster: Cluster, job_id: str, type_: str) -> list[dict]:
    return [event.data or {} for event in cluster.events(job_id) if event.type == type_]


def test_sigkill_mid_epoch_resumes_on_another_worker_from_the_checkpoint(cluster: Cluster):
    workers = [cluster.start_worker(wait=False), cluster.start_worker(wait=False)]
    for worker in workers:
        cluster.wait_ready(worker)
    job_id = cluster.submit(tiny_spec(epochs=4))
    _wait_for_checkpoint(cluster, job_id, 1)
    time.sleep(0.5)  # into the next epoch
    owner = cluster.worker_of(job_id)
    stored = _checkpoints(cluster, job_id)[-1]
    cluster.kill(owner)  # the whole group: main process and the pool child that trains

    cluster.wait_terminal([job_id], JOB_TIMEOUT_S)
    job = cluster.job(job_id)
    assert job.status == "succeeded", (job.error_code, job.error_message)
    assert job.attempts == 2
    requeued = _events_of(cluster, job_id, "requeued")
    assert [(data["reason"], data["attempt"]) for data in requeued] == [("lease_expired", 1)]
    resumed = _events_of(cluster, job_id, "resumed")
    assert len(resumed) == 1 and resumed[0]["epoch"] >= stored >= 1
    cluster.check_no_loss([job_id])


def test_sigterm_requeues_the_job_and_the_next_worker_resumes_it(cluster: Cluster):
    """SIGTERM to a prefork worker's main process, then to a solo worker: each time the job stores a
    checkpoint at the next batch, goes back to the queue (not failed, attempt not counted) and the
    next worker continues after that batch (... so no batch is trained twice)."""
    prefork = cluster.start_worker("prefork")
    job_id = cluster.submit(tiny_spec(epochs=4))
    _wait_for_checkpoint(cluster, job_id, 1)
    asked = time.monotonic()
    cluster.terminate(prefork)
    solo = cluster.start_worker("solo", wait=False)  # starts while the prefork worker stops
    assert prefork.process.wait(timeout=60) == 0, prefork.log_tail()
    assert time.monotonic() - asked < 20  # stopped at a batch, not after the whole job
    assert "shutting down; stopping the training loop" in prefork.log(), prefork.log_tail()  # the flag, at a batch
    assert "re-queued because the worker is shutting down" in prefork.log(), prefork.log_tail()
    assert cluster.job(job_id).status in {"queued", "running"}  # never failed

    cluster.wait_for(lambda: len(_events_of(cluster, job_id, "resumed")) == 1, JOB_TIMEOUT_S, "the solo worker resumes")
    resumed_at = _events_of(cluster, job_id, "resumed")[0]["epoch"]
    cluster.wait_for(
        lambda: max(_checkpoints(cluster, job_id)) > resumed_at, JOB_TIMEOUT_S, "an epoch on the solo worker"
    )
    cluster.terminate(solo)
    cluster.start_worker("prefork", wait=False)
    assert solo.process.wait(timeout=60) == 0, solo.log_tail()
    assert "shutting down; stopping the training loop" in solo.log(), solo.log_tail()
    assert "re-queued because the worker is shutting down" in solo.log(), solo.log_tail()

    cluster.wait_terminal([job_id], JOB_TIMEOUT_S)
    job = cluster.job(job_id)
    assert job.status == "succeeded", (job.error_code, job.error_message)
    assert job.attempts == 1  # the two shutdowns gave their attempts back
    assert [data["reason"] for data in _events_of(cluster, job_id, "requeued")] == ["shutdown", "shutdown"]
    resumed = _events_of(cluster, job_id, "resumed")
    stopped_at = [data for data in _events_of(cluster, job_id, "checkpoint") if "batch" in data]
    assert len(resumed) == 2 and len(stopped_at) == 2  # each shutdown stored a checkpoint at its batch ...
    assert [(data["epoch"], data["batch"]) for data in resumed] == [
        (data["epoch"], data["batch"]) for data in stopped_at
    ]
    cluster.check_no_loss([job_id])


def test_duplicate_delivery_while_the_first_copy_runs_trains_once(cluster: Cluster):
    worker = cluster.start_worker(concurrency=2)
    job_id = cluster.insert_job(tiny_spec(epochs=2))
    for _ in range(2):  # the same message twice, as a broker's redelivery would hand it out
        celery_app.send_task(RUN_JOB_TASK, args=[job_id], task_id=f"dup-{job_id}")
    cluster.wait_terminal([job_id], JOB_TIMEOUT_S)
    job = cluster.job(job_id)
    assert job.status == "succeeded" and job.attempts == 1
    assert len(_events_of(cluster, job_id, "started")) == 1
    cluster.wait_for(lambda: f"job {job_id}: not claimed" in worker.log(), 30, "the second copy to be skipped")
    cluster.check_no_loss([job_id])


def test_a_frozen_worker_that_wakes_up_after_losing_its_lease_records_nothing(cluster: Cluster):
    """SIGSTOP (a pre-empted VM, a stuck NFS read) past the lease: the job moves on; on SIGCONT the
    old attempt finds out and stops, so at most one attempt records anything."""
    workers = [cluster.start_worker(wait=False), cluster.start_worker(wait=False)]
    for worker in workers:
        cluster.wait_ready(worker)
    job_id = cluster.submit(tiny_spec(epochs=4))
    _wait_for_checkpoint(cluster, job_id, 1)
    frozen = cluster.worker_of(job_id)
    os.killpg(frozen.pid, signal.SIGSTOP)
    cluster.wait_for(lambda: len(_events_of(cluster, job_id, "resumed")) == 1, JOB_TIMEOUT_S, "another worker resumes")
    os.killpg(frozen.pid, signal.SIGCONT)

    cluster.wait_terminal([job_id], JOB_TIMEOUT_S)
    cluster.wait_for(lambda: "lost the job to another attempt" in frozen.log(), 30, "the old attempt to stop")
    job = cluster.job(job_id)
    assert job.status == "succeeded" and job.attempts == 2
    cluster.check_no_loss([job_id])
