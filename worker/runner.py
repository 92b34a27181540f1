"""Run one attempt of a job: claim it in SQL, train it with ``sdd_core.trainer``, record the outcome.

Every path ends in a terminal status, back in the queue, or leaves a job someone else owns alone
(``run_job`` returns the job's status after the attempt, ``LOST`` for one taken over, ``MISSING``
for a message naming no job):

* the claim fails (another delivery runs it, or it is finished/cancelled): log, do nothing;
* training completes: student + model card stored as artifacts, then ``succeeded``;
* training stopped because a user cancelled: ``cancelled``;
* training stopped because a search's rung pruned the job (``domain.sweeps.search_rungs``): ``pruned``,
  its records kept and no student exported; a trial that ends (any outcome) settles its search's
  rungs, as does the start of an attempt (a rung whose last epoch landed just before a crash);
* the worker shuts down (SIGTERM, see ``worker.shutdown``): the checkpoint the trainer wrote at the
  batch it stopped at is stored (``stop_checkpoint``), the job goes back to ``queued`` (the attempt
  not counted) with a fresh message, and the next attempt continues at the following batch;
* the job ran past ``SDD_JOB_TIME_LIMIT_SECONDS``: ``failed`` with code ``timeout``, checkpoints kept;
* a rank of a job on several devices died (``RankLost``): back to ``queued`` with the attempt
  counted, to resume from its newest checkpoint (``failed`` with code ``rank_lost`` once
  ``SDD_JOB_MAX_ATTEMPTS`` attempts are used up);
* anything raised: ``failed`` with an error code (see ``worker.failures``);
* the attempt lost its lease (``LeaseLost``: frozen or cut off long enough for the reaper to
  hand the job on): stop at once, record nothing.

While it trains, a heartbeat thread renews the job's lease (``worker.lease_heartbeat``); a
process killed outright stops renewing it and the reaper of any worker re-queues the job
(``domain.recovery.lost_jobs``), which then resumes from its newest stored checkpoint on whichever
worker claims it. Every write of an attempt names it as the job's owner, so a stale attempt
cannot overwrite what the current one records.

Whatever the outcome, the job's metrics log, training curves and TensorBoard event file are stored
(``_keep_records``). A job that asked for experiment trackers has its run logged to them beside
training (``worker.tracking``): ended with the job's outcome, waited for at most
``SDD_TRACKING_FLUSH_S``, never failing the job.

The attempt's work folder (``$SDD_HOME/work/<job id>/<attempt>``) is removed at the end whatever the outcome:
checkpoints, student, card and metrics are already in the artifact store, and a failed job's
folder would otherwise fill the disk of a long-lived worker; tracebacks go to the worker log.
What the attempt fetched from an object store (dataset, teacher, the checkpoint it resumed from)
stays in the node's cache for the next job; closing the attempt's store lets the cache evict it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from domain.jobs import transitions
from domain.jobs.transitions import LeaseLost
from domain.jobs.validation import trainable_spec
from domain.redaction import redact_paths
from domain.status import JobStatus
from domain.sweeps import search_rungs
from sdd_core.spec import JobSpec
from sdd_core.trainer import GroupMember, train_group
from sdd_core.trainer.options import TrainOptions, TrainResult
from service.artifact_stores import get_artifact_store
from service.artifacts import STUDENT_EXPORT_KINDS, ArtifactStore
from service.db.models import Job, Sweep
from service.db.session import session_scope
from service.job_queue import enqueue_job
from service.logs import add_to_context, bound
from service.settings import Settings, get_settings
from worker import metrics as worker_metrics
from worker.database_outage import through_outage
from worker.distributed_job import RankLost, train_on_ranks
from worker.failures import classify_failure
from worker.job_artifacts import ResumePoint, latest_checkpoint, store_artifact
from worker.job_plots import store_curve_plots
from worker.lease_heartbeat import LeaseHeartbeat
from worker.lockstep import claim_siblings
from worker.resumption import keep_stop_checkpoint, rebase_on_this_node, record_resume, restore_metrics_log
from worker.shard_fetch import ShardFetcher
from worker.tensorboard_events import store_tensorboard_events
from worker.tracking import RunTracking
from worker.training_callbacks import JobCallbacks, json_safe, settle_search

log = logging.getLogger(__name__)


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def attempt_owner() -> str:
    """The owner name of one attempt, stored on the job it claims: ``host:pid/<random>``.

    Unique per attempt, so two attempts of one job in one process (a threads pool, where one
    froze past its lease) never mistake each other's lease for their own.
    """
    return f"{worker_name()}/{secrets.token_hex(3)}"


class Attempt:
    """One claimed run of a job: who owns it and since when."""

    def __init__(
        self,
        job_id: str,
        owner: str,
        settings: Settings,
        prior_run_seconds: float,
        devices: int = 1,
        number: int = 1,
    ) -> None:
        self.job_id = job_id
        self.owner = owner
        self.settings = settings
        self.prior_run_seconds = prior_run_seconds
        self.devices = devices  # how many ranks train it (its queue is theirs)
        self.number = number  # this attempt's number (``jobs.attempts`` once claimed)
        self.started = time.monotonic()

    def run_seconds(self) -> float:
        return self.prior_run_seconds + (time.monotonic() - self.started)

    def work_dir(self) -> Path:
        """``$SDD_HOME/work/<job id>/<attempt>``: a stale attempt on the same machine never
        deletes the files of the attempt that took the job over."""
        return self.settings.work_dir / self.job_id / self.owner.rsplit("/", 1)[-1]


LOST = "lost"
"""The attempt lost its lease to another one: it recorded nothing (not a job status)."""
MISSING = "missing"
"""A delivery named a job that does not exist (not a job status)."""


def run_job(job_id: str, settings: Settings | None = None) -> str:
    """Claim and train ``job_id`` (with the queued jobs of its lockstep group that start where it
    starts, see ``worker.lockstep``); returns ``job_id``'s status afterwards, or ``LOST``/``MISSING``."""
    with bound(job_id=job_id):  # every line of this delivery names its job (and, once read, its tenant)
        return _run_delivery(job_id, settings or get_settings())


