"""``run_job`` in-process through faults: a worker that dies, shuts down, runs out of time, memory or disk.

Real tiny trainings (digits at 8 px, resnet8, 256 images a batch: under a second an epoch). A worker killed
outright is played by ``Killed``, a ``BaseException`` the runner does not handle, so it records
nothing, as after a SIGKILL; then the lease is expired and the reaper's pass runs, as another
worker's would.
"""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from sqlalchemy import select

from sdd_core.models import create_model
from service.artifact_stores import get_artifact_store
from service.artifacts import TEMP_PREFIX, model_weights_key
from service.broker import celery_app
from service.db.models import Artifact, Job, JobMetric, UploadedModel, utcnow
from service.db.session import session_scope
from service.local_store import LocalArtifactStore
from tests.fixtures.job_rows import job_events, job_row
from tests.worker.worker_harness import TINY_SPEC
from worker import resumption, runner
from worker.broker_messages import pending_job_ids
from worker.reaper import reap_and_reconcile
from worker.shutdown import clear_shutdown_request, request_shutdown
from worker.training_callbacks import JobCallbacks

# digits at its native 8 px: half a second an epoch
SPEC = {
    **TINY_SPEC,
    "image_size": 8,
    "hyperparameters": {**TINY_SPEC["hyperparameters"], "epochs": 2, "batch_size": 256},
}


class Killed(BaseException):
    """The process died here: nothing below this point runs, nothing is recorded."""


