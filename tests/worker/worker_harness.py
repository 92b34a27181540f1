"""Helpers for the worker tests: the tiny job spec, polling a job, and a worker subprocess handle."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.db.models import Job, JobEvent
from service.db.session import session_scope
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_READY_LINE = "worker ready; re-enqueued"
WORKER_START_TIMEOUT_S = 90.0
JOB_TIMEOUT_S = 120.0

TINY_SPEC: dict[str, Any] = {
    "dataset": "digits",
    "student": "resnet8",
    "method": "ce",
    "seed": 0,
    "image_size": 16,
    "hyperparameters": {"epochs": 1, "batch_size": 64, "device": "cpu"},
    "teacher": None,
    "metadata": {"owner": "tests"},  # REST-only: the worker must drop it
}


def wait_for_status(
    settings: Settings,
    job_id: str,
    statuses: set[str],
    timeout: float = JOB_TIMEOUT_S,
    worker: WorkerProcess | None = None,
) -> Job:
    """Poll the database until the job is in one of ``statuses``; fail with the worker log if not."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(settings) as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.status in statuses:
                return job
        if worker is not None and worker.process.poll() is not None:
            pytest.fail(
                f"worker exited ({worker.process.returncode}) while job {job_id} was {job.status}:\n{worker.log()}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job.status} after {timeout:.0f}s:\n{worker.log() if worker else ''}")
        time.sleep(0.3)


def event_types(settings: Settings, job_id: str) -> list[str]:
    with session_scope(settings) as session:
        return list(session.scalars(select(JobEvent.type).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))


class WorkerProcess:
    """A running ``sdd worker`` subprocess and its log file."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = JOB_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if self.process.poll() is not None:
                pytest.fail(f"worker exited ({self.process.returncode}) before logging {text!r}:\n{self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"worker did not log {text!r} within {timeout:.0f}s:\n{self.log()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
