"""A finished job's training curves, drawn from its metrics rows and stored as PNG and SVG artifacts.

The files are rendered into a temporary folder and stored with ``store_artifact`` (kinds
``plot_png`` and ``plot_svg``, epoch 0), so they carry an ``Artifact`` row with size and SHA-256
like every other file of the job. The API serves them at ``/v1/jobs/{id}/plots/curves.{png,svg}``.

Both formats come from one figure (``render_curve_files``); matplotlib is imported with this
module, so a worker's pool children inherit it loaded. ``benchmarks/plot_time.py`` measures it (a
30-epoch job: about a quarter of a second on a 2-core CPU, nearly all of it matplotlib drawing).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from sdd_client.plot_formats import PLOT_FORMATS
from sdd_client.plots import job_label, job_title, render_curve_files
from service.artifacts import PLOT_KINDS, ArtifactStore
from service.db.models import Artifact, Job, JobMetric
from worker.job_artifacts import store_artifact


def store_curve_plots(session: Session, store: ArtifactStore, job_id: str) -> list[Artifact]:
    """Render the job's curves (PNG and SVG) and add their artifact rows; none if no epoch finished.

    Rows are added to ``session``; the caller commits.
    """
    job = session.get(Job, job_id)
    if job is None:
        return []
    rows = list(session.scalars(select(JobMetric.data).where(JobMetric.job_id == job_id).order_by(JobMetric.epoch)))
    if not rows:
        return []
    series = {job_label(job.id, job.spec, job.name): rows}
    title = job_title(job.id, job.spec, job.name)
    drawn = render_curve_files(series, PLOT_FORMATS, title=title)  # both before writing rows: no write lock held
    with tempfile.TemporaryDirectory(prefix="sdd-plots-") as folder:
        paths = {fmt: Path(folder) / f"curves.{fmt}" for fmt in PLOT_FORMATS}
        for fmt, path in paths.items():
            path.write_bytes(drawn[fmt])
        return [store_artifact(session, store, job_id, PLOT_KINDS[fmt], path) for fmt, path in paths.items()]
