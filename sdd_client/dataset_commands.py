"""``sdd datasets …``: register a dataset where it lives, upload an archive (resumably, with a progress
bar), follow an ingestion, show and list datasets.

A dataset is named by its id (``ds_…``), a unique prefix of it (``ds_`` and at least 6 hex digits)
or its name when only one of yours has it (``sdd_client.name_lookup``). Exit codes
as every client command's (``sdd_client.cli_support``); ``wait`` (and ``--wait``) exits 1 when the
ingestion failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from sdd_client.cli_support import (
    EXIT_JOB_FAILED,
    connect,
    connection_options,
    console,
    json_option,
    print_json,
    reports_errors,
)
from sdd_client.client import SDDClient
from sdd_client.dataset_tables import dataset_detail, dataset_events_table, datasets_table
from sdd_client.dataset_uploads import Progress as UploadProgress
from sdd_client.models import Dataset
from sdd_client.name_lookup import DATASETS, resolve_id

F = TypeVar("F", bound=Callable[..., Any])
LAYOUTS = ("imagefolder", "cub200", "imagenet", "shards")  # the server's DatasetRegister.layout
STATUSES = ("ingesting", "ready", "failed")
UPLOAD_PATH = click.Path(path_type=Path, dir_okay=False, exists=True)


@click.group("datasets")
def datasets_group() -> None:
    """Register, upload, follow and list datasets on the server."""


def wait_options(command: F) -> F:
    command = click.option(
        "--poll", type=float, default=2.0, show_default=True, help="Seconds between polls while waiting."
    )(command)
    return click.option("--wait", "wait_", is_flag=True, help="Follow the ingestion; exit 1 if it fails.")(command)


@contextmanager
def ingestion_progress() -> Iterator[UploadProgressBar]:
    """A progress bar on stderr for an ingestion's stages (items done of the stage's total)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console(stderr=True), transient=True) as bar:
        yield UploadProgressBar(bar)


