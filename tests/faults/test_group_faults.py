"""A lockstep group whose worker stops mid-epoch, with real ``sdd worker`` processes.

Two members of one sweep that draw the same batches (SD-KD on digits with one teacher, seed,
batch size and epochs; beta and scales differ) train together in one worker task. SIGTERM to
that worker's main process stops the group at a batch; both jobs go back to the queue and the
next worker resumes them together: a shutdown stops every student of a group at one batch (see
``sdd_core.trainer.loop``). Each member then ends exactly as it would have trained alone: every epoch
recorded once, and the same student weights as ``sdd_core.trainer.train`` on its spec in this
process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from sqlalchemy import select

from domain.jobs.validation import trainable_spec
from sdd_core.models import create_model
from sdd_core.trainer import train
from sdd_core.trainer.options import TrainOptions
from service.artifact_stores import get_artifact_store
from service.artifacts import model_weights_key, sha256_file
from service.db.models import Artifact, Job, JobMetric, Sweep, UploadedModel, new_id
from service.db.session import session_scope
from service.job_queue import enqueue_job
from tests.faults.cluster import Cluster, stored_job, tiny_spec

pytestmark = pytest.mark.slow

JOB_TIMEOUT_S = 150.0
EPOCHS = 3
MEMBERS = ({"beta": 1.0, "scales": [1, 2]}, {"beta": 4.0, "scales": [1, 2, 4]})


def _upload_teacher(cluster: Cluster) -> str:
    """A resnet8 teacher for digits' 10 classes, stored as an uploaded model of the tenant."""
    torch.manual_seed(0)
    weights = {name: value.contiguous() for name, value in create_model("resnet8", 10).state_dict().items()}
    path = cluster.root / "teacher.safetensors"
    save_file(weights, str(path))
    with session_scope(cluster.settings) as session:
        row = UploadedModel(tenant_id=cluster.tenant_id, arch="resnet8", num_classes=10, storage_key="",
                            size_bytes=path.stat().st_size, sha256=sha256_file(path))  # fmt: skip
        session.add(row)
        session.flush()
        model_id = row.id
    store = get_artifact_store(cluster.settings)
    try:
        store.put_file(model_weights_key(model_id), path)
    finally:
        store.close()
    return model_id


def _store_sweep(cluster: Cluster, requests: list[dict[str, Any]]) -> list[str]:
    """The sweep row and its queued members (validated, resolved, in their lockstep group) in one
    commit, as ``domain.sweeps.sweep_submission.submit_sweep`` stores them."""
    with session_scope(cluster.settings) as session:
        sweep = Sweep(id=new_id("swp"), tenant_id=cluster.tenant_id, name="group-faults",
                      request={"base": requests[0], "grid": {}})  # fmt: skip
        session.add(sweep)
        session.flush()
        jobs = [
            stored_job(session, cluster.settings, cluster.tenant_id, request, sweep_id=sweep.id, group=True)
            for request in requests
        ]
        return [job.id for job in jobs]


def _events_of(cluster: Cluster, job_id: str, type_: str) -> list[dict]:
    return [event.data or {} for event in cluster.events(job_id) if event.type == type_]


def _metric_epochs(cluster: Cluster, job_id: str) -> list[int]:
    with session_scope(cluster.settings) as session:
        query = select(JobMetric.epoch).where(JobMetric.job_id == job_id).order_by(JobMetric.epoch)
        return list(session.scalars(query))


def _student_sha(cluster: Cluster, job_id: str) -> str | None:
    with session_scope(cluster.settings) as session:
        return session.scalar(select(Artifact.sha256).where(Artifact.job_id == job_id, Artifact.kind == "student"))


def _trained_alone(cluster: Cluster, job_id: str, out_dir: Path) -> Path:
    """The job's spec as the worker resolves it, trained alone in this process with the worker's
    options and its one OpenMP thread; the student's path."""
    settings = cluster.settings
    store = get_artifact_store(settings)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with session_scope(settings) as session:
            job = session.get(Job, job_id)
            assert job is not None
            spec = trainable_spec(session, settings, job, store)
        options = TrainOptions(
            data_root=settings.data_root,
            allow_download=settings.allow_download,
            num_workers=settings.loader_workers,
            device_data_max_bytes=settings.device_data_max_bytes,
        )
        result = train(spec, out_dir, options=options)
    finally:
        torch.set_num_threads(threads)
        store.close()
    assert result.status == "completed" and result.student_path is not None
    return result.student_path


def test_sigterm_mid_epoch_requeues_the_group_and_each_member_ends_as_trained_alone(cluster: Cluster):
    model_id = _upload_teacher(cluster)
    requests = [
        {**tiny_spec(epochs=EPOCHS), "method": "sd-kd", "teacher": {"model": model_id}, **member} for member in MEMBERS
    ]
    job_ids = _store_sweep(cluster, requests)
    with session_scope(cluster.settings) as session:  # one group, as the domain layer keys it
        assert len({session.get(Job, job_id).group_key for job_id in job_ids}) == 1
    first = cluster.start_worker("prefork")
    for job_id in job_ids:
        enqueue_job(job_id)

    cluster.wait_for(
        lambda: all(_events_of(cluster, job_id, "checkpoint") for job_id in job_ids),
        JOB_TIMEOUT_S,
        "a checkpoint of epoch 1 of both members",
    )
    assert "training in lockstep with" in first.log(), first.log_tail()
    assert len({cluster.job(job_id).worker.split("/")[0] for job_id in job_ids}) == 1  # one process trains both
    cluster.terminate(first)
    assert first.process.wait(timeout=60) == 0, first.log_tail()
    assert first.log().count("re-queued because the worker is shutting down") == 2, first.log_tail()
    assert all(cluster.job(job_id).status == "queued" for job_id in job_ids)  # never failed
    second = cluster.start_worker("prefork", wait=False)

    cluster.wait_terminal(job_ids, JOB_TIMEOUT_S)
    stopped_at = {}
    for job_id in job_ids:
        job = cluster.job(job_id)
        assert job.status == "succeeded", (job.error_code, job.error_message)
        assert job.attempts == 1  # the shutdown gave its attempt back
        assert _metric_epochs(cluster, job_id) == list(range(1, EPOCHS + 1))  # each epoch recorded once
        assert [data["reason"] for data in _events_of(cluster, job_id, "requeued")] == ["shutdown"]
        checkpoints = _events_of(cluster, job_id, "checkpoint")
        (stop,) = [(data["epoch"], data["batch"]) for data in checkpoints if "batch" in data]  # the shutdown's
        resumed = _events_of(cluster, job_id, "resumed")
        assert [(data["epoch"], data["batch"]) for data in resumed] == [stop]  # after the batch it stopped at
        stopped_at[job_id] = stop
    # A shutdown stops the whole group at one batch (sdd_core.trainer.loop), so it resumes as one group.
    assert len(set(stopped_at.values())) == 1, stopped_at
    assert "training in lockstep with" in second.log() and "trained apart" not in second.log(), second.log_tail()
    cluster.check_no_loss(job_ids)

    assert len({_student_sha(cluster, job_id) for job_id in job_ids}) == 2  # two different students
    for job_id in job_ids:  # each bit-identical to its student trained alone, uninterrupted
        alone = _trained_alone(cluster, job_id, cluster.root / "alone" / job_id)
        assert sha256_file(alone) == _student_sha(cluster, job_id), f"{job_id}: the student differs from alone"
