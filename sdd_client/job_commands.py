"""``sdd jobs …``: submit (or clone), list, show, events, metrics, checkpoints, watch, cancel, download and compare
jobs on a server.

A job is named by its id, a unique prefix of it (``job_b873ea``) or its name (``sdd_client.name_lookup``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sdd_client.cli_support import (
    EXIT_JOB_FAILED,
    connect,
    connection_options,
    console,
    fail,
    json_option,
    print_json,
    reports_errors,
    submission_options,
)
from sdd_client.client import STUDENT_FORMATS, SDDClient
from sdd_client.errors import APIError
from sdd_client.live_watch import watch
from sdd_client.metrics_table import metrics_table
from sdd_client.models import Checkpoint, EpochRow, Event, Job, JobStatus
from sdd_client.name_lookup import JOBS, resolve_id, resolve_ids, resolve_names
from sdd_client.plot_formats import plot_format_of
from sdd_client.submit_flags import build_body, clone_body, hyperparameter_options, in_flag_terms, spec_options
from sdd_client.tables import (
    checkpoints_table,
    compare_table,
    curves_table,
    events_table,
    job_detail,
    jobs_table,
)


@click.group("jobs")
def jobs_group() -> None:
    """Submit, follow and fetch distillation jobs on an sdd-jobs server.

    A JOB is its id, a unique prefix of its id (job_ and at least 6 hex digits) or its name.
    """


@jobs_group.command("submit")
@spec_options
@hyperparameter_options
@submission_options("job", until="it succeeded")
@json_option
@connection_options
@reports_errors
def submit_command(
    url: str | None,
    token: str | None,
    as_json: bool,
    idempotency_key: str | None,
    wait_: bool,
    poll: float,
    spec_file: Path | None,
    from_job: str | None,
    metadata: tuple[str, ...],
    **flags: Any,
) -> None:
    """Submit a job from --file and/or flags, or clone one with --from; prints the job id (or the job with --json).

    Flags win over --file's fields, or over the cloned job's; --from and --file do not combine.
    """
    if from_job is not None and spec_file is not None:
        raise click.UsageError("give --from (clone a job) or --file (a spec file), not both")
    body = build_body(spec_file, flags, metadata) if from_job is None else {}  # usage errors before connecting
    with connect(url, token) as client:
        if from_job is not None:
            source = client.get(resolve_id(client, JOBS, from_job))
            body = clone_body(source, flags, metadata)
        try:
            job = client.submit(resolve_names(client, body), idempotency_key=idempotency_key)
        except APIError as exc:
            raise in_flag_terms(exc) from exc
        click.echo(
            f"submitted {job.id} ({job.status}): {job.spec.method} {job.spec.student} on "
            f"{job.spec.dataset}, {job.progress.epochs} epochs",
            err=True,
        )
        if wait_:
            job = watch(client, [job.id], poll=poll, console=console(stderr=as_json))[0]
    print_json(job) if as_json else click.echo(job.id)
    if wait_ and not job.succeeded:
        raise click.exceptions.Exit(EXIT_JOB_FAILED)


@jobs_group.command("list")
@click.option("--status", type=click.Choice([status.value for status in JobStatus]), help="Only jobs in this status.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many, newest first.")
@click.option("--tag", "tags", multiple=True, help="Only jobs carrying this tag; repeat for jobs carrying all of them.")
@click.option("--name", help="Only jobs whose name contains this text (ignoring case).")
@click.option("-q", "--quiet", is_flag=True, help="Print the job ids only, one per line (for scripts).")
@json_option
@connection_options
@reports_errors
def list_command(
    url: str | None,
    token: str | None,
    as_json: bool,
    status: str | None,
    limit: int,
    tags: tuple[str, ...],
    name: str | None,
    quiet: bool,
) -> None:
    """Your jobs, newest first."""
    with connect(url, token) as client:
        found = client.iter_jobs(status, page_size=min(limit, 100), tags=tags, name=name)
        jobs = list(itertools.islice(found, limit))
    if as_json:
        print_json(jobs)
    elif quiet:
        for job in jobs:
            click.echo(job.id)
    elif not jobs:
        wanted = [status or "", *(f"tagged {tag}" for tag in tags), f"named *{name}*" if name else ""]
        click.echo(" ".join(["no jobs", *filter(None, wanted)]), err=True)
    else:
        console().print(jobs_table(jobs))


@jobs_group.command("show")
@click.argument("job_id", metavar="JOB")
@click.option("--events", is_flag=True, help="Also list the job's events.")
@json_option
@connection_options
@reports_errors
def show_command(url: str | None, token: str | None, as_json: bool, job_id: str, events: bool) -> None:
    """One job (id, id prefix or name): spec, progress, result or error, and its last epoch."""
    with connect(url, token) as client:
        job = client.get(resolve_id(client, JOBS, job_id))
        rows = client.metrics(job.id) if job.progress.epoch else []
        event_rows = client.events(job.id) if events else []
    if as_json:
        print_json({**job.model_dump(mode="json"), **({"events": event_rows} if events else {})})
        return
    out = console()
    out.print(job_detail(job, rows[-1] if rows else None))
    if events:
        out.print(events_table(event_rows))


@jobs_group.command("events")
@click.argument("job_id", metavar="JOB")
@json_option
@connection_options
@reports_errors
def events_command(url: str | None, token: str | None, as_json: bool, job_id: str) -> None:
    """A job's events, oldest first: queued, started, epochs, checkpoints, retries, the outcome."""
    with connect(url, token) as client:
        job_id = resolve_id(client, JOBS, job_id)
        event_rows: list[Event] = client.events(job_id)
    if as_json:
        print_json(event_rows)
    elif not event_rows:
        click.echo(f"no events for {job_id}", err=True)
    else:
        console().print(events_table(event_rows, title=f"events of {job_id}"))