class UploadProgressBar:
    """Feeds a rich progress bar from ``progress(stage, done, total)`` calls."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task: TaskID | None = None
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if stage != self.stage or self.task is None:
            if self.task is not None:
                self.bar.update(self.task, visible=False)
            self.task = self.bar.add_task(stage, total=total)
            self.stage = stage
        self.bar.update(self.task, completed=done, total=total)


def follow(client: SDDClient, dataset_id: str, poll: float, timeout: float | None = None) -> Dataset:
    """Wait until the ingestion ends, with a progress bar of its stages; the dataset then."""
    with ingestion_progress() as show:

        def seen(dataset: Dataset) -> None:
            if dataset.progress is not None:
                show(dataset.progress.stage, dataset.progress.done, dataset.progress.total)

        dataset = client.wait_dataset(dataset_id, poll=poll, timeout=timeout, callback=seen)
    return dataset


def report_outcome(dataset: Dataset, as_json: bool) -> None:
    """Print the dataset (JSON, or a line on stderr and its id on stdout); exit 1 if it failed."""
    if as_json:
        print_json(dataset)
    elif dataset.status == "ready":
        click.echo(
            f"{dataset.name} is ready: {dataset.num_classes} classes, {dataset.train_count} train / "
            f"{dataset.val_count} val images at {dataset.image_size} px"
            + (f", {dataset.bad_files_count} bad files left out" if dataset.bad_files_count else "")
            + f"; use it as --dataset {dataset.id}",
            err=True,
        )
    elif dataset.status == "failed":
        error = dataset.error
        click.echo(
            f"{dataset.name} failed: [{error.code if error else '?'}] {error.message if error else ''}", err=True
        )
    else:
        click.echo(f"{dataset.name} is {dataset.status}; follow it with `sdd datasets wait {dataset.id}`", err=True)
    if not as_json:
        click.echo(dataset.id)
    if dataset.status == "failed":
        raise click.exceptions.Exit(EXIT_JOB_FAILED)


@datasets_group.command("register")
@click.argument("name")
@click.argument("source")
@click.option("--layout", type=click.Choice(LAYOUTS), help="How the files are laid out (default: detected).")
@click.option("--crop-to-boxes", is_flag=True, help="cub200: crop each image to its bounding box.")
@wait_options
@json_option
@connection_options
@reports_errors
def register_command(
    url: str | None,
    token: str | None,
    as_json: bool,
    name: str,
    source: str,
    layout: str | None,
    crop_to_boxes: bool,
    wait_: bool,
    poll: float,
) -> None:
    """Register the dataset at SOURCE (s3://bucket/prefix/) as NAME; a worker ingests it. Prints its id."""
    with connect(url, token) as client:
        dataset = client.register_dataset(name, source, layout=layout, crop_to_boxes=crop_to_boxes)
        if wait_:
            dataset = follow(client, dataset.id, poll)
    report_outcome(dataset, as_json)


@datasets_group.command("upload")
@click.argument("path", type=UPLOAD_PATH)
@click.option("--name", help="A name to recognise it by (default: the file name).")
@click.option("--part-size", type=click.IntRange(min=1), help="Bytes per part (default: the server's choice).")
@wait_options
@json_option
@connection_options
@reports_errors
def upload_command(
    url: str | None,
    token: str | None,
    as_json: bool,
    path: Path,
    name: str | None,
    part_size: int | None,
    wait_: bool,
    poll: float,
) -> None:
    """Upload a .zip/.tar(.gz) with train/<class>/<image> and val/<class>/<image> in parts, with a
    progress bar; run it again after an interruption and it goes on where it stopped. Prints the id."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with connect(url, token) as client:
        with Progress(*columns, console=console(stderr=True), transient=True) as bar:
            show: UploadProgress = UploadProgressBar(bar)
            dataset = client.upload_dataset(path, name=name, part_size=part_size, progress=show)
        if wait_:
            dataset = follow(client, dataset.id, poll)
    report_outcome(dataset, as_json)


@datasets_group.command("show")
@click.argument("dataset")
@click.option("--events", is_flag=True, help="Also list the dataset's events.")
@json_option
@connection_options
@reports_errors
def show_command(url: str | None, token: str | None, as_json: bool, dataset: str, events: bool) -> None:
    """One dataset (id, id prefix or name): status and progress, classes with their counts, statistics, the
    files it skipped, the error."""
    with connect(url, token) as client:
        found = client.get_dataset(resolve_id(client, DATASETS, dataset))
        event_rows = client.dataset_events(found.id) if events else []
    if as_json:
        print_json({**found.model_dump(mode="json"), **({"events": event_rows} if events else {})})
        return
    out = console()
    out.print(dataset_detail(found))
    if events:
        out.print(dataset_events_table(event_rows))


@datasets_group.command("wait")
@click.argument("dataset")
@click.option("--poll", type=float, default=2.0, show_default=True, help="Seconds between polls.")
@click.option("--timeout", type=float, help="Give up after this many seconds (exit 1).")
@json_option
@connection_options
@reports_errors
def wait_command(
    url: str | None, token: str | None, as_json: bool, dataset: str, poll: float, timeout: float | None
) -> None:
    """Follow a dataset's ingestion (id, id prefix or name) until it is ready or failed; exit 1 if it failed."""
    with connect(url, token) as client:
        found = follow(client, resolve_id(client, DATASETS, dataset), poll, timeout)
    report_outcome(found, as_json)


@datasets_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only datasets in this status.")
@json_option
@connection_options
@reports_errors
def list_command(url: str | None, token: str | None, as_json: bool, status: str | None) -> None:
    """Your datasets, newest first."""
    with connect(url, token) as client:
        datasets = list(client.iter_datasets(status=status))
    print_json(datasets) if as_json else console().print(datasets_table(datasets))