def _run_delivery(job_id: str, settings: Settings) -> str:
    owner = attempt_owner()
    store = get_artifact_store(settings)
    try:
        with session_scope(settings) as session:
            if not transitions.claim(session, job_id, owner, settings.job_lease_seconds):
                job = session.get(Job, job_id)
                if job is None:
                    log.warning("job %s: no such job; message dropped", job_id)
                    return MISSING
                log.info(
                    "job %s: not claimed, it is %s (worker %s); skipping this delivery",
                    job_id,
                    job.status,
                    job.worker,
                )
                return job.status
            job = session.get(Job, job_id)
            assert job is not None
            add_to_context(tenant_id=job.tenant_id)
            attempts = [Attempt(job_id, owner, settings, job.run_seconds or 0.0, job.devices, job.attempts)]
            log.info("job %s: claimed by %s (attempt %d)", job_id, owner, job.attempts)
            siblings = claim_siblings(
                session,
                store,
                job,
                attempt_owner,
                lease_seconds=settings.job_lease_seconds,
                max_group=settings.max_group_size,
            )
            for sibling_id, sibling_owner in siblings:
                sibling = session.get(Job, sibling_id)
                attempts.append(
                    Attempt(sibling_id, sibling_owner, settings, (sibling.run_seconds if sibling else 0) or 0)
                )
        return _run_attempts(attempts, store)[0]
    finally:
        store.close()


@dataclass
class ClaimedJob:
    """One job this task claimed: its attempt and heartbeat, then (once prepared) its trainable
    spec, where it resumes and its callbacks; ``status`` once its outcome is recorded."""

    attempt: Attempt
    heartbeat: LeaseHeartbeat
    work_dir: Path
    spec: JobSpec | None = None
    rest_dataset: str = ""
    resume: ResumePoint | None = None
    callbacks: JobCallbacks | None = None
    tracking: RunTracking | None = None
    status: str | None = None


