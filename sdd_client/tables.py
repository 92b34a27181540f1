"""Rich renderables for the ``sdd`` client commands: jobs, a job, its events and checkpoints, comparisons,
uploaded models, the catalog (datasets: ``sdd_client.dataset_tables``).

Tables of many rows are ``FittedTable``s (``sdd_client.table_fit``): each states its columns and
their priorities once (``JOB_COLUMNS``, ...) and fits the terminal it is printed on by eliding
names and leaving out low-priority columns, never cutting an id or hiding a status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

from sdd_client.job_status import epochs_done_text
from sdd_client.models import Catalog, Checkpoint, EpochRow, Event, Job, JobStatus, UploadedModel
from sdd_client.table_fit import Col, FittedTable, chunks, id_col, name_col

STATUS_STYLES: dict[str, str] = {
    JobStatus.QUEUED: "dim",
    JobStatus.RUNNING: "cyan",
    JobStatus.CANCELLING: "yellow",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "yellow",
    JobStatus.PRUNED: "magenta",
}


def shown_name(name: str | None) -> Text:
    """A name a user gave (a job, sweep, dataset or model) as a terminal may show it: '-' for none,
    taken as text (never as rich markup), its control and format characters (ESC, a right-to-left
    override) written as escapes instead of sent raw to the terminal."""
    if not name:
        return Text("-")
    return Text("".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in name))


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def scales(job: Job) -> str:
    return ",".join(str(s) for s in job.spec.scales or []) if job.spec.method.startswith("sd-") else "-"


def position(job: Job) -> str:
    """``2/10 done``, and while the job runs ``2/10 done · batch 12/57`` (the epoch in progress's batches)."""
    progress = job.progress
    running = not job.is_terminal
    return epochs_done_text(progress.epoch, progress.epochs, *((progress.batch, progress.batches) if running else ()))


# The columns of `sdd jobs list`, in order; 0: always shown, the highest priority is left out first.
JOB_COLUMNS = (
    id_col("job_"),
    name_col(priority=1),
    Col("status"),
    Col("method", 4),
    Col("student", 5),
    Col("dataset", 6),
    Col("done", 3, justify="right"),  # epochs done of the job's epochs
    Col("top-1", 2, justify="right"),
    Col("created", 7),
)


def jobs_table(jobs: Iterable[Job]) -> FittedTable:
    """One row per job; the teacher and the full spec are in ``sdd jobs show``."""
    table = FittedTable(JOB_COLUMNS, title="jobs")
    for job in jobs:
        table.add_row(
            job.id,
            shown_name(job.name),
            status_text(job.status),
            job.spec.method,
            job.spec.student,
            job.spec.dataset,
            f"{job.progress.epoch}/{job.progress.epochs}",
            pct(job.result.val_top1 if job.result else None),
            short_when(job.created_at),
        )
    return table


def short_when(value: datetime | None) -> str:
    """``12-03 14:05``: a list's creation time, local."""
    return "-" if value is None else value.astimezone().strftime("%m-%d %H:%M")


def job_detail(job: Job, last: EpochRow | None) -> Table:
    """A two-column table: everything ``GET /v1/jobs/{id}`` says, plus the last epoch's metrics."""
    table = facts_table(f"job {job.id}")
    spec = job.spec
    hyper = spec.hyperparameters.model_dump(exclude_none=True)
    rows: list[tuple[str, str | Text]] = [
        ("name", shown_name(job.name)),
        ("status", status_text(job.status)),
        ("dataset", spec.dataset),
        ("student", spec.student),
        ("teacher", job.teacher_label),
        ("method", spec.method),
        ("scales / beta", f"{scales(job)} / {spec.beta if spec.method.startswith('sd-') else '-'}"),
        ("seed / image size", f"{spec.seed} / {spec.image_size}"),
        ("hyper-parameters", ", ".join(f"{key}={value}" for key, value in hyper.items())),
        ("progress", position(job)),
        ("created / started / finished", f"{when(job.created_at)} / {when(job.started_at)} / {when(job.finished_at)}"),
    ]
    if job.result:
        rows.append(
            (
                "val top-1 / top-5 / best",
                f"{pct(job.result.val_top1)} / {pct(job.result.val_top5)} / {pct(job.result.best_val_top1)}",
            )
        )
    if job.result and job.result.test_top1 is not None:
        rows.append(("test top-1", pct(job.result.test_top1)))
    rows.append(("protocol", protocol_text(spec.protocol, spec.holdout_fraction)))
    if job.error:
        rows.append(("error", Text(f"[{job.error.code}] {job.error.message}", style="red")))
    if job.status_reason:
        rows.append(("pruned", job.status_reason))
    if last is not None:
        rows.append((f"epoch {last.epoch} done", epoch_summary(last)))
    if job.metadata:
        rows.append(("metadata", ", ".join(f"{key}={value}" for key, value in job.metadata.items())))
    for key, value in rows:
        table.add_row(key, value)
    return table


def protocol_text(protocol: str | None, holdout_fraction: float | None) -> str:
    """``held_out: 10% held out to choose, val tests`` or ``literature: val chooses and reports``."""
    if protocol == "held_out":
        return f"held_out: {holdout_fraction or 0:.0%} of each class held out to choose, val tests once"
    return "literature: val chooses and reports (optimistic)"


def facts_table(title: str) -> Table:
    """A two-column table of facts about one thing: names on one line, values wrapped at spaces."""
    table = Table(show_header=False, title=title, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


EVENT_COLUMNS = (Col("time"), Col("type"), Col("message", 1, "wrap", min_width=24))


def events_table(events: Iterable[Event], title: str = "events") -> FittedTable:
    """What happened to a job, one row per event in the order given (the server's: oldest first)."""
    table = FittedTable(EVENT_COLUMNS, title=title)
    for event in events:
        table.add_row(when(event.created_at), event.type, shown_name(event.message))
    return table


CHECKPOINT_COLUMNS = (
    Col("epoch", justify="right"),
    Col("size", 2, justify="right"),
    Col("sha256", 1),
    Col("created", 3),
)


def checkpoints_table(checkpoints: Iterable[Checkpoint], title: str = "checkpoints") -> FittedTable:
    """A job's stored end-of-epoch checkpoints, by epoch; the SHA-256 shortened."""
    table = FittedTable(CHECKPOINT_COLUMNS, title=title)
    for checkpoint in checkpoints:
        table.add_row(
            str(checkpoint.epoch),
            human_bytes(checkpoint.size_bytes),
            short_sha(checkpoint.sha256),
            when(checkpoint.created_at),
        )
    return table


def epoch_summary(row: EpochRow) -> str:
    """``val top-1 91.20%  loss 0.412 (ce 0.120, kd 0.292)  complementary 18.0%`` for one epoch (the
    share of complementary regions in percent, as the dashboard and the plots show it)."""
    parts = [
        f"val top-1 {pct(row.val_top1)}%",
        f"loss {num(row.train_loss)} (ce {num(row.train_ce)}, kd {num(row.train_kd)})",
    ]
    if row.complementary_share is not None:
        parts.append(f"complementary {100 * row.complementary_share:.1f}%")
    return "  ".join(parts)


# `sdd jobs compare`'s columns; "#" keys the per-epoch table's columns.
COMPARE_COLUMNS = (
    Col("#", justify="right"),
    id_col("job_"),
    name_col(priority=1),
    Col("status"),
    Col("method", 4),
    Col("student", 8),
    Col("teacher", 9),
    Col("scales", 6),
    Col("beta", 7, justify="right"),
    Col("top-1", 2, justify="right"),
    Col("best top-1", 5, justify="right"),
    Col("top-5", 10, justify="right"),
    Col("progress", 3),
)


def compare_table(jobs: Sequence[Job], metrics: dict[str, list[EpochRow]]) -> FittedTable:
    """The jobs side by side, numbered as ``curves_table`` heads them. A job that has not ended shows
    its latest epoch's top-1 ``so far``: its final one is still to come."""
    table = FittedTable(COMPARE_COLUMNS, title="comparison")
    for number, job in enumerate(jobs, start=1):
        rows = metrics.get(job.id, [])
        result = job.result
        last = rows[-1] if rows else None
        top1 = result.val_top1 if result and result.val_top1 is not None else (last.val_top1 if last else None)
        best = (
            result.best_val_top1
            if result and result.best_val_top1 is not None
            else max((r.val_top1 for r in rows if r.val_top1 is not None), default=None)
        )
        top5 = result.val_top5 if result and result.val_top5 is not None else (last.val_top5 if last else None)
        sd = job.spec.method.startswith("sd-")
        so_far = "" if job.is_terminal or top1 is None else " so far"
        table.add_row(
            f"#{number}",
            job.id,
            shown_name(job.name),
            status_text(job.status),
            job.spec.method,
            job.spec.student,
            job.teacher_label,
            scales(job),
            str(job.spec.beta) if sd else "-",
            pct(top1) + so_far,
            pct(best),
            pct(top5),
            epochs_done_text(len(rows), job.progress.epochs),
        )
    return table


@dataclass
class CurvesTable:
    """Val top-1 per epoch, one column per job headed by its ``#`` in ``compare_table``; as many
    tables side by side as the width needs, never a job's column cut."""

    jobs: Sequence[Job]
    metrics: dict[str, list[EpochRow]]
    every: int = 1

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        by_job = [{row.epoch: row.val_top1 for row in self.metrics.get(job.id, [])} for job in self.jobs]
        epochs = sorted({epoch for values in by_job for epoch in values})
        last = epochs[-1] if epochs else 0
        shown = [epoch for epoch in epochs if self.every <= 1 or epoch % self.every == 0 or epoch == last]
        per_job = len("100.00") + 1  # a value and the space before it
        first = max(len("epoch"), len(str(last)))
        for part in chunks(len(self.jobs), options.max_width, first, per_job):
            columns = (Col("epoch", justify="right"), *(Col(f"#{n + 1}", justify="right") for n in part))
            table = FittedTable(columns, title="val top-1 per epoch (%)")
            for epoch in shown:
                table.add_row(str(epoch), *(pct(by_job[n].get(epoch)) for n in part))
            yield table


def curves_table(jobs: Sequence[Job], metrics: dict[str, list[EpochRow]], every: int = 1) -> CurvesTable:
    """Val top-1 per epoch, one column per job; every ``every``-th epoch and always the last."""
    return CurvesTable(jobs, metrics, every)


MODEL_COLUMNS = (
    id_col("mdl_"),
    name_col(priority=1),
    Col("arch", 2),
    Col("classes", 3, justify="right"),
    Col("size", 5, justify="right"),
    Col("sha256", 6),
    Col("created", 4),
)


def models_table(models: Iterable[UploadedModel]) -> FittedTable:
    table = FittedTable(MODEL_COLUMNS, title="uploaded models")
    for model in models:
        table.add_row(
            model.id,
            shown_name(model.name),
            model.arch,
            str(model.num_classes),
            human_bytes(model.size_bytes),
            short_sha(model.sha256),
            when(model.created_at),
        )
    return table


METHOD_COLUMNS = (Col("method"), Col("scale decoupled", 3), Col("needs teacher", 2), Col("defaults", 1, "wrap", 20))
ARCH_COLUMNS = (Col("architecture"), Col("pretrained", 1), Col("SD methods", 2, "wrap", min_width=12))


DATASET_COLUMNS = (
    Col("built-in dataset"),
    Col("classes", justify="right"),
    Col("on this server", 1, "wrap", min_width=12),
)


def availability_text(availability: str | None) -> str | Text:
    """A built-in dataset's place on the server, and what an operator changes when it has none."""
    if availability == "downloadable":
        return "downloaded by the first job naming it"
    if availability == "missing":
        return Text("missing: an operator sets SDD_ALLOW_DOWNLOAD=true or extracts it into SDD_DATA_ROOT", "yellow")
    return "present"


def catalog_view(catalog: Catalog) -> Group:
    methods = FittedTable(METHOD_COLUMNS, title="methods")
    for method in catalog.methods:
        defaults = {k: method.hyperparameters.get(k) for k in ("epochs", "batch_size", "lr", "temperature")}
        methods.add_row(
            method.name,
            "yes" if method.scale_decoupled else "no",
            "yes" if method.needs_teacher else "no",
            ", ".join(f"{k}={v}" for k, v in defaults.items() if v is not None),
        )
    archs = FittedTable(ARCH_COLUMNS, title="architectures")
    for arch in catalog.architectures:
        weights: str | Text = "-"
        if arch.pretrained == "present":
            weights = "present"
        elif arch.pretrained == "absent":
            weights = Text("absent", style="yellow")
        archs.add_row(arch.name, weights, "yes" if arch.sd_supported else Text(f"no: {arch.reason}", style="dim"))
    datasets = FittedTable(DATASET_COLUMNS, title="datasets")
    for ds in catalog.datasets:
        datasets.add_row(
            ds.name, str(ds.num_classes) if ds.num_classes is not None else "-", availability_text(ds.availability)
        )
    limits = catalog.limits.model_dump(exclude_none=True)
    footer = Text(
        f"and any of {catalog.timm_architectures} timm/<name> architectures (listed: those with weights here)\n"
        f"SD defaults: scales {catalog.defaults.scales}, beta {catalog.defaults.beta}\nlimits: "
        + ", ".join(f"{k}={v}" for k, v in limits.items())
    )
    return Group(methods, archs, datasets, footer)


def short_sha(digest: str) -> str:
    """The first 12 hex digits of a SHA-256, as ``git`` shortens commits."""
    return digest[:12] + "…" if len(digest) > 12 else digest or "-"


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
