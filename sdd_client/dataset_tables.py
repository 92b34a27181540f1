"""Rich renderables for ``sdd datasets``: the list, one dataset (status, progress, classes with their
counts, statistics, the files it skipped, the error), its events, and an ingestion's progress."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Column, Table
from rich.text import Text

from sdd_client.models import Dataset, DatasetEvent
from sdd_client.tables import human_bytes, short_sha, shown_name, when

DATASET_STATUS_STYLES = {"ingesting": "cyan", "ready": "green", "failed": "red"}
SHOWN_BAD_FILES = 10


def dataset_status_text(status: str) -> Text:
    return Text(status, style=DATASET_STATUS_STYLES.get(status, ""))


def count(value: int | None) -> str:
    return "-" if value is None else str(value)


def progress_text(dataset: Dataset) -> str:
    """``reading 120/400`` while ingesting, ``-`` otherwise."""
    progress = dataset.progress
    if dataset.status != "ingesting" or progress is None:
        return "-"
    return f"{progress.stage} {progress.done}/{progress.total}" if progress.total else progress.stage


def datasets_table(datasets: Iterable[Dataset]) -> Table:
    """One row per dataset; ids are never cut."""
    table = Table(
        Column("id", no_wrap=True, min_width=len("ds_") + 24),
        Column("name", overflow="fold", max_width=32),
        "status",
        "layout",
        "classes",
        "image size",
        "train",
        "val",
        "storage",
        "created",
        title="datasets",
        title_justify="left",
    )
    for ds in datasets:
        status = dataset_status_text(ds.status)
        if ds.status == "ingesting":
            status.append(f" ({progress_text(ds)})", style="dim")
        table.add_row(
            ds.id,
            shown_name(ds.name),
            status,
            ds.layout or "-",
            count(ds.num_classes),
            count(ds.image_size),
            count(ds.train_count),
            count(ds.val_count),
            human_bytes(ds.storage_bytes),
            when(ds.created_at),
        )
    return table


def _statistics_text(statistics: dict[str, Any] | None) -> str:
    if not statistics:
        return "-"
    parts = []
    for key in ("mean", "std"):
        if isinstance(statistics.get(key), list):
            parts.append(f"{key} " + ", ".join(f"{float(v):.3f}" for v in statistics[key]))
    return "; ".join(parts) or ", ".join(f"{key}={value}" for key, value in statistics.items())


def dataset_detail(dataset: Dataset) -> RenderableType:
    """Everything ``GET /v1/datasets/{id}`` says: facts, then classes with their counts and the bad files."""
    facts = Table(show_header=False, title=f"dataset {dataset.id}", title_justify="left")
    facts.add_column(style="bold")
    facts.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("name", shown_name(dataset.name)),
        ("status", dataset_status_text(dataset.status)),
        ("source", shown_name(dataset.source)),
        ("layout", dataset.layout or "-"),
    ]
    if dataset.status == "ingesting":
        rows.append(("progress", progress_text(dataset)))
    if dataset.error is not None:
        rows.append(("error", Text(f"[{dataset.error.code}] {dataset.error.message}", style="red")))
    rows += [
        ("classes / image size", f"{count(dataset.num_classes)} / {count(dataset.image_size)}"),
        ("train / val images", f"{count(dataset.train_count)} / {count(dataset.val_count)}"),
        ("statistics", _statistics_text(dataset.statistics)),
        ("bad files", str(dataset.bad_files_count)),
        ("storage", human_bytes(dataset.storage_bytes)),
    ]
    if dataset.sha256:
        rows.append(("uploaded archive", f"{human_bytes(dataset.size_bytes)}, sha256 {short_sha(dataset.sha256)}"))
    rows.append(("created / updated", f"{when(dataset.created_at)} / {when(dataset.updated_at)}"))
    for key, value in rows:
        facts.add_row(key, value)
    parts: list[RenderableType] = [facts]
    if dataset.classes:
        parts.append(class_counts_table(dataset))
    if dataset.bad_files:
        parts.append(bad_files_table(dataset))
    return Group(*parts)


def class_counts_table(dataset: Dataset) -> Table:
    """Images per class in each split."""
    counts = dataset.class_counts or {}
    table = Table("class", Column("train", justify="right"), Column("val", justify="right"), title="classes",
                  title_justify="left")  # fmt: skip
    for name in dataset.classes or []:
        table.add_row(
            shown_name(name), count(counts.get("train", {}).get(name)), count(counts.get("val", {}).get(name))
        )
    return table


def bad_files_table(dataset: Dataset, limit: int = SHOWN_BAD_FILES) -> Table:
    """The first files the ingestion skipped, with why; the title says how many there were in all."""
    shown = dataset.bad_files[:limit]
    table = Table(
        "file",
        "reason",
        title=f"bad files (first {len(shown)} of {dataset.bad_files_count}, left out)",
        title_justify="left",
    )
    for item in shown:
        table.add_row(shown_name(item.path), shown_name(item.reason))
    return table


def dataset_events_table(events: Iterable[DatasetEvent]) -> Table:
    """What happened to a dataset, oldest first."""
    table = Table("time", "type", "message", title="events", title_justify="left")
    for event in events:
        table.add_row(when(event.created_at), event.type, shown_name(event.message))
    return table
