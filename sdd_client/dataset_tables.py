"""Rich renderables for ``sdd datasets``: the list, one dataset (status, progress, classes with their
counts, statistics, the files it skipped, the error), its events, and an ingestion's progress.

Each table states its columns and their priorities once (``DATASET_COLUMNS``, ...; see
``sdd_client.table_fit``): on a narrow terminal names are elided and low-priority columns left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from sdd_client.models import Dataset, DatasetEvent
from sdd_client.table_fit import Col, FittedTable, id_col, name_col
from sdd_client.tables import EVENT_COLUMNS, facts_table, human_bytes, short_sha, shown_name, when

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


DATASET_COLUMNS = (
    id_col("ds_"),
    name_col(priority=1),
    Col("status"),
    Col("progress", 2),
    Col("layout", 6),
    Col("classes", 3, justify="right"),
    Col("image size", 7, justify="right"),
    Col("train", 4, justify="right"),
    Col("val", 5, justify="right"),
    Col("storage", 8, justify="right"),
    Col("created", 9),
)


def datasets_table(datasets: Iterable[Dataset]) -> FittedTable:
    """One row per dataset; an ingestion's stage in the progress column."""
    table = FittedTable(DATASET_COLUMNS, title="datasets")
    for ds in datasets:
        table.add_row(
            ds.id,
            shown_name(ds.name),
            dataset_status_text(ds.status),
            progress_text(ds),
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
    facts = facts_table(f"dataset {dataset.id}")
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


def class_counts_table(dataset: Dataset) -> FittedTable:
    """Images per class in each split."""
    counts = dataset.class_counts or {}
    columns = (name_col("class", priority=0), Col("train", justify="right"), Col("val", justify="right"))
    table = FittedTable(columns, title="classes")
    for name in dataset.classes or []:
        table.add_row(
            shown_name(name), count(counts.get("train", {}).get(name)), count(counts.get("val", {}).get(name))
        )
    return table


def bad_files_table(dataset: Dataset, limit: int = SHOWN_BAD_FILES) -> FittedTable:
    """The first files the ingestion skipped, with why; the title says how many there were in all."""
    shown = dataset.bad_files[:limit]
    columns = (Col("file", 0, "wrap", min_width=20), Col("reason", 0, "wrap", min_width=20))
    table = FittedTable(columns, title=f"bad files (first {len(shown)} of {dataset.bad_files_count}, left out)")
    for item in shown:
        table.add_row(shown_name(item.path), shown_name(item.reason))
    return table


def dataset_events_table(events: Iterable[DatasetEvent]) -> FittedTable:
    """What happened to a dataset, oldest first."""
    table = FittedTable(EVENT_COLUMNS, title="events")
    for event in events:
        table.add_row(when(event.created_at), event.type, shown_name(event.message))
    return table