def _run_attempts(attempts: list[Attempt], store: ArtifactStore) -> list[str]:
    """Train the claimed jobs together and record each one's outcome; their statuses, in order."""
    settings = attempts[0].settings
    with contextlib.ExitStack() as stack:
        jobs: list[ClaimedJob] = []
        for attempt in attempts:
            heartbeat = stack.enter_context(
                LeaseHeartbeat(settings, attempt.job_id, attempt.owner, attempt.run_seconds)
            )
            jobs.append(ClaimedJob(attempt, heartbeat, attempt.work_dir()))
            worker_metrics.job_started()
        try:
            for job in jobs:
                try:
                    _prepare(job, store)
                except Exception as exc:  # this job cannot start; the others can
                    _record_when_done(job, store, exc)
            ready = [job for job in jobs if job.status is None]
            if ready:
                try:
                    outcomes = _train_together(ready, store)
                except Exception as exc:  # before any student could train (data, teacher): all fail so
                    outcomes = [exc] * len(ready)
                for job, outcome in zip(ready, outcomes, strict=True):
                    _record_when_done(job, store, outcome)
        except (KeyboardInterrupt, SystemExit):  # the process is stopping: give every job back
            for job in jobs:
                if job.status is None:
                    _requeue(job.attempt, reason="shutdown", message=SHUTDOWN_MESSAGE)
            raise
        finally:
            for job in jobs:
                worker_metrics.job_ended(job.status or LOST)
                if job.tracking is not None:  # at most SDD_TRACKING_FLUSH_S, before its files go
                    job.tracking.close()
                shutil.rmtree(job.work_dir, ignore_errors=True)
                with contextlib.suppress(OSError):  # another attempt of the job may still use the folder
                    job.work_dir.parent.rmdir()
    return [job.status or LOST for job in jobs]


def _train_together(ready: list[ClaimedJob], store: ArtifactStore) -> list[TrainResult | Exception]:
    """``train_group`` over the ready jobs (a group of one for a job trained alone); each job's
    outcome is recorded as soon as it leaves the group (``_record_when_done``)."""
    settings = ready[0].attempt.settings
    fetch_shard = ShardFetcher(settings, store)  # a sharded dataset's shards, through the node cache
    try:
        return _train_with(ready, store, fetch_shard)
    finally:
        fetch_shard.close()


def _train_with(
    ready: list[ClaimedJob], store: ArtifactStore, fetch_shard: ShardFetcher
) -> list[TrainResult | Exception]:
    settings = ready[0].attempt.settings
    options = TrainOptions(
        data_root=settings.data_root,
        allow_download=settings.allow_download,
        allow_weight_downloads=settings.allow_weight_downloads,
        num_workers=settings.loader_workers,
        device_data_max_bytes=settings.device_data_max_bytes,
        fetch_shard=fetch_shard,
    )
    members = []
    for job in ready:
        assert job.spec is not None and job.callbacks is not None
        resume_from = job.resume.path if job.resume else None
        on_done = functools.partial(_record_when_done, job, store)
        members.append(
            GroupMember(job.spec, job.work_dir, job.callbacks.train_callbacks(), resume_from, on_done=on_done)
        )
    if len(ready) == 1 and ready[0].attempt.devices > 1:  # several devices: alone, this process is rank 0
        member = members[0]
        try:
            return [
                train_on_ranks(
                    member.spec,
                    member.out_dir,
                    options=options,
                    callbacks=member.callbacks,
                    resume_from=member.resume_from,
                    job_id=ready[0].attempt.job_id,
                )
            ]
        except Exception as exc:
            return [exc]
    return train_group(members, options=options)


def _prepare(job: ClaimedJob, store: ArtifactStore) -> None:
    """The job's trainable spec, where it resumes, its callbacks and work folder."""
    attempt = job.attempt
    job_id, settings = attempt.job_id, attempt.settings
    with session_scope(settings) as session:
        row = session.get(Job, job_id)
        assert row is not None
        spec = trainable_spec(session, settings, row, store)
        job.rest_dataset = str(row.spec["dataset"])
        resume = latest_checkpoint(session, store, job_id)
        if resume is not None:
            record_resume(session, job_id, resume)
        job.tracking = RunTracking.for_job(session, settings, row, attempt.owner)
        sweep = session.get(Sweep, row.sweep_id) if row.sweep_id else None
        search_sweep = sweep.id if sweep is not None and search_rungs.search_of(sweep) is not None else None
    log.info(
        "job %s: training %s -> %s with %s on %s",
        job_id,
        spec.teacher.arch if spec.teacher else "no teacher",
        spec.student,
        spec.method,
        spec.dataset,
    )
    job.callbacks = JobCallbacks(
        job_id,
        settings,
        store,
        attempt.owner,
        lost=job.heartbeat.lost,
        prior_run_seconds=attempt.prior_run_seconds,
        tracking=job.tracking,
        search_sweep=search_sweep,
    )
    if search_sweep is not None:
        settle_search(settings, search_sweep)
    job.work_dir.mkdir(parents=True, exist_ok=True)
    if resume is not None:
        resume = rebase_on_this_node(resume, spec, job.work_dir)  # the checkpoint may come from another node
        restore_metrics_log(settings, job_id, job.work_dir / "metrics.jsonl", through_epoch=resume.epoch)
    job.spec, job.resume = spec, resume


