"""A job's files in the artifact store, each with an ``Artifact`` row (size and SHA-256).

Rows are added to the caller's session (the caller commits). Files of rows that go away are
deleted only after the commit, so a row never points at a deleted file; a crash in between
leaves at worst an orphan file.

Checkpoints come in two kinds: ``checkpoint`` (end of an epoch; ``epoch`` = that epoch; the newest
``SDD_KEEP_CHECKPOINTS`` are kept) and ``stop_checkpoint`` (written inside an epoch when a worker
shut down; ``epoch`` = the epoch it is inside of). A stop checkpoint is newer than every end-of-epoch
checkpoint of an earlier epoch and is dropped once its own epoch's end-of-epoch checkpoint exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sdd_core.trainer.checkpoint import CheckpointError, checkpoint_position
from service.artifacts import (
    PLOT_KINDS,
    STUDENT_EXPORT_KINDS,
    TENSORBOARD_KIND,
    ArtifactStore,
    ChecksumMismatch,
    job_card_key,
    job_checkpoint_key,
    job_metrics_key,
    job_plot_key,
    job_stop_checkpoint_key,
    job_student_key,
    job_tensorboard_key,
)
from service.db.models import Artifact

log = logging.getLogger(__name__)

STOP_CHECKPOINT = "stop_checkpoint"


def artifact_key(job_id: str, kind: str, epoch: int = 0) -> str:
    """The store key of a job's artifact of ``kind`` (checkpoint keys carry the epoch)."""
    if kind == "checkpoint":
        return job_checkpoint_key(job_id, epoch)
    if kind == STOP_CHECKPOINT:
        return job_stop_checkpoint_key(job_id, epoch)
    if kind in PLOT_KINDS.values():
        return job_plot_key(job_id, kind.removeprefix("plot_"))
    if kind in STUDENT_EXPORT_KINDS.values():
        return job_student_key(job_id, kind.removeprefix("student_"))
    builders = {
        "student": job_student_key,
        "card": job_card_key,
        "metrics": job_metrics_key,
        TENSORBOARD_KIND: job_tensorboard_key,
    }
    return builders[kind](job_id)


def store_artifact(
    session: Session, store: ArtifactStore, job_id: str, kind: str, path: Path, epoch: int = 0
) -> Artifact:
    """Copy ``path`` into the store and add its row, replacing a row of the same kind and epoch."""
    stored = store.put_file(artifact_key(job_id, kind, epoch), path)
    session.execute(delete(Artifact).where(Artifact.job_id == job_id, Artifact.kind == kind, Artifact.epoch == epoch))
    row = Artifact(
        job_id=job_id, kind=kind, epoch=epoch, key=stored.key, size_bytes=stored.size_bytes, sha256=stored.sha256
    )
    session.add(row)
    session.flush()
    return row


def _prunable_checkpoints(session: Session, job_id: str, keep: int) -> tuple[list[Artifact], list[Artifact]]:
    """(end-of-epoch checkpoints older than the newest ``keep`` — at least one is always kept —,
    stop checkpoints inside an epoch whose end-of-epoch checkpoint exists), from one query."""
    rows = session.scalars(
        select(Artifact)
        .where(Artifact.job_id == job_id, Artifact.kind.in_(("checkpoint", STOP_CHECKPOINT)))
        .order_by(Artifact.epoch.desc())
    ).all()
    ends = [row for row in rows if row.kind == "checkpoint"]
    newest = ends[0].epoch if ends else None
    superseded = [row for row in rows if row.kind == STOP_CHECKPOINT and newest is not None and row.epoch <= newest]
    return ends[max(keep, 1) :], superseded


def prune_checkpoints(session: Session, store: ArtifactStore, job_id: str, keep: int) -> list[int]:
    """Delete end-of-epoch checkpoints beyond the newest ``keep``, and stop checkpoints their epoch's
    end-of-epoch checkpoint supersedes: rows (committed here), then files. Returns the pruned
    end-of-epoch checkpoints' epochs."""
    stale, superseded = _prunable_checkpoints(session, job_id, keep)
    if not stale and not superseded:
        return []
    keys = [row.key for row in (*stale, *superseded)]
    epochs = [row.epoch for row in stale]
    for row in (*stale, *superseded):
        session.delete(row)
    session.commit()
    for key in keys:
        try:
            store.delete(key)
        except OSError as exc:  # an orphan file is harmless; say so and go on
            log.warning("job %s: could not delete old checkpoint %s: %s", job_id, key, exc)
    return epochs


@dataclass(frozen=True)
class ResumePoint:
    """The stored checkpoint a job continues from: ``epoch`` epochs done, plus ``batch`` batches
    of epoch ``epoch + 1`` when it is a stop checkpoint (0 otherwise)."""

    epoch: int
    path: Path
    batch: int = 0


def latest_checkpoint(session: Session, store: ArtifactStore, job_id: str) -> ResumePoint | None:
    """The job's newest stored checkpoint that can still be read, fetched to a local file; or None.

    A stop checkpoint inside epoch e wins over end-of-epoch checkpoints up to e - 1. With an object
    store the checkpoint is downloaded into this node's cache and checked against its row's
    SHA-256, so a job resumes on any node; one that is gone or does not match is passed over.
    """
    rows = session.scalars(
        select(Artifact).where(Artifact.job_id == job_id, Artifact.kind.in_(("checkpoint", STOP_CHECKPOINT)))
    ).all()
    # Newest first by place on the job's timeline: end of epoch e -> e; inside epoch e -> e - 0.5.
    rows = sorted(rows, key=lambda row: row.epoch - (0.5 if row.kind == STOP_CHECKPOINT else 0.0), reverse=True)
    for row in rows:
        try:
            path = store.fetch(row.key, row.sha256)
        except FileNotFoundError:
            continue
        except ChecksumMismatch as exc:
            log.warning("job %s: checkpoint %s is corrupt (%s); using an older one", job_id, row.key, exc)
            continue
        if row.kind == "checkpoint":
            return ResumePoint(epoch=row.epoch, path=path)
        try:
            position = checkpoint_position(path)
        except CheckpointError as exc:
            log.warning("job %s: stop checkpoint %s unreadable (%s); using an older one", job_id, row.key, exc)
            continue
        return ResumePoint(epoch=position.epoch, path=path, batch=position.batch)
    return None
