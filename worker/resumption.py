"""What one attempt of a job leaves for the next, and what the next picks up.

* ``keep_stop_checkpoint`` — a worker shutting down stores the checkpoint the trainer wrote at the
  batch it stopped at (``stop_checkpoint``), so the next attempt loses no batch;
* ``record_resume`` — the ``resumed`` event of the attempt that continues from a stored checkpoint;
* ``rebase_on_this_node`` — that checkpoint with the input file locations it records replaced by
  this node's, so a job resumes on a node whose cache lives elsewhere;
* ``restore_metrics_log`` — a resumed attempt's ``metrics.jsonl`` starts with the epochs earlier
  attempts recorded, so the file stored at the end covers the whole job.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.jobs import transitions
from sdd_core.spec import JobSpec
from sdd_core.trainer.checkpoint import load_checkpoint, save_checkpoint
from sdd_core.trainer.options import TrainResult
from service.artifacts import ArtifactStore
from service.db.models import JobMetric
from service.db.session import session_scope
from service.settings import Settings
from worker.job_artifacts import STOP_CHECKPOINT, ResumePoint, store_artifact

log = logging.getLogger(__name__)


def keep_stop_checkpoint(
    settings: Settings, store: ArtifactStore, job_id: str, owner: str, result: TrainResult
) -> None:
    """Store the checkpoint the trainer wrote where it stopped, fenced by ``owner``.

    If this fails (disk full, database gone, lease lost), the job still goes back to the queue and
    resumes from its newest end-of-epoch checkpoint instead.
    """
    stop, path = result.stopped_at, result.checkpoint_path
    if stop is None or path is None or not path.is_file():
        return
    try:
        with session_scope(settings) as session:
            transitions.ensure_owner(session, job_id, owner)
            row = store_artifact(session, store, job_id, STOP_CHECKPOINT, path, epoch=stop.epoch)
            transitions.record_event(
                session,
                job_id,
                "checkpoint",
                f"checkpoint at batch {stop.batch}/{stop.batches} of epoch "
                f"{stop.epoch} stored (the worker is shutting down)",
                {
                    "epoch": stop.epoch - 1,
                    "batch": stop.batch,
                    "batches": stop.batches,
                    "key": row.key,
                    "size_bytes": row.size_bytes,
                },
            )
        log.info(
            "job %s: checkpoint at batch %d/%d of epoch %d stored (%d bytes)",
            job_id,
            stop.batch,
            stop.batches,
            stop.epoch,
            row.size_bytes,
        )
    except Exception:
        log.warning(
            "job %s: could not store the checkpoint written at shutdown; the job will resume from its "
            "newest end-of-epoch checkpoint",
            job_id,
            exc_info=True,
        )


def record_resume(session: Session, job_id: str, resume: ResumePoint) -> None:
    """The ``resumed`` event: ``data.epoch`` is the last finished epoch; ``data.batch`` the batches
    of the next epoch already trained, when the checkpoint was written inside it."""
    if resume.batch:
        message = f"resuming after batch {resume.batch} of epoch {resume.epoch + 1}"
        data = {"epoch": resume.epoch, "batch": resume.batch}
    else:
        message, data = f"resuming after epoch {resume.epoch}", {"epoch": resume.epoch}
    transitions.record_event(session, job_id, "resumed", message, data)
    log.info("job %s: %s", job_id, message)


REBASED_CHECKPOINT = "resumed_from.pt"


def rebase_on_this_node(resume: ResumePoint, spec: JobSpec, work_dir: Path) -> ResumePoint:
    """``resume``, or a copy in ``work_dir`` whose recorded input locations are this node's.

    The trainer resumes only from a checkpoint written for the same spec, and the spec names its
    inputs by local path: an uploaded dataset (``imagefolder:<folder>``, or ``shards:<index.json>``
    once ingested into shards; the trainer itself compares the latter by its index's digest), the
    teacher's weights and a warm start's weights.
    With an object store those are copies in each node's cache, checked against the SHA-256 of the
    same rows, so the bytes are the same on every node but the paths are the writing node's. Only
    those locations are replaced; a checkpoint that differs in anything else is left as it is,
    for the trainer to refuse. With the local store (or the same cache path on every node) the
    paths agree and nothing is copied.
    """
    state = load_checkpoint(resume.path, mmap=True)
    recorded = state.get("spec")
    if not isinstance(recorded, dict):
        return resume
    current = spec.model_dump(mode="json")
    rebased = dict(recorded)
    dataset = recorded.get("dataset")
    if isinstance(dataset, str) and dataset != current["dataset"]:
        for prefix in ("imagefolder:", "shards:"):  # an uploaded folder; an ingested dataset's index
            if dataset.startswith(prefix) and current["dataset"].startswith(prefix):
                rebased["dataset"] = current["dataset"]
    for field in ("teacher", "init"):  # the teacher's weights, a warm start's weights
        before, now = recorded.get(field), current.get(field)
        if isinstance(before, dict) and isinstance(now, dict) and before.get("checkpoint") != now.get("checkpoint"):
            if {k: v for k, v in before.items() if k != "checkpoint"} == {
                k: v for k, v in now.items() if k != "checkpoint"
            }:
                rebased[field] = {**before, "checkpoint": now["checkpoint"]}
    if rebased == recorded:
        return resume
    path = work_dir / REBASED_CHECKPOINT
    save_checkpoint(path, {**state, "spec": rebased})
    log.info("resuming from %s with this node's input paths", resume.path.name)
    return ResumePoint(epoch=resume.epoch, path=path, batch=resume.batch)


def restore_metrics_log(settings: Settings, job_id: str, path: Path, *, through_epoch: int) -> None:
    """Write ``path`` with the metrics rows of epochs 1..``through_epoch`` recorded so far."""
    with session_scope(settings) as session:
        rows = session.scalars(
            select(JobMetric.data)
            .where(JobMetric.job_id == job_id, JobMetric.epoch <= through_epoch)
            .order_by(JobMetric.epoch)
        ).all()
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