@pytest.fixture(autouse=True)
def _no_leftover_shutdown_request():
    clear_shutdown_request()
    yield
    clear_shutdown_request()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """As the worker processes run (OMP_NUM_THREADS=1): on a busy 2-core machine, spinning
    OpenMP threads make a half-second epoch take ten."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _metric_epochs(settings, job_id: str) -> list[int]:
    with session_scope(settings) as session:
        return list(
            session.scalars(select(JobMetric.epoch).where(JobMetric.job_id == job_id).order_by(JobMetric.epoch))
        )


def _after_checkpoint(monkeypatch, epoch: int, action) -> None:
    """Run ``action(callbacks)`` right after the checkpoint of ``epoch`` was stored."""
    original = JobCallbacks.on_checkpoint

    def on_checkpoint(self, at: int, path: Path) -> None:
        original(self, at, path)
        if at == epoch:
            action(self)

    monkeypatch.setattr(JobCallbacks, "on_checkpoint", on_checkpoint)


def assert_artifacts_intact(settings, job_id: str) -> list[Artifact]:
    """Every artifact row of the job names a complete file (size and SHA-256), and no temp file is left."""
    store = get_artifact_store(settings)
    with session_scope(settings) as session:
        rows = list(session.scalars(select(Artifact).where(Artifact.job_id == job_id)))
    for row in rows:
        data = store.path(row.key).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (row.size_bytes, row.sha256), row.key
    assert not [path for path in Path(settings.artifact_dir).rglob(f"{TEMP_PREFIX}*")]
    return rows


def test_a_killed_attempt_is_reaped_and_the_next_resumes_from_its_checkpoint(embedded, make_job, monkeypatch):
    job_id = make_job(SPEC)

    def die(_callbacks):
        raise Killed

    with monkeypatch.context() as patch:
        _after_checkpoint(patch, 1, die)
        with pytest.raises(Killed):
            runner.run_job(job_id, embedded)
    assert job_row(embedded, job_id).status == "running"  # nobody recorded anything

    with session_scope(embedded) as session:
        session.get(Job, job_id).lease_expires_at = utcnow() - timedelta(seconds=1)
    sent: list[str] = []
    assert reap_and_reconcile(embedded, send=lambda job_id, devices: sent.append(job_id)).requeued == [job_id]
    assert sent == [job_id] and job_row(embedded, job_id).enqueued_at is not None

    assert runner.run_job(job_id, embedded) == "succeeded"
    job = job_row(embedded, job_id)
    assert (job.attempts, job.epoch) == (2, 2)
    assert _metric_epochs(embedded, job_id) == [1, 2]
    events = job_events(embedded, job_id)
    resumed = [event for event in events if event.type == "resumed"]
    assert len(resumed) == 1 and resumed[0].data == {"epoch": 1}
    assert [event.data["epoch"] for event in events if event.type == "epoch"] == [1, 2]
    rows = {row.kind: row for row in assert_artifacts_intact(embedded, job_id)}
    lines = get_artifact_store(embedded).path(rows["metrics"].key).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]  # the whole job, not only the last attempt


def _artifact(settings, job_id: str, kind: str) -> Artifact | None:
    with session_scope(settings) as session:
        return session.scalar(select(Artifact).where(Artifact.job_id == job_id, Artifact.kind == kind))


def test_shutdown_requeues_without_counting_the_attempt_then_resumes_at_the_next_batch(embedded, make_job, monkeypatch):
    job_id = make_job(SPEC)
    with monkeypatch.context() as patch:  # the shutdown arrives during batch 1 of epoch 2
        _after_checkpoint(patch, 1, lambda _callbacks: request_shutdown())
        assert runner.run_job(job_id, embedded) == "queued"
    job = job_row(embedded, job_id)
    assert (job.status, job.attempts, job.worker, job.epoch) == ("queued", 0, None, 1)
    assert job.run_seconds > 0 and job.enqueued_at is not None
    *_, stored, requeued = job_events(embedded, job_id)
    assert stored.type == "checkpoint" and stored.data["epoch"] == 1
    assert (stored.data["batch"], stored.data["batches"]) == (1, 6)  # 1437 images, 256 a batch
    assert requeued.type == "requeued" and requeued.data == {"reason": "shutdown", "epoch": 1}
    stop_row = _artifact(embedded, job_id, "stop_checkpoint")
    assert stop_row is not None and stop_row.epoch == 2 and stop_row.key == stored.data["key"]
    assert job_id in (pending_job_ids(celery_app) or set())  # a fresh message is waiting
    assert not (embedded.work_dir / job_id).exists()

    clear_shutdown_request()
    assert runner.run_job(job_id, embedded) == "succeeded"
    assert job_row(embedded, job_id).attempts == 1
    assert _metric_epochs(embedded, job_id) == [1, 2]
    resumed = [event for event in job_events(embedded, job_id) if event.type == "resumed"]
    assert [(event.data, event.message) for event in resumed] == [
        ({"epoch": 1, "batch": 1}, "resuming after batch 1 of epoch 2")
    ]
    assert _artifact(embedded, job_id, "stop_checkpoint") is None  # superseded by epoch 2's checkpoint, file gone
    assert not get_artifact_store(embedded).exists(stop_row.key)
    assert_artifacts_intact(embedded, job_id)

    # No batch was lost or trained twice: the same job run without a stop gives the same student.
    uninterrupted = make_job(SPEC)
    assert runner.run_job(uninterrupted, embedded) == "succeeded"
    assert _artifact(embedded, job_id, "student").sha256 == _artifact(embedded, uninterrupted, "student").sha256


def test_a_stop_checkpoint_that_cannot_be_stored_falls_back_to_the_epoch_checkpoint(embedded, make_job, monkeypatch):
    job_id = make_job(SPEC)

    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    def shutdown_with_a_full_disk(_callbacks):
        request_shutdown()
        patch.setattr(resumption, "store_artifact", disk_full)

    with monkeypatch.context() as patch:
        _after_checkpoint(patch, 1, shutdown_with_a_full_disk)
        assert runner.run_job(job_id, embedded) == "queued"  # re-queued all the same
    assert _artifact(embedded, job_id, "stop_checkpoint") is None
    clear_shutdown_request()
    assert runner.run_job(job_id, embedded) == "succeeded"
    assert [event.data for event in job_events(embedded, job_id) if event.type == "resumed"] == [{"epoch": 1}]
    assert _metric_epochs(embedded, job_id) == [1, 2]


def test_time_limit_fails_with_timeout_and_keeps_the_checkpoint(embedded, make_job, monkeypatch):
    settings = embedded.model_copy(update={"job_time_limit_seconds": 3600})
    job_id = make_job(SPEC)

    def an_hour_later(callbacks):
        callbacks.prior_run_seconds = 3600.0

    with monkeypatch.context() as patch:
        _after_checkpoint(patch, 1, an_hour_later)
        assert runner.run_job(job_id, settings) == "failed"
    job = job_row(settings, job_id)
    assert (job.status, job.error_code, job.epoch) == ("failed", "timeout", 1)
    assert "3600 s" in job.error_message
    kinds = {(row.kind, row.epoch) for row in assert_artifacts_intact(settings, job_id)}
    assert ("checkpoint", 1) in kinds and ("student", 0) not in kinds


def test_out_of_memory_in_training_fails_with_a_clear_code(embedded, make_job, monkeypatch):
    from sdd_core.trainer import epoch as epoch_module

    original = epoch_module.student_loss

    def student_loss(student, images, labels, targets, *, config, epoch):
        if epoch == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(student, images, labels, targets, config=config, epoch=epoch)

    monkeypatch.setattr(epoch_module, "student_loss", student_loss)
    job_id = make_job(SPEC)
    assert runner.run_job(job_id, embedded) == "failed"
    job = job_row(embedded, job_id)
    assert (job.error_code, job.epoch) == ("out_of_memory", 1)
    assert "batch_size" in job.error_message
    assert ("checkpoint", 1) in {(row.kind, row.epoch) for row in assert_artifacts_intact(embedded, job_id)}


def _uploaded_model(settings, tenant_id: str, weights: dict[str, torch.Tensor]) -> str:
    """A resnet8 teacher of ``weights``, stored as the API stores an uploaded model."""
    path = settings.work_dir / "teacher.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(path))
    with session_scope(settings) as session:
        row = UploadedModel(tenant_id=tenant_id, arch="resnet8", num_classes=10, storage_key="",
                            size_bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())  # fmt: skip
        session.add(row)
        session.flush()
        model_id = row.id
    get_artifact_store(settings).put_file(model_weights_key(model_id), path)
    return model_id


def test_non_finite_training_fails_with_a_clear_code(embedded, make_job, tenant_id):
    """A teacher whose finite weights overflow its logits (3e38, near float32's largest, in its head):
    every KD step is NaN."""
    torch.manual_seed(0)
    weights = {k: v.contiguous() for k, v in create_model("resnet8", 10).state_dict().items()}
    weights["fc.weight"] = torch.full_like(weights["fc.weight"], 3e38)
    model_id = _uploaded_model(embedded, tenant_id, weights)
    spec = {**SPEC, "method": "kd", "teacher": {"model": model_id}}
    spec["hyperparameters"] = {**SPEC["hyperparameters"], "epochs": 1}
    job_id = make_job(spec)
    assert runner.run_job(job_id, embedded) == "failed"
    job = job_row(embedded, job_id)
    assert job.error_code == "non_finite", job.error_message
    assert_artifacts_intact(embedded, job_id)


def test_disk_full_while_storing_a_checkpoint(embedded, make_job, monkeypatch):
    """The store's write fails half-way (ENOSPC): the job fails disk_full and no row names a partial file."""
    original = LocalArtifactStore.put_stream

    class FillsTheDisk:
        def __init__(self, fileobj):
            self.fileobj, self.calls = fileobj, 0

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fileobj.read(max(size // 2, 1) if size > 0 else 1024)

    def put_stream(self, key, fileobj, max_bytes=None):
        if key.endswith("epoch_0002.pt"):
            fileobj = FillsTheDisk(fileobj)
        return original(self, key, fileobj, max_bytes)

    monkeypatch.setattr(LocalArtifactStore, "put_stream", put_stream)
    job_id = make_job(SPEC)
    assert runner.run_job(job_id, embedded) == "failed"
    job = job_row(embedded, job_id)
    assert (job.error_code, job.epoch) == ("disk_full", 2)
    kinds = {(row.kind, row.epoch) for row in assert_artifacts_intact(embedded, job_id)}
    assert ("checkpoint", 1) in kinds and ("checkpoint", 2) not in kinds


def _mount_tmpfs(path: Path, size: str) -> bool:
    if shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


def test_disk_full_on_a_real_full_file_system(embedded, make_job, tmp_path):
    """The artifact store on a 1 MiB tmpfs: epoch 1's checkpoint (~0.65 MB) fits, epoch 2's does not."""
    artifacts = tmp_path / "tiny_disk"
    if not _mount_tmpfs(artifacts, "1m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        settings = embedded.model_copy(update={"artifact_dir": artifacts})
        job_id = make_job(SPEC)
        assert runner.run_job(job_id, settings) == "failed"
        job = job_row(settings, job_id)
        assert job.error_code == "disk_full", job.error_message
        assert str(artifacts) not in job.error_message  # redacted
        kinds = {(row.kind, row.epoch) for row in assert_artifacts_intact(settings, job_id)}
        assert ("checkpoint", 1) in kinds and ("student", 0) not in kinds
    finally:
        subprocess.run(["umount", str(artifacts)], capture_output=True)