def _record_when_done(job: ClaimedJob, store: ArtifactStore, outcome: TrainResult | BaseException) -> None:
    """Record a job's outcome once, as soon as it has one (it left its group, or could not start),
    and stop renewing its lease."""
    if job.status is None:
        job.status = _record_outcome(job, store, outcome)
        job.heartbeat.stop()
        if job.callbacks is not None and job.callbacks.search_sweep is not None:  # a rung may wait for no one now
            settle_search(job.attempt.settings, job.callbacks.search_sweep)
        if job.tracking is not None:
            job.tracking.end(job.status, _tracked_files(job.status, outcome))


def _tracked_files(status: str, outcome: TrainResult | BaseException) -> list[Path]:
    """What a succeeded job uploads to its trackers: the student in each stored format, then the card."""
    if status != JobStatus.SUCCEEDED or isinstance(outcome, BaseException):
        return []
    paths = [outcome.student_path, *outcome.exports.values(), outcome.card_path]
    return [path for path in paths if path is not None]


def _record_outcome(job: ClaimedJob, store: ArtifactStore, outcome: TrainResult | BaseException) -> str:
    """What training (or preparing it) ended with, recorded for this job; its status after."""
    attempt = job.attempt
    try:
        if isinstance(outcome, BaseException):
            raise outcome
        if job.heartbeat.lost.is_set():
            raise LeaseLost(attempt.job_id, attempt.owner)
        assert job.spec is not None and job.callbacks is not None
        if outcome.status == "completed":
            return _record_success(job, store, outcome)
        if job.callbacks.stop_reason == "shutdown":
            keep_stop_checkpoint(attempt.settings, store, attempt.job_id, attempt.owner, outcome)
            return _requeue(attempt, reason="shutdown", message=SHUTDOWN_MESSAGE)
        _keep_records(attempt, store, job.work_dir)
        if job.callbacks.stop_reason == "timeout":
            return _record_timeout(attempt, outcome)
        if job.callbacks.stop_reason == "pruned":
            return _record_pruned(attempt, outcome, job.callbacks.prune_reason or "pruned at a rung of its search")
        log.info("job %s: stopped after epoch %d on a cancel request", attempt.job_id, outcome.epochs_completed)
        _finish(attempt, JobStatus.CANCELLED, event_message=f"cancelled after {outcome.epochs_completed} epoch(s)")
        return JobStatus.CANCELLED
    except Exception as exc:
        return _record_error(job, store, exc)


def _record_error(job: ClaimedJob, store: ArtifactStore, exc: BaseException) -> str:
    """An attempt that raised: nothing if it lost its lease; else its records kept, then a lost
    rank re-queued (while attempts remain) or the job failed with the error's code."""
    attempt = job.attempt
    if isinstance(exc, LeaseLost) or job.heartbeat.lost.is_set():
        log.warning("job %s: %s lost the job to another attempt; stopped without recording", attempt.job_id,
                    attempt.owner)  # fmt: skip
        return LOST
    _keep_records(attempt, store, job.work_dir)
    if isinstance(exc, RankLost) and attempt.number < attempt.settings.job_max_attempts:
        log.warning("job %s: %s (attempt %d of at most %d)", attempt.job_id, exc, attempt.number,
                    attempt.settings.job_max_attempts)  # fmt: skip
        return _requeue(attempt, reason="rank_lost", message=f"re-queued: {exc}", counted=True)
    code, message = classify_failure(exc)
    message = redact_paths(message, attempt.settings)
    if code == "internal_error":
        log.error("job %s: failed with an unexpected error", attempt.job_id, exc_info=exc)
    else:
        log.warning("job %s: failed: %s: %s", attempt.job_id, code, message)
    _finish(attempt, JobStatus.FAILED, error_code=code, error_message=message, event_message=f"failed: {message}")
    return JobStatus.FAILED


