"""A job's metrics as a TensorBoard event file, stored for every job as an artifact (``TENSORBOARD_KIND``).

Written from the job's metrics rows (every epoch of every attempt, as the curve plots are) when an
attempt ends, whatever its outcome, with ``torch.utils.tensorboard`` (the ``tensorboard`` package);
a resumed job's file is written again, whole. Scalars are grouped as TensorBoard shows them:
``train_loss`` -> ``train/loss``, ``val_top1`` -> ``val/top1``, the others by their name (``lr``,
``images_per_s``, ...), at step = epoch and the epoch's wall time; the spec is a text summary.
The API serves the file at ``GET /v1/jobs/{id}/tensorboard``; ``tensorboard --logdir`` on the
folder it is saved in shows the job.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.artifacts import TENSORBOARD_KIND, ArtifactStore
from service.db.models import Artifact, Job, JobMetric
from worker.job_artifacts import store_artifact

GROUPS = ("train", "val")
STEP_FIELDS = frozenset({"epoch", "epochs"})  # the step itself, and a constant


def scalar_tag(field: str) -> str:
    """The TensorBoard tag of a metrics field: ``train_loss`` -> ``train/loss``, ``lr`` -> ``lr``."""
    group, _, rest = field.partition("_")
    return f"{group}/{rest}" if group in GROUPS and rest else field


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """The row's finite numbers by tag (text, flags and the epoch fields left out)."""
    found = {}
    for field, value in row.items():
        if field in STEP_FIELDS or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            found[scalar_tag(field)] = float(value)
    return found


def store_tensorboard_events(session: Session, store: ArtifactStore, job_id: str) -> Artifact | None:
    """Write the job's event file and add its artifact row (the caller commits); None before any epoch."""
    job = session.get(Job, job_id)
    if job is None:
        return None
    rows = session.execute(
        select(JobMetric.epoch, JobMetric.data, JobMetric.created_at)
        .where(JobMetric.job_id == job_id)
        .order_by(JobMetric.epoch)
    ).all()
    if not rows:
        return None
    with tempfile.TemporaryDirectory(prefix="sdd-tensorboard-") as folder:
        # imported here: tensorboard's module tree imports boto3, which the embedded default never loads
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=folder)
        try:
            spec = json.dumps(job.spec, indent=2, sort_keys=True)
            writer.add_text("job", f"job `{job.id}`\n\n```\n{spec}\n```", 0, walltime=rows[0].created_at.timestamp())
            for epoch, data, created_at in rows:
                for tag, value in scalars(data).items():
                    writer.add_scalar(tag, value, epoch, walltime=created_at.timestamp())
        finally:
            writer.close()
        (path,) = Path(folder).glob("events.out.tfevents.*")
        return store_artifact(session, store, job_id, TENSORBOARD_KIND, path)