@jobs_group.command("checkpoints")
@click.argument("job_id", metavar="JOB")
@json_option
@connection_options
@reports_errors
def checkpoints_command(url: str | None, token: str | None, as_json: bool, job_id: str) -> None:
    """A job's stored end-of-epoch checkpoints, by epoch: size, SHA-256 and when each was stored."""
    with connect(url, token) as client:
        job_id = resolve_id(client, JOBS, job_id)
        checkpoints: list[Checkpoint] = client.checkpoints(job_id)
    if as_json:
        print_json(checkpoints)
    elif not checkpoints:
        click.echo(f"no checkpoints stored for {job_id}", err=True)
    else:
        console().print(checkpoints_table(checkpoints, title=f"checkpoints of {job_id}"))


@jobs_group.command("metrics")
@click.argument("job_id", metavar="JOB")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV: a header, then one line per epoch, every field.")
@json_option
@connection_options
@reports_errors
def metrics_command(url: str | None, token: str | None, as_json: bool, job_id: str, as_csv: bool) -> None:
    """A job's metrics, one line per finished epoch: a table, or --csv / --json for other programs."""
    if as_csv and as_json:
        raise click.UsageError("give --csv or --json, not both")
    with connect(url, token) as client:
        job_id = resolve_id(client, JOBS, job_id)
        if as_csv:
            click.echo(client.metrics_csv(job_id).replace("\r\n", "\n"), nl=False)  # the terminal's line ends
            return
        rows: list[EpochRow] = client.metrics(job_id)
    if as_json:
        print_json(rows)
    elif not rows:
        click.echo(f"no epoch of {job_id} has finished yet", err=True)
    else:
        console().print(metrics_table(rows, title=f"metrics of {job_id}"))


@jobs_group.command("watch")
@click.argument("job_ids", metavar="JOB...", nargs=-1, required=True)
@click.option("--poll", type=float, default=2.0, show_default=True, help="Seconds between polls.")
@connection_options
@reports_errors
def watch_command(url: str | None, token: str | None, job_ids: tuple[str, ...], poll: float) -> None:
    """Live progress bars until every job ends; exit 0 only if all succeeded, 1 otherwise."""
    with connect(url, token) as client:
        try:
            jobs = watch(client, resolve_ids(client, JOBS, job_ids), poll=poll, console=console())
        except KeyboardInterrupt:
            click.echo("stopped watching; the jobs keep running on the server", err=True)
            raise click.exceptions.Exit(130) from None
    failed = [job for job in jobs if not job.succeeded]
    for job in failed:
        reason = f": [{job.error.code}] {job.error.message}" if job.error else ""
        click.echo(f"{_named(job)} {job.status}{reason}", err=True)
    if failed:
        raise click.exceptions.Exit(EXIT_JOB_FAILED)


@jobs_group.command("cancel")
@click.argument("job_ids", metavar="JOB...", nargs=-1, required=True)
@click.option("--wait", "wait_", is_flag=True, help="Return once they have stopped (ready to be resumed).")
@json_option
@connection_options
@reports_errors
def cancel_command(url: str | None, token: str | None, as_json: bool, job_ids: tuple[str, ...], wait_: bool) -> None:
    """Cancel jobs: queued ones at once, running ones at their next batch."""
    with connect(url, token) as client:
        jobs = [client.cancel(job_id) for job_id in resolve_ids(client, JOBS, job_ids)]
        if wait_:
            jobs = [client.wait(job.id, poll=1.0) for job in jobs]
    if as_json:
        print_json(jobs)
        return
    for job in jobs:
        click.echo(f"{job.id} {job.status}")


