"""Jobs with a history, for the dashboard tests: play the worker's part in SQL, no training.

``play_worker`` claims a queued job and records epochs, checkpoints, the batch position and an
outcome through ``domain.jobs.transitions`` (the same calls a worker makes), storing files through
the artifact store, so the dashboard reads exactly what a real run would leave behind.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from domain.jobs.transitions import claim, finish, record_batch_progress, record_epoch, record_event
from service.artifact_stores import get_artifact_store
from service.artifacts import job_checkpoint_key, job_student_key
from service.db.models import Artifact, Dataset
from service.db.session import get_sessionmaker
from service.settings import Settings
from service.tokens import authenticate
from tests.api.conftest import Api

STUDENT_BYTES = b"distilled student weights (not a real safetensors file)"
WORKER = "test-worker"


def metrics_row(epoch: int, epochs: int, *, sd: bool = False) -> dict[str, Any]:
    """One epoch's metrics, shaped like the worker's (accuracies in percent)."""
    return {
        "epoch": epoch,
        "epochs": epochs,
        "lr": 0.05,
        "train_loss": 2.0 / epoch,
        "train_ce": 1.2 / epoch,
        "train_kd": 0.8 / epoch if sd else 0.0,
        "train_top1": 50.0 + epoch,
        "val_loss": 1.5 / epoch,
        "val_top1": 40.0 + 10 * epoch,
        "val_top5": 80.0 + 5 * epoch,
        "best_val_top1": 40.0 + 10 * epoch,
        "images_per_s": 1234.5,
        "complementary_share": 0.3 if sd else None,
        "nonfinite_steps": 0,
        "seconds": 1.5,
    }


def _store(
    session: Session, settings: Settings, job_id: str, kind: str, key: str, data: bytes, epoch: int = 0
) -> Artifact:
    stored = get_artifact_store(settings).put_bytes(key, data)
    row = Artifact(job_id=job_id, kind=kind, epoch=epoch, key=key, size_bytes=stored.size_bytes, sha256=stored.sha256)
    session.add(row)
    session.commit()
    return row


def play_worker(
    settings: Settings,
    job_id: str,
    *,
    epochs_done: int,
    outcome: str | None = None,
    sd: bool = False,
    student: bytes = STUDENT_BYTES,
    batch: tuple[int, int] | None = None,
) -> None:
    """Claim ``job_id``, record ``epochs_done`` epochs with a checkpoint each, then end it as
    ``outcome`` (``succeeded`` stores a student, ``failed`` an error) or leave it running (None),
    ``batch`` = (batch, batches) of the next epoch done."""
    with get_sessionmaker(settings)() as session:
        assert claim(session, job_id, WORKER, 600)
        rows = []
        for epoch in range(1, epochs_done + 1):
            row = metrics_row(epoch, max(epochs_done, 2), sd=sd)
            rows.append(row)
            assert record_epoch(session, job_id, row)
            key = job_checkpoint_key(job_id, epoch)
            _store(session, settings, job_id, "checkpoint", key, b"ckpt%d" % epoch, epoch)
            record_event(session, job_id, "checkpoint", f"checkpoint of epoch {epoch} stored", {"epoch": epoch})
            session.commit()
        if batch is not None:
            assert record_batch_progress(session, job_id, epochs_done + 1, *batch, WORKER)
        if outcome == "succeeded":
            succeed(settings, job_id, rows[-1] if rows else metrics_row(1, 1), student)
        elif outcome == "failed":
            assert finish(
                session,
                job_id,
                "failed",
                error_code="non_finite",
                error_message="the loss became NaN at epoch 2; lower the learning rate",
            )
        else:
            assert outcome is None, outcome


def succeed(settings: Settings, job_id: str, last: dict[str, Any], student: bytes = STUDENT_BYTES) -> None:
    """Store the student and end the running job ``succeeded`` with ``last`` epoch's accuracy."""
    with get_sessionmaker(settings)() as session:
        _store(session, settings, job_id, "student", job_student_key(job_id), student)
        result = {"val_top1": last["val_top1"], "val_top5": last["val_top5"], "best_val_top1": last["val_top1"]}
        assert finish(session, job_id, "succeeded", result=result, event_message="training finished")


def add_dataset(api: Api, token: str, name: str, train_count: int = 4) -> str:
    """A dataset row of the tenant holding ``token`` (no files: for pages that only list it); its id."""
    with api.session() as session:
        tenant = authenticate(session, token)
        assert tenant is not None
        row = Dataset(
            tenant_id=tenant.id,
            name=name,
            classes=["a", "b"],
            num_classes=2,
            image_size=32,
            train_count=train_count,
            val_count=2,
            class_counts={},
            storage_key="datasets/x",
            size_bytes=1,
            sha256="0" * 64,
        )
        session.add(row)
        session.commit()
        return row.id
