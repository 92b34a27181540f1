"""``sdd jobs watch``: one live progress bar per job until every job is terminal.

Each bar shows the epoch (and the batch of the epoch in progress, ``progress.batch``/``batches``),
an ETA from the finished epochs' ``seconds`` (before the first one ends: from the pace of the
batches seen while watching), the latest val top-1 and the loss parts. When the output is not
a terminal (CI logs, a pipe) the bars are drawn once at the end and every finished epoch is also
printed as a plain line, so the log still tells the story.

The bars are a ``FittedTable`` (``WATCH_COLUMNS`` states the columns' priorities): on a narrow
terminal the name is elided, the bar shortened, then the loss details, student, method, bar and
ETA left out in that order; the id, the epochs done and the status always show whole.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, TaskID, TextColumn

from sdd_client.client import SDDClient
from sdd_client.models import EpochRow, Job, JobStatus
from sdd_client.table_fit import Col, FittedTable, id_col, name_col
from sdd_client.tables import STATUS_STYLES, epoch_summary, position, shown_name


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
            return f"[red]{escape(f'[{self.job.error.code}] {self.job.error.message}')}[/red]"
        return epoch_summary(self.rows[-1]) if self.rows else ""

    def fields(self, now: float) -> dict[str, Any]:
        style = STATUS_STYLES.get(self.job.status, "")
        status = f"[{style}]{self.job.status}[/{style}]" if style else self.job.status
        return {"position": position(self.job), "eta": self.eta(now), "status": status, "details": self.details()}


# The columns of the live view: how each fits a narrow terminal, and what draws it.
WATCH_COLUMNS: tuple[tuple[Col, ProgressColumn], ...] = (
    (id_col("job_"), TextColumn("{task.fields[id]}", markup=False)),
    (name_col(priority=2, min_width=12), TextColumn("{task.fields[name]}", markup=False)),
    (Col("method", 5), TextColumn("{task.fields[method]}", markup=False)),
    (Col("student", 6), TextColumn("{task.fields[student]}", markup=False)),
    (Col("", 4, "elide", min_width=10, max_width=24), BarColumn(bar_width=None)),
    (Col("progress"), TextColumn("{task.fields[position]}")),
    (Col("ETA", 3), TextColumn("{task.fields[eta]}")),
    (Col("status"), TextColumn("{task.fields[status]}")),
    (Col("latest epoch", 7, "elide", min_width=20), TextColumn("{task.fields[details]}")),
)


class FittedProgress(Progress):
    """Rich's ``Progress`` drawn as a ``FittedTable`` of ``WATCH_COLUMNS``."""

    def get_renderables(self) -> Iterable[RenderableType]:
        table = FittedTable([col for col, _ in WATCH_COLUMNS], name_left_out=False)
        for task in self.tasks:
            if task.visible:
                table.add_row(*(column(task) for _, column in WATCH_COLUMNS))
        yield table


def add_bar(progress: Progress, job: Job, now: float) -> WatchedJob:
    """A bar for ``job``, as first seen at ``now`` (monotonic seconds)."""
    item = WatchedJob(task=TaskID(0), job=job)
    item.observe(job, now)
    label: dict[str, Any] = {
        "id": job.id,
        "name": shown_name(job.name).plain,
        "method": job.spec.method,
        "student": job.spec.student,
    }
    item.task = progress.add_task(job.id, total=max(job.progress.epochs, 1), **label, **item.fields(now))
    return item


def watch(client: SDDClient, job_ids: list[str], *, poll: float = 2.0, console: Console | None = None) -> list[Job]:
    """Draw the bars until every job is terminal; returns the jobs as last seen, in order."""
    console = console or Console()
    plain_log = not console.is_terminal
    progress = FittedProgress(console=console, auto_refresh=False)
    watched = {job_id: add_bar(progress, client.get(job_id), time.monotonic()) for job_id in job_ids}
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
                log.print(f"{item.job.id} epoch {row.epoch}/{row.epochs} done: {epoch_summary(row)}", highlight=False)
    if log is not None and item.job.status != before.status:
        log.print(f"{item.job.id} {before.status} -> {item.job.status}", highlight=False)
    item.finished = item.job.is_terminal
