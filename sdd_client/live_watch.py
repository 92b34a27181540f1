"""``sdd jobs watch``: one live progress bar per job until every job is terminal.

Each bar shows the epoch (and the batch, when the server reports ``progress.batch``), an ETA from
the finished epochs' ``seconds``, the latest val top-1 and the loss parts. When the output is not
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
from sdd_client.models import EpochRow, Job
from sdd_client.tables import STATUS_STYLES, epoch_summary


@dataclass
class WatchedJob:
    """What the watcher knows about one job."""

    task: TaskID
    job: Job
    rows: list[EpochRow] = field(default_factory=list)
    finished: bool = False  # terminal, and its last metrics fetched

    @property
    def completed(self) -> float:
        """Epochs done, with the running epoch's batch fraction when the server reports it."""
        extra = self.job.progress.model_extra or {}
        batch, batches = extra.get("batch"), extra.get("batches")
        fraction = batch / batches if isinstance(batch, int) and isinstance(batches, int) and batches else 0.0
        return self.job.progress.epoch + (0.0 if self.job.is_terminal else fraction)

    def eta(self) -> str:
        """Mean seconds of the finished epochs times the epochs left."""
        if self.job.is_terminal:
            return ""
        seconds = [row.seconds for row in self.rows if row.seconds]
        if not seconds or self.job.status == "queued":
            return "ETA -"
        left = sum(seconds) / len(seconds) * max(self.job.progress.epochs - self.completed, 0.0)
        minutes, secs = divmod(round(left), 60)
        hours, minutes = divmod(minutes, 60)
        return f"ETA {hours:d}:{minutes:02d}:{secs:02d}" if hours else f"ETA {minutes:d}:{secs:02d}"

    def position(self) -> str:
        extra = self.job.progress.model_extra or {}
        text = f"epoch {self.job.progress.epoch}/{self.job.progress.epochs}"
        if not self.job.is_terminal and extra.get("batches"):
            text += f" batch {extra.get('batch', 0)}/{extra['batches']}"
        return text

    def details(self) -> str:
        if self.job.error:
            return f"[red][{self.job.error.code}] {self.job.error.message}[/red]"
        return epoch_summary(self.rows[-1]) if self.rows else ""

    def fields(self) -> dict[str, Any]:
        style = STATUS_STYLES.get(self.job.status, "")
        status = f"[{style}]{self.job.status}[/{style}]" if style else self.job.status
        return {"position": self.position(), "eta": self.eta(), "status": status, "details": self.details()}


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
        item = WatchedJob(task=TaskID(0), job=job)
        item.task = progress.add_task(_label(job), total=max(job.progress.epochs, 1), **item.fields())
        watched[job_id] = item
    with progress:
        while True:
            for item in watched.values():
                _poll(client, item, progress.console if plain_log else None)
                progress.update(item.task, completed=item.completed, **item.fields())
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
    item.job = client.get(item.job.id)
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
