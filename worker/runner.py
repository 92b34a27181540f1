"""Run one job: claim it in SQL, train it with ``sdd_core.trainer``, record the outcome.

Every path ends in a terminal status (or leaves a job someone else claimed alone):

* the claim fails (another delivery runs it, or it is finished/cancelled): log, do nothing;
* training completes: student + model card stored as artifacts, then ``succeeded``;
* training stopped because a user cancelled: ``cancelled``;
* anything raised: ``failed`` with an error code (see ``worker.failures``).

The job's work folder (``$SDD_HOME/work/<job id>``) is removed at the end whatever the outcome:
checkpoints, student, card and metrics are already in the artifact store, and a failed job's
folder would otherwise fill the disk of a long-lived worker; tracebacks go to the worker log.
A job claimed for a later attempt (once something puts it back to ``queued``) resumes from its
newest stored checkpoint.

Not covered: a process killed outright (SIGKILL, the kernel's OOM killer, a power cut) records
nothing; its job stays ``running`` with a lease that is no longer renewed, until lease-based
recovery exists.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sdd_core.spec import JobSpec
from sdd_core.trainer import train
from sdd_core.trainer.options import TrainOptions, TrainResult
from service import job_lifecycle
from service.artifacts import get_artifact_store
from service.db.models import Job
from service.db.session import session_scope
from service.settings import Settings, get_settings
from worker.failures import classify_failure, redact_paths
from worker.job_artifacts import latest_checkpoint, store_artifact
from worker.spec_resolution import resolve_job_spec
from worker.training_callbacks import JobCallbacks, json_safe

log = logging.getLogger(__name__)

FINISH_RETRY_DELAYS_S = (1.0, 2.0, 4.0)  # a terminal status survives a short database outage


def worker_name() -> str:
    """``host:pid`` of this process, stored on the jobs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_job(job_id: str, settings: Settings | None = None) -> str:
    """Claim and train ``job_id``; returns the job's status afterwards."""
    settings = settings or get_settings()
    me = worker_name()
    with session_scope(settings) as session:
        if not job_lifecycle.claim(session, job_id, me, settings.job_lease_seconds):
            job = session.get(Job, job_id)
            if job is None:
                log.warning("job %s: no such job; message dropped", job_id)
                return "missing"
            log.info("job %s: not claimed, it is %s (worker %s); skipping this delivery",
                     job_id, job.status, job.worker)
            return job.status
    log.info("job %s: claimed by %s", job_id, me)
    work_dir = settings.work_dir / job_id
    store = None
    try:
        store = get_artifact_store(settings)
        return _train_claimed(job_id, settings, store, work_dir)
    except BaseException as exc:
        if store is not None:
            _keep_metrics(job_id, settings, store, work_dir)
        status = _record_failure(job_id, settings, exc)
        if not isinstance(exc, Exception):  # worker shutdown: record it, then let Celery stop
            raise
        return status
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _train_claimed(job_id: str, settings: Settings, store: Any, work_dir: Path) -> str:
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        assert job is not None
        spec = resolve_job_spec(session, job, store)
        rest_dataset = str(job.spec["dataset"])
        resume = latest_checkpoint(session, store, job_id)
        if resume is not None:
            job_lifecycle.record_event(
                session, job_id, "resumed", f"resuming after epoch {resume[0]}", {"epoch": resume[0]}
            )
            log.info("job %s: resuming from the checkpoint of epoch %d", job_id, resume[0])
    log.info("job %s: training %s -> %s with %s on %s", job_id,
             spec.teacher.arch if spec.teacher else "no teacher", spec.student, spec.method, spec.dataset)
    callbacks = JobCallbacks(job_id, settings, store)
    work_dir.mkdir(parents=True, exist_ok=True)
    result = train(
        spec,
        work_dir,
        options=TrainOptions(data_root=settings.data_root, allow_download=settings.allow_download),
        callbacks=callbacks.train_callbacks(),
        resume_from=resume[1] if resume is not None else None,
    )
    if result.status == "completed":
        return _record_success(job_id, settings, store, work_dir, spec, result, rest_dataset=rest_dataset)
    _keep_metrics(job_id, settings, store, work_dir)
    log.info("job %s: stopped after epoch %d on a cancel request", job_id, result.epochs_completed)
    _finish(settings, job_id, "cancelled", event_message=f"cancelled after {result.epochs_completed} epoch(s)")
    return "cancelled"