def _record_timeout(attempt: Attempt, result: TrainResult) -> str:
    limit = attempt.settings.job_time_limit_seconds
    message = (
        f"the job ran longer than the time limit of {limit} s (SDD_JOB_TIME_LIMIT_SECONDS) and was "
        f"stopped after epoch {result.epochs_completed}; its checkpoints are kept"
    )
    log.warning("job %s: %s", attempt.job_id, message)
    _finish(attempt, JobStatus.FAILED, error_code="timeout", error_message=message, event_message=f"failed: {message}")
    return JobStatus.FAILED


def _record_pruned(attempt: Attempt, result: TrainResult, reason: str) -> str:
    """A search's trial stopped by its rung: ``pruned``, with what it trained of the epoch it stopped in."""
    stop = result.stopped_at
    partial = {"stopped_in_epoch": stop.epoch, "batches": stop.batch, "of_batches": stop.batches} if stop else {}
    summary = json_safe({"val_top1": (result.final or {}).get("val_top1"), "best_val_top1": result.best_val_top1,
                         "epochs_completed": result.epochs_completed, **partial})  # fmt: skip
    log.info("job %s: %s", attempt.job_id, reason)
    _finish(attempt, JobStatus.PRUNED, result=summary, event_message=reason)
    return JobStatus.PRUNED


SHUTDOWN_MESSAGE = "re-queued: the worker is shutting down; the job resumes from its newest checkpoint"


def _requeue(attempt: Attempt, *, reason: str, message: str, counted: bool = False) -> str:
    """Back to ``queued`` with a fresh message (``reason`` in its ``requeued`` event; the attempt
    not counted, unless ``counted``: a lost rank); the job's status after."""
    job_id = attempt.job_id
    try:
        with session_scope(attempt.settings) as session:
            status = transitions.release(
                session, job_id, attempt.owner, reason=reason, message=message,
                run_seconds=attempt.run_seconds(), counted=counted,
            )  # fmt: skip
    except Exception:
        log.error(
            "job %s: could not re-queue it (%s); its lease will expire and the reaper re-queues it",
            job_id,
            reason,
            exc_info=True,
        )
        return JobStatus.RUNNING
    if status != JobStatus.QUEUED:
        log.info("job %s: not re-queued (%s), it is %s", job_id, reason, status or "owned by another attempt")
        return status or LOST
    log.info("job %s: re-queued because %s", job_id, REQUEUE_REASONS.get(reason, reason))
    try:
        enqueue_job(job_id, attempt.devices)
        with session_scope(attempt.settings) as session:
            transitions.mark_enqueued(session, [job_id])
    except Exception as exc:  # the reconciler (or the next worker start) sends it
        log.warning("job %s: could not send it again (%s); a worker's reconciler will", job_id, exc)
    return JobStatus.QUEUED


REQUEUE_REASONS = {"shutdown": "the worker is shutting down", "rank_lost": "a rank of it was lost"}


