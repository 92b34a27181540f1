"""Rich renderables for the ``sdd`` client commands: jobs, a job, its events and checkpoints, comparisons,
uploaded models, the catalog (datasets: ``sdd_client.dataset_tables``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from rich import box
from rich.console import Group
from rich.table import Column, Table
from rich.text import Text

from sdd_client.models import Catalog, Checkpoint, EpochRow, Event, Job, JobStatus, UploadedModel

STATUS_STYLES: dict[str, str] = {
    JobStatus.QUEUED: "dim",
    JobStatus.RUNNING: "cyan",
    JobStatus.CANCELLING: "yellow",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "yellow",
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
    return ",".join(str(s) for s in job.spec.scales) if job.spec.method.startswith("sd-") else "-"


def position(job: Job) -> str:
    """``epoch 3/10``, and while the job runs ``epoch 3/10 batch 12/57`` (batches of the epoch in progress)."""
    progress = job.progress
    text = f"epoch {progress.epoch}/{progress.epochs}"
    if not job.is_terminal and progress.batch is not None and progress.batches:
        text += f" batch {progress.batch}/{progress.batches}"
    return text


def jobs_table(jobs: Iterable[Job]) -> Table:
    """One row per job; the teacher and the full spec are in ``sdd jobs show``.

    Ids are never cut (they are what users copy): the id column does not wrap, and on a narrow
    terminal the name folds onto more lines while the other columns shorten.
    """
    table = Table(
        Column("id", no_wrap=True, min_width=len("job_") + 24),
        Column("name", overflow="fold", max_width=32),
        Column("status", no_wrap=True),
        "method",
        "student",
        "dataset",
        Column("epoch", no_wrap=True),
        Column("top-1", no_wrap=True, justify="right"),
        Column("created", no_wrap=True),
        title="jobs",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
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
    table = Table(show_header=False, title=f"job {job.id}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    spec = job.spec
    hyper = spec.hyperparameters.model_dump(exclude_none=True)
    rows: list[tuple[str, str | Text]] = [
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
    if job.error:
        rows.append(("error", Text(f"[{job.error.code}] {job.error.message}", style="red")))
    if last is not None:
        rows.append((f"epoch {last.epoch}", epoch_summary(last)))
    if job.metadata:
        rows.append(("metadata", ", ".join(f"{key}={value}" for key, value in job.metadata.items())))
    for key, value in rows:
        table.add_row(key, value)
    return table


def events_table(events: Iterable[Event], title: str = "events") -> Table:
    """What happened to a job, one row per event in the order given (the server's: oldest first)."""
    table = Table("time", "type", "message", title=title, title_justify="left")
    for event in events:
        table.add_row(when(event.created_at), event.type, event.message)
    return table


def checkpoints_table(checkpoints: Iterable[Checkpoint], title: str = "checkpoints") -> Table:
    """A job's stored end-of-epoch checkpoints, by epoch; the SHA-256 shortened."""
    table = Table("epoch", "size", "sha256", "created", title=title, title_justify="left")
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


def compare_table(jobs: Sequence[Job], metrics: dict[str, list[EpochRow]]) -> Table:
    table = Table(
        "job",
        "method",
        "student",
        "teacher",
        "scales",
        "beta",
        "final top-1",
        "best top-1",
        "top-5",
        "epochs",
        title="comparison",
        title_justify="left",
    )
    for job in jobs:
        rows = metrics.get(job.id, [])
        result = job.result
        last = rows[-1] if rows else None
        final = result.val_top1 if result and result.val_top1 is not None else (last.val_top1 if last else None)
        best = (
            result.best_val_top1
            if result and result.best_val_top1 is not None
            else max((r.val_top1 for r in rows if r.val_top1 is not None), default=None)
        )
        top5 = result.val_top5 if result and result.val_top5 is not None else (last.val_top5 if last else None)
        sd = job.spec.method.startswith("sd-")
        table.add_row(
            job.id,
            job.spec.method,
            job.spec.student,
            job.teacher_label,
            scales(job),
            str(job.spec.beta) if sd else "-",
            pct(final),
            pct(best),
            pct(top5),
            f"{len(rows)}/{job.progress.epochs}",
        )
    return table


def curves_table(jobs: Sequence[Job], metrics: dict[str, list[EpochRow]], every: int = 1) -> Table:
    """Val top-1 per epoch, one column per job; every ``every``-th epoch and always the last."""
    table = Table(
        "epoch",
        *(f"{job.id}\n{job.spec.method}" for job in jobs),
        title="val top-1 per epoch (%)",
        title_justify="left",
    )
    by_job = {job.id: {row.epoch: row.val_top1 for row in metrics.get(job.id, [])} for job in jobs}
    epochs = sorted({epoch for values in by_job.values() for epoch in values})
    last = epochs[-1] if epochs else 0
    for epoch in epochs:
        if epoch % max(every, 1) == 0 or epoch == last or every <= 1:
            table.add_row(str(epoch), *(pct(by_job[job.id].get(epoch)) for job in jobs))
    return table


def models_table(models: Iterable[UploadedModel]) -> Table:
    table = Table(
        "id", "name", "arch", "classes", "size", "sha256", "created", title="uploaded models", title_justify="left"
    )
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


def catalog_view(catalog: Catalog) -> Group:
    methods = Table("method", "scale decoupled", "needs teacher", "defaults", title="methods", title_justify="left")
    for method in catalog.methods:
        defaults = {k: method.hyperparameters.get(k) for k in ("epochs", "batch_size", "lr", "temperature")}
        methods.add_row(
            method.name,
            "yes" if method.scale_decoupled else "no",
            "yes" if method.needs_teacher else "no",
            ", ".join(f"{k}={v}" for k, v in defaults.items() if v is not None),
        )
    archs = Table("architecture", "pretrained", "SD methods", title="architectures", title_justify="left")
    for arch in catalog.architectures:
        weights: str | Text = "-"
        if arch.pretrained == "present":
            weights = "present"
        elif arch.pretrained == "absent":
            weights = Text("absent", style="yellow")
        archs.add_row(arch.name, weights, "yes" if arch.sd_supported else Text(f"no: {arch.reason}", style="dim"))
    datasets = Table("built-in dataset", "classes", title="datasets", title_justify="left")
    for ds in catalog.datasets:
        datasets.add_row(ds.name, str(ds.num_classes) if ds.num_classes is not None else "?")
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
