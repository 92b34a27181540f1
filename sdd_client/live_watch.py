"""``sdd jobs watch``: one live progress bar per job until every job is terminal.

Each bar shows the epoch (and the batch of the epoch in progress, ``progress.batch``/``batches``),
an ETA from the finished epochs' ``seconds`` (before the first one ends: from the pace of the
batches seen while watching), the latest val top-1 and the loss parts. When the output is not
a terminal (CI logs, a pipe) the bars are drawn once at the end and every finished epoch is also
printed as a plain line, so the log still tells the story.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from sdd_client.client import SDDClient
from sdd_client.models import EpochRow, Job, JobStatus
from sdd_client.tables import STATUS_STYLES, epoch_summary, position


@dataclass
class WatchedJob:
    """What the watcher knows about one job."""

    task: TaskID
    job: Job
    rows: list[EpochRow] = field(default_factory=list)
    finished: bool = False  # terminal, and its last metrics fetched
    pace_from: tuple[float, float] | None = None  # (monotonic time, completed) when first seen running

    @property
    def completed(self) -> float:
        """Epochs done, with the running epoch's batch fraction when the server reports it."""
        return self.job.progress.epoch + (0.0 if self.job.is_terminal else self.job.progress.epoch_fraction)

    def observe(self, job: Job, now: float) -> None:
        """Take a fresh copy of the job; remember where a running job was when first seen."""
        self.job = job
        if job.status != JobStatus.RUNNING:
            self.pace_from = None
        elif self.pace_from is None:
            self.pace_from = (now, self.completed)

    def seconds_per_epoch(self, now: float) -> float | None:
        """Mean seconds of the finished epochs; before any, the pace of the batches seen so far."""
        seconds = [row.seconds for row in self.rows if row.seconds]
        if seconds:
            return sum(seconds) / len(seconds)
        if self.pace_from is not None and self.completed > self.pace_from[1]:
            return (now - self.pace_from[0]) / (self.completed - self.pace_from[1])
        return None

    def eta(self, now: float) -> str:
        """Seconds per epoch times the epochs left."""
        if self.job.is_terminal:
            return ""
        per_epoch = self.seconds_per_epoch(now)
        if per_epoch is None or self.job.status == JobStatus.QUEUED:
            return "ETA -"
        left = per_epoch * max(self.job.progress.epochs - self.completed, 0.0)
        minutes, secs = divmod(round(left), 60)
        hours, minutes = divmod(minutes, 60)
        return f"ETA {hours:d}:{minutes:02d}:{secs:02d}" if hours else f"ETA {minutes:d}:{secs:02d}"

    def details(self) -> str:
        if self.job.error:
            return f"[red][{self.job.error.code}] {self.job.error.message}[/red]"
        return epoch_summary(self.rows[-1]) if self.rows else ""

    def fields(self, now: float) -> dict[str, Any]:
        style = STATUS_STYLES.get(self.job.status, "")
        status = f"[{style}]{self.job.status}[/{style}]" if style else self.job.status
        return {"position": position(self.job), "eta": self.eta(now), "status": status, "details": self.details()}


def _label(job: Job) -> str:
    return f"{job.id} {job.spec.method} {job.spec.student}"


def watch(client: SDDClient, job_ids: list[str], *, poll: float = 2.0, console: Console | None = None) -> list[Job]:
    """Draw the bars until every job is terminal; returns the jobs as last seen, in order."""
    console = console or Console()
    plain_log = not console.is_terminal
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        TextColumn("{task.fields[position]}"),
        TextColumn("{task.fields[eta]}"),
        TextColumn("{task.fields[status]}"),
        TextColumn("{task.fields[details]}"),
        console=console,
        auto_refresh=False,
    )
    watched: dict[str, WatchedJob] = {}
    for job_id in job_ids:
        job = client.get(job_id)
        item, now = WatchedJob(task=TaskID(0), job=job), time.monotonic()
        item.observe(job, now)
        item.task = progress.add_task(_label(job), total=max(job.progress.epochs, 1), **item.fields(now))
        watched[job_id] = item
    with progress:
        while True:
            for item in watched.values():
                _poll(client, item, progress.console if plain_log else None)
                progress.update(item.task, completed=item.completed, **item.fields(time.monotonic()))
            progress.refresh()
            if all(item.job.is_terminal for item in watched.values()):
                break
            time.sleep(poll)
    return [watched[job_id].job for job_id in job_ids]


def _poll(client: SDDClient, item: WatchedJob, log: Console | None) -> None:
    """Refresh one job (and its new metrics rows); print plain lines for a non-terminal output."""
    if item.finished:
        return
    before = item.job
    item.observe(client.get(item.job.id), time.monotonic())
    seen = item.rows[-1].epoch if item.rows else 0
    if item.job.progress.epoch > seen or item.job.is_terminal:
        new_rows = [row for row in client.metrics(item.job.id) if row.epoch > seen]
        item.rows.extend(new_rows)
        if log is not None:
            for row in new_rows:
                log.print(f"{item.job.id} epoch {row.epoch}/{row.epochs}: {epoch_summary(row)}", highlight=False)
    if log is not None and item.job.status != before.status:
        log.print(f"{item.job.id} {before.status} -> {item.job.status}", highlight=False)
    item.finished = item.job.is_terminal
