"""``run_job`` in-process: every outcome ends in a terminal status with the right error code.

The trainer is replaced by stubs that raise, to reach the failure paths a real tiny job cannot;
the successful path runs the real trainer (see also ``test_worker_process.py``).
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from domain.jobs import cancellation, transitions
from sdd_core.errors import NonFiniteTrainingError
from service.artifact_stores import get_artifact_store
from service.artifacts import dataset_key
from service.db.models import Artifact, Dataset, Job
from service.db.session import session_scope
from tests.fixtures.job_rows import job_events, job_row
from tests.worker.worker_harness import TINY_SPEC, event_types
from worker import runner


def _raise(exc: BaseException):
    def train_group(members, **_):
        (members[0].out_dir / "metrics.jsonl").write_text('{"epoch": 1}\n')
        raise exc

    return train_group


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (NonFiniteTrainingError("epoch 3: 90 of 100 steps gave a non-finite loss"), "non_finite"),
        (MemoryError(), "out_of_memory"),
        (OSError(errno.ENOSPC, "No space left on device"), "disk_full"),
        (ZeroDivisionError("division by zero"), "internal_error"),
    ],
)
def test_failures_end_failed_with_a_code(embedded, make_job, monkeypatch, exc, code):
    monkeypatch.setattr(runner, "train_group", _raise(exc))
    job_id = make_job()
    assert runner.run_job(job_id, embedded) == "failed"
    job = job_row(embedded, job_id)
    assert (job.status, job.error_code) == ("failed", code)
    assert job.finished_at is not None and job.lease_expires_at is None
    assert event_types(embedded, job_id)[-1] == "failed"
    assert not (embedded.work_dir / job_id).exists()
    if code == "internal_error":
        assert job.error_message == "ZeroDivisionError: division by zero"


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(-15)])
def test_a_stopping_process_gives_the_job_back_then_propagates(embedded, make_job, monkeypatch, exc):
    """SIGTERM as billiard delivers it to a pool child (SystemExit), or Ctrl-C: re-queued, not failed."""
    monkeypatch.setattr(runner, "train_group", _raise(exc))
    job_id = make_job()
    with pytest.raises(type(exc)):
        runner.run_job(job_id, embedded)
    job = job_row(embedded, job_id)
    assert (job.status, job.error_code, job.attempts, job.worker) == ("queued", None, 0, None)
    assert event_types(embedded, job_id)[-1] == "requeued"


@pytest.mark.parametrize("status", ["running", "succeeded", "cancelled"])
def test_a_job_that_cannot_be_claimed_is_left_alone(embedded, make_job, monkeypatch, status):
    monkeypatch.setattr(runner, "train_group", _raise(AssertionError("must not train")))
    job_id = make_job(status=status)
    assert runner.run_job(job_id, embedded) == status
    assert job_row(embedded, job_id).status == status and job_row(embedded, job_id).attempts == 0


def test_unknown_job_is_dropped(embedded):
    assert runner.run_job("job_doesnotexist", embedded) == "missing"


def test_cancel_before_training_starts_ends_cancelled(embedded, make_job):
    """A cancel that lands between the claim and the first batch stops at the first batch."""
    job_id = make_job()
    original_claim = transitions.claim

    def claim_then_cancel(session, job_id_, worker, lease_seconds):
        won = original_claim(session, job_id_, worker, lease_seconds)
        cancellation.request_cancel(session, session.get(Job, job_id_))
        return won

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transitions, "claim", claim_then_cancel)
        assert runner.run_job(job_id, embedded) == "cancelled"
    job = job_row(embedded, job_id)
    assert job.status == "cancelled" and job.epoch == 0
    assert event_types(embedded, job_id)[-2:] == ["cancelling", "cancelled"]


def _upload_dataset(settings, tenant_id: str, *, with_val: bool = True) -> str:
    """A tiny two-class image folder in the artifact store, with its Dataset row (as the API stores it)."""
    with session_scope(settings) as session:
        row = Dataset(
            tenant_id=tenant_id,
            name="squares",
            classes=["dark", "light"],
            num_classes=2,
            image_size=16,
            train_count=8,
            val_count=4,
            class_counts={},
            storage_key="",
            size_bytes=0,
            sha256="0" * 64,
        )
        session.add(row)
        session.flush()
        dataset_id = row.id
    root = get_artifact_store(settings).path(dataset_key(dataset_id))
    for split, count in (("train", 4), ("val", 2)) if with_val else (("train", 4),):
        for label, shade in (("dark", 30), ("light", 220)):
            folder: Path = root / split / label
            folder.mkdir(parents=True)
            for index in range(count):
                Image.new("RGB", (16, 16), (shade, shade + index, shade)).save(folder / f"{index}.png")
    return dataset_id


def test_uploaded_dataset_trains_and_the_card_names_its_id(embedded, make_job, tenant_id):
    dataset_id = _upload_dataset(embedded, tenant_id)
    job_id = make_job({**TINY_SPEC, "dataset": dataset_id})
    assert runner.run_job(job_id, embedded) == "succeeded", job_row(embedded, job_id).error_message
    job = job_row(embedded, job_id)
    assert job.result["num_classes"] == 2
    # the final evaluation per class, for sweep reports: 2 val images of each class
    assert job.result["per_class"]["total"] == [2, 2] and job.result["per_class"]["classes"] == ["dark", "light"]
    assert sum(map(sum, job.result["confusion"])) == 4 and len(job.result["confusion"]) == 2
    assert job.run_seconds is not None and job.run_seconds > 0  # written when the job ended
    succeeded = [e for e in job_events(embedded, job_id) if e.type == "succeeded"]
    assert "confusion" not in (succeeded[0].data or {})  # the event keeps the headline figures only
    store = get_artifact_store(embedded)
    with session_scope(embedded) as session:
        card_key = session.scalar(select(Artifact.key).where(Artifact.job_id == job_id, Artifact.kind == "card"))
    card_text = store.path(card_key).read_text()
    assert json.loads(card_text)["dataset"]["name"] == dataset_id
    assert str(embedded.artifact_dir) not in card_text


def test_errors_name_the_dataset_not_the_servers_folders(embedded, make_job, tenant_id):
    dataset_id = _upload_dataset(embedded, tenant_id, with_val=False)
    job_id = make_job({**TINY_SPEC, "dataset": dataset_id})
    assert runner.run_job(job_id, embedded) == "failed"
    job = job_row(embedded, job_id)
    assert job.error_code == "dataset_error"
    assert f"<dataset {dataset_id}>" in job.error_message and "val" in job.error_message
    assert str(embedded.home) not in job.error_message


def test_an_early_stop_ends_the_job_at_the_epoch_it_stopped_with_the_best_epoch_and_its_exports(embedded, make_job):
    # lr 1e-8: the weights stay where they start, so top-1 stops gaining and patience 1 stops the run early.
    hyperparameters = {**TINY_SPEC["hyperparameters"], "epochs": 4, "batch_size": 128, "lr": 1e-8}
    hyperparameters |= {"lr_decay_epochs": [3], "early_stopping_patience": 1, "export": "best"}
    job_id = make_job({**TINY_SPEC, "hyperparameters": hyperparameters})
    assert runner.run_job(job_id, embedded) == "succeeded", job_row(embedded, job_id).error_message
    job = job_row(embedded, job_id)
    stopped = job.result["stopped_early_at_epoch"]
    assert stopped is not None and stopped < 4, job.result
    assert (job.epoch, job.epochs, job.spec["hyperparameters"]["epochs"]) == (stopped, stopped, 4)
    assert job.result["exported_epoch"] == stopped - 1  # the best epoch, the one patience waited after
    (event,) = [e for e in job_events(embedded, job_id) if e.type == "stopped_early"]
    assert event.data == {"epoch": stopped, "patience": 1}
    # Both exports kept, each its own artifact with its SHA-256.
    assert job.result["student_formats"] == ["safetensors", "onnx", "torchscript"]
    store = get_artifact_store(embedded)
    with session_scope(embedded) as session:
        rows = {a.kind: a for a in session.scalars(select(Artifact).where(Artifact.job_id == job_id))}
    for kind, suffix in (("student_onnx", ".onnx"), ("student_torchscript", ".pt")):
        assert rows[kind].key == f"jobs/{job_id}/student{suffix}" and store.path(rows[kind].key).stat().st_size > 0
