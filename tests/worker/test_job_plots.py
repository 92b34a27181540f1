"""Curve plots of a job that ends without succeeding, and a plot failure that must not touch the job.

The trainer is a stub that records epochs through the real callbacks and then raises, so these run
in-process in a second; the successful path with a real worker is covered in
``test_worker_process.py`` (its tiny job must leave ``plot_png`` and ``plot_svg``).
"""

from __future__ import annotations

import io
import logging

from PIL import Image
from sqlalchemy import select

from sdd_client.plots import job_label, job_title, render_curves
from service.artifact_stores import get_artifact_store
from service.artifacts import job_plot_key
from service.db.models import Artifact, Job, JobMetric
from service.db.session import session_scope
from tests.sdd_client.plot_samples import metrics_rows
from worker import runner
from worker.job_plots import store_curve_plots


def _train_then_crash(epochs_done: int):
    """A trainer that finishes ``epochs_done`` epochs (through the job's callbacks) and then crashes."""

    def train_group(members, **_):
        for row in metrics_rows(epochs_done, sd=False, planned=3):
            members[0].callbacks.on_epoch_end(row)
        raise ZeroDivisionError("division by zero")

    return train_group


def _plot_artifacts(settings, job_id: str) -> dict[str, str]:
    with session_scope(settings) as session:
        rows = session.scalars(select(Artifact).where(Artifact.job_id == job_id, Artifact.kind.like("plot_%")))
        return {row.kind: row.key for row in rows}


def test_a_failed_job_with_epochs_keeps_its_curves(embedded, make_job, monkeypatch):
    monkeypatch.setattr(runner, "train_group", _train_then_crash(2))
    job_id = make_job()
    assert runner.run_job(job_id, embedded) == "failed"
    plots = _plot_artifacts(embedded, job_id)
    assert plots == {"plot_png": job_plot_key(job_id, "png"), "plot_svg": job_plot_key(job_id, "svg")}
    store = get_artifact_store(embedded)
    assert Image.open(io.BytesIO(store.path(plots["plot_png"]).read_bytes())).format == "PNG"
    with session_scope(embedded) as session:  # each file as the one renderer draws that format alone
        job = session.get(Job, job_id)
        assert job is not None
        rows = list(session.scalars(select(JobMetric.data).where(JobMetric.job_id == job_id).order_by(JobMetric.epoch)))
        series, title = {job_label(job.id, job.spec, job.name): rows}, job_title(job.id, job.spec, job.name)
    for fmt in ("png", "svg"):
        assert store.path(plots[f"plot_{fmt}"]).read_bytes() == render_curves(series, fmt, title=title)


def test_a_job_that_failed_before_any_epoch_has_no_curves(embedded, make_job, monkeypatch):
    monkeypatch.setattr(runner, "train_group", _train_then_crash(0))
    job_id = make_job()
    assert runner.run_job(job_id, embedded) == "failed"
    assert _plot_artifacts(embedded, job_id) == {}
    with session_scope(embedded) as session:
        assert store_curve_plots(session, get_artifact_store(embedded), job_id) == []


def test_a_plot_failure_is_logged_and_the_job_outcome_stands(embedded, make_job, monkeypatch, caplog):
    def broken_plots(session, store, job_id):
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(runner, "train_group", _train_then_crash(1))
    monkeypatch.setattr(runner, "store_curve_plots", broken_plots)
    job_id = make_job()
    with caplog.at_level(logging.WARNING, logger="worker.runner"):
        assert runner.run_job(job_id, embedded) == "failed"
    with session_scope(embedded) as session:
        job = session.get(Job, job_id)
        assert (job.status, job.error_code, job.error_message) == (
            "failed",
            "internal_error",
            "ZeroDivisionError: division by zero",
        )
    assert f"job {job_id}: could not draw or store the training curves" in caplog.text
    assert _plot_artifacts(embedded, job_id) == {}