def _record_success(job: ClaimedJob, store: ArtifactStore, result: TrainResult) -> str:
    attempt, spec = job.attempt, job.spec
    assert spec is not None
    job_id, settings = attempt.job_id, attempt.settings
    if result.student_path is None or result.card_path is None:
        raise RuntimeError("the trainer completed without writing student.safetensors and card.json")
    if job.rest_dataset != spec.dataset:  # an uploaded dataset: the card names its id, not a server path
        _rename_card_dataset(result.card_path, spec.dataset, job.rest_dataset)
    student_path, card_path = result.student_path, result.card_path

    def store_student() -> None:
        with session_scope(settings) as session:
            transitions.ensure_owner(session, job_id, attempt.owner)
            store_artifact(session, store, job_id, "student", student_path)
            store_artifact(session, store, job_id, "card", card_path)
            for fmt, path in result.exports.items():  # ONNX / TorchScript, each checked at export
                store_artifact(session, store, job_id, STUDENT_EXPORT_KINDS[fmt], path)
            if result.stopped_early_at_epoch is not None:
                patience = spec.resolved_hyperparameters.early_stopping_patience or 0
                transitions.record_early_stop(session, job_id, result.stopped_early_at_epoch, patience, attempt.owner)

    through_outage(settings, f"job {job_id}: storing the student", store_student)
    _keep_records(attempt, store, job.work_dir)
    final = result.final or {}
    summary = json_safe(
        {
            "val_top1": final.get("val_top1"),
            "val_top5": final.get("val_top5"),
            "best_val_top1": result.best_val_top1,
            "student_arch": spec.student,
            "num_classes": result.card.get("num_classes"),
            # the final evaluation per class (what a sweep's report compares), see domain.sweeps.sweep_report
            "per_class": {**result.per_class, "classes": result.card.get("classes")} if result.per_class else None,
            "confusion": result.confusion,
            "agreement_top1": result.agreement_top1,  # student top-1 == teacher top-1 on val, percent
            "exported_epoch": result.exported_epoch,  # the last epoch, or the best one with export best
            "stopped_early_at_epoch": result.stopped_early_at_epoch,
            "student_formats": ["safetensors", *sorted(result.exports)],
            "refused_exports": result.refused_exports or None,  # format -> why it was not kept
            "cost": result.card.get("cost"),  # parameters, FLOPs, latency measured here (sdd_core.cost)
            "teacher_val_top1": (result.card.get("teacher") or {}).get("val_top1"),  # what a sweep's `within` is below
            "test_top1": result.test_top1,  # held_out: the test split's one evaluation (val_top1 chose)
            "teacher_test_top1": (result.card.get("teacher") or {}).get("test_top1"),
            "protocol": result.protocol or None,
        }
    )
    top1 = f"{summary['val_top1']:.2f}%" if summary["val_top1"] is not None else "n/a"
    _finish(attempt, JobStatus.SUCCEEDED, result=summary, event_message=f"succeeded: val top-1 {top1}")
    log.info("job %s: succeeded (val top-1 %s)", job_id, top1)
    return JobStatus.SUCCEEDED


def _rename_card_dataset(card_path: Path, resolved: str, public: str) -> None:
    card = json.loads(card_path.read_text())
    if isinstance(card.get("dataset"), dict) and card["dataset"].get("name") == resolved:
        card["dataset"]["name"] = public
        card_path.write_text(json.dumps(card, indent=2, sort_keys=True))


def _finish(attempt: Attempt, status: JobStatus, **kwargs: Any) -> None:
    """``transitions.finish`` for this attempt, waiting out a database outage; logs if it never lands."""
    job_id = attempt.job_id

    def finish() -> None:
        with session_scope(attempt.settings) as session:
            finished = transitions.finish(
                session, job_id, status, worker=attempt.owner, run_seconds=attempt.run_seconds(), **kwargs
            )
            if not finished:
                row = session.execute(select(Job.status, Job.worker).where(Job.id == job_id)).one_or_none()
                log.warning(
                    "job %s: not moved to %s, it is already %s (worker %s)", job_id, status, *(row or ("gone", None))
                )

    try:
        through_outage(attempt.settings, f"job {job_id}: recording status {status}", finish)
    except Exception:
        log.critical(
            "job %s: could not record status %s; its lease will expire and the reaper re-queues it",
            job_id,
            status,
            exc_info=True,
        )


def _keep_records(attempt: Attempt, store: ArtifactStore, work_dir: Path) -> None:
    """Store the trainer's metrics.jsonl, the job's training curves (PNG, SVG) and its TensorBoard
    event file, whatever the outcome, before the job finishes; a failure here only logs."""
    path = work_dir / "metrics.jsonl"
    if path.is_file():
        try:
            with session_scope(attempt.settings) as session:
                transitions.ensure_owner(session, attempt.job_id, attempt.owner)
                store_artifact(session, store, attempt.job_id, "metrics", path)
        except Exception:
            log.warning("job %s: could not store metrics.jsonl", attempt.job_id, exc_info=True)
    try:
        with session_scope(attempt.settings) as session:
            kinds = [artifact.kind for artifact in store_curve_plots(session, store, attempt.job_id)]
            transitions.ensure_owner(session, attempt.job_id, attempt.owner)  # drawn unlocked; fenced before commit
        if kinds:
            log.info("job %s: training curves stored (%s)", attempt.job_id, ", ".join(kinds))
    except Exception:
        log.warning("job %s: could not draw or store the training curves", attempt.job_id, exc_info=True)
    try:
        with session_scope(attempt.settings) as session:
            store_tensorboard_events(session, store, attempt.job_id)
            transitions.ensure_owner(session, attempt.job_id, attempt.owner)
    except Exception:
        log.warning("job %s: could not write or store the TensorBoard events", attempt.job_id, exc_info=True)