@jobs_group.command("resume")
@click.argument("job_ids", metavar="JOB...", nargs=-1, required=True)
@json_option
@connection_options
@reports_errors
def resume_command(url: str | None, token: str | None, as_json: bool, job_ids: tuple[str, ...]) -> None:
    """Resume cancelled or failed jobs from their newest checkpoint, keeping their metrics."""
    with connect(url, token) as client:
        jobs = [client.resume(job_id) for job_id in resolve_ids(client, JOBS, job_ids)]
    if as_json:
        print_json(jobs)
        return
    for job in jobs:
        click.echo(f"{job.id} {job.status} (after epoch {job.progress.epoch} of {job.progress.epochs})")


@jobs_group.command("download")
@click.argument("job_id", metavar="JOB")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="File or folder to save the student in.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(STUDENT_FORMATS)),
    default="safetensors",
    show_default=True,
    help="safetensors (weights for sdd_core's zoo), onnx (dynamic batch, for onnxruntime) or torchscript "
    "(torch.jit.load, no model code needed).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@click.option("--card", "with_card", is_flag=True, help="Also save the model card next to it (<name>.card.json).")
@connection_options
@reports_errors
def download_command(
    url: str | None, token: str | None, job_id: str, output: Path, fmt: str, overwrite: bool, with_card: bool
) -> None:
    """Download a succeeded job's student, verified against the server's SHA-256."""
    with connect(url, token) as client:
        job_id = resolve_id(client, JOBS, job_id)
        path = client.download_student(job_id, output, overwrite=overwrite, format=fmt)
        click.echo(f"saved {path} (SHA-256 verified)", err=True)
        if with_card:
            card_path = path.with_name(path.stem + ".card.json")
            if card_path.exists() and not overwrite:
                fail("file_exists", f"{card_path} already exists; pass --overwrite to replace it")
            card_path.write_text(json.dumps(client.card(job_id), indent=2))
            click.echo(f"saved {card_path}", err=True)
    click.echo(str(path))


@jobs_group.command("compare")
@click.argument("job_ids", metavar="JOB...", nargs=-1, required=True)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also draw the curves overlaid into this .png or .svg file.",
)
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Show every N-th epoch in the per-epoch table.",
)
@json_option
@connection_options
@reports_errors
def compare_command(
    url: str | None, token: str | None, as_json: bool, job_ids: tuple[str, ...], plot_path: Path | None, every: int
) -> None:
    """Jobs side by side: top-1 (final, or so far for a job still running), best top-1, and val top-1 per epoch."""
    write_plot = _plot_writer(plot_path) if plot_path is not None else None
    with connect(url, token) as client:
        jobs, metrics = _fetch(client, job_ids)
    if write_plot is not None:
        write_plot(jobs, metrics)
    if as_json:
        print_json({"jobs": jobs, "metrics": metrics})
        return
    out = console()
    out.print(compare_table(jobs, metrics))
    out.print(curves_table(jobs, metrics, every))


def _fetch(client: SDDClient, job_ids: tuple[str, ...]) -> tuple[list[Job], dict[str, list[EpochRow]]]:
    jobs = [client.get(job_id) for job_id in dict.fromkeys(resolve_ids(client, JOBS, job_ids))]
    return jobs, {job.id: client.metrics(job.id) for job in jobs}


def _plot_writer(path: Path) -> Callable[[list[Job], dict[str, list[EpochRow]]], None]:
    """What ``--plot PATH`` does once the jobs are fetched; checked before any request is sent."""
    fmt = plot_format_of(path)
    if fmt is None:
        fail("invalid_plot_path", f"--plot must end in .png or .svg, not {path.name!r}", param="--plot")
    try:
        # Imported only for --plot: matplotlib is the client's optional `plot` extra, and every
        # other command works without it.
        from sdd_client.plots import job_label, render_curves
    except ImportError as exc:
        fail(
            "plot_unavailable",
            f"--plot needs matplotlib ({exc}); install the client's plot extra: pip install 'sdd-client[plot]'",
            param="--plot",
        )

    def write(jobs: list[Job], metrics: dict[str, list[EpochRow]]) -> None:
        series = {
            _named(job) if job.name else job_label(job.id, job.spec.model_dump()): [
                row.model_dump() for row in metrics[job.id]
            ]
            for job in jobs
        }
        title = "comparison: " + ", ".join(f"{job.spec.method} {job.spec.student}" for job in jobs)
        path.write_bytes(render_curves(series, fmt, title=title))
        click.echo(f"saved {path}", err=True)

    return write


def _named(job: Job) -> str:
    """``kd baseline (job_3f9c…)``: a job's name with its id, or its id alone."""
    return f"{job.name} ({job.id})" if job.name else job.id