def _record_success(
    job_id: str, settings: Settings, store: Any, work_dir: Path, spec: JobSpec, result: TrainResult,
    *, rest_dataset: str,
) -> str:
    if result.student_path is None or result.card_path is None:
        raise RuntimeError("the trainer completed without writing student.safetensors and card.json")
    if rest_dataset != spec.dataset:  # an uploaded dataset: the card names its id, not a server path
        _rename_card_dataset(result.card_path, spec.dataset, rest_dataset)
    with session_scope(settings) as session:
        store_artifact(session, store, job_id, "student", result.student_path)
        store_artifact(session, store, job_id, "card", result.card_path)
    _keep_metrics(job_id, settings, store, work_dir)
    final = result.final or {}
    summary = json_safe({
        "val_top1": final.get("val_top1"),
        "val_top5": final.get("val_top5"),
        "best_val_top1": result.best_val_top1,
        "student_arch": spec.student,
        "num_classes": result.card.get("num_classes"),
    })
    top1 = f"{summary['val_top1']:.2f}%" if summary["val_top1"] is not None else "n/a"
    _finish(settings, job_id, "succeeded", result=summary, event_message=f"succeeded: val top-1 {top1}")
    log.info("job %s: succeeded (val top-1 %s)", job_id, top1)
    return "succeeded"


def _rename_card_dataset(card_path: Path, resolved: str, public: str) -> None:
    card = json.loads(card_path.read_text())
    if isinstance(card.get("dataset"), dict) and card["dataset"].get("name") == resolved:
        card["dataset"]["name"] = public
        card_path.write_text(json.dumps(card, indent=2, sort_keys=True))


def _record_failure(job_id: str, settings: Settings, exc: BaseException) -> str:
    code, message = classify_failure(exc)
    message = redact_paths(message, settings)
    if code == "internal_error":
        log.error("job %s: failed with an unexpected error", job_id, exc_info=exc)
    else:
        log.warning("job %s: failed: %s: %s", job_id, code, message)
    _finish(settings, job_id, "failed", error_code=code, error_message=message, event_message=f"failed: {message}")
    return "failed"


def _finish(settings: Settings, job_id: str, status: str, **kwargs: Any) -> None:
    """``job_lifecycle.finish``, retried over a short database outage; logs if it never lands."""
    for delay in (*FINISH_RETRY_DELAYS_S, None):
        try:
            with session_scope(settings) as session:
                if not job_lifecycle.finish(session, job_id, status, **kwargs):
                    current = session.scalar(select(Job.status).where(Job.id == job_id))
                    log.warning("job %s: not moved to %s, it is already %s", job_id, status, current)
            return
        except Exception:
            if delay is None:
                log.critical("job %s: could not record status %s; it stays running", job_id, status, exc_info=True)
                return
            log.warning("job %s: recording status %s failed; retrying in %.0fs", job_id, status, delay, exc_info=True)
            time.sleep(delay)


def _keep_metrics(job_id: str, settings: Settings, store: Any, work_dir: Path) -> None:
    """Store the trainer's metrics.jsonl (whatever the outcome) before the job finishes."""
    path = work_dir / "metrics.jsonl"
    if not path.is_file():
        return
    try:
        with session_scope(settings) as session:
            store_artifact(session, store, job_id, "metrics", path)
    except Exception:
        log.warning("job %s: could not store metrics.jsonl", job_id, exc_info=True)
