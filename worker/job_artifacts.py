"""A job's files in the artifact store, each with an ``Artifact`` row (size and SHA-256).

Rows are added to the caller's session (the caller commits). Files of rows that go away are
deleted only after the commit, so a row never points at a deleted file; a crash in between
leaves at worst an orphan file.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.artifacts import (
    PLOT_KINDS,
    job_card_key,
    job_checkpoint_key,
    job_metrics_key,
    job_plot_key,
    job_student_key,
)
from service.db.models import Artifact

log = logging.getLogger(__name__)


def artifact_key(job_id: str, kind: str, epoch: int = 0) -> str:
    """The store key of a job's artifact of ``kind`` (checkpoint keys carry the epoch)."""
    if kind == "checkpoint":
        return job_checkpoint_key(job_id, epoch)
    if kind in PLOT_KINDS.values():
        return job_plot_key(job_id, kind.removeprefix("plot_"))
    builders = {"student": job_student_key, "card": job_card_key, "metrics": job_metrics_key}
    return builders[kind](job_id)


def store_artifact(session: Session, store: Any, job_id: str, kind: str, path: Path, epoch: int = 0) -> Artifact:
    """Copy ``path`` into the store and add its row, replacing a row of the same kind and epoch."""
    stored = store.put_file(artifact_key(job_id, kind, epoch), path)
    session.execute(
        delete(Artifact).where(Artifact.job_id == job_id, Artifact.kind == kind, Artifact.epoch == epoch)
    )
    row = Artifact(
        job_id=job_id, kind=kind, epoch=epoch, key=stored.key, size_bytes=stored.size_bytes, sha256=stored.sha256
    )
    session.add(row)
    session.flush()
    return row


def stale_checkpoints(session: Session, job_id: str, keep: int) -> list[Artifact]:
    """Checkpoint rows of ``job_id`` older than the newest ``keep`` (at least one is always kept)."""
    rows = session.scalars(
        select(Artifact)
        .where(Artifact.job_id == job_id, Artifact.kind == "checkpoint")
        .order_by(Artifact.epoch.desc())
    ).all()
    return list(rows[max(keep, 1):])


def prune_checkpoints(session: Session, store: Any, job_id: str, keep: int) -> list[int]:
    """Delete checkpoints beyond the newest ``keep``: rows (committed here), then files."""
    stale = stale_checkpoints(session, job_id, keep)
    if not stale:
        return []
    keys = [row.key for row in stale]
    epochs = [row.epoch for row in stale]
    for row in stale:
        session.delete(row)
    session.commit()
    for key in keys:
        try:
            store.delete(key)
        except OSError as exc:  # an orphan file is harmless; say so and go on
            log.warning("job %s: could not delete old checkpoint %s: %s", job_id, key, exc)
    return epochs


def latest_checkpoint(session: Session, store: Any, job_id: str) -> tuple[int, Path] | None:
    """(epoch, file) of the job's newest stored checkpoint whose file still exists, or None."""
    rows = session.scalars(
        select(Artifact)
        .where(Artifact.job_id == job_id, Artifact.kind == "checkpoint")
        .order_by(Artifact.epoch.desc())
    ).all()
    for row in rows:
        path = store.path(row.key)
        if path.is_file():
            return row.epoch, path
    return None
