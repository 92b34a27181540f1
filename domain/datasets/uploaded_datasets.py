"""A tenant's datasets, read (one, a page by status, its sample grid), and where an extracted
image-folder archive keeps its splits (``dataset_root``: at its top level or inside one top-level
folder).

Datasets come into being in ``domain.datasets.registration`` and ``upload_sessions``, and are
ingested on workers (``domain.datasets.ingestion``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from domain.datasets.stored_shards import samples_key
from domain.errors import NotFound
from domain.ownership import PageParams, get_owned, page_of
from domain.status import DatasetStatus
from service.artifact_stores import get_artifact_store
from service.db.models import Dataset
from service.settings import Settings

EXTRACTED_BYTES_PER_UPLOAD_BYTE = 20  # images barely compress; this bounds an honest archive generously
_IGNORED_TOP_LEVEL = ("__MACOSX",)


def dataset_root(extracted: Path) -> Path:
    """``extracted`` itself, or its one visible top-level folder when the splits sit inside it."""
    if (extracted / "train").is_dir() or (extracted / "val").is_dir():
        return extracted
    visible = [
        entry
        for entry in extracted.iterdir()
        if not entry.name.startswith(".") and entry.name not in _IGNORED_TOP_LEVEL
    ]
    if len(visible) == 1 and visible[0].is_dir():
        return visible[0]
    return extracted


def get_dataset(session: Session, tenant_id: str, dataset_id: str) -> Dataset:
    """The tenant's dataset ``dataset_id``; ``NotFound`` otherwise."""
    return get_owned(session, Dataset, tenant_id, dataset_id, kind="dataset")


def list_datasets(
    session: Session, tenant_id: str, page: PageParams, status: str | None = None
) -> tuple[Sequence[Dataset], bool]:
    """A page of the tenant's datasets, newest first, optionally only those in ``status``:
    (datasets, whether more follow)."""
    filters = [Dataset.status == status] if status is not None else []
    return page_of(session, Dataset, tenant_id, page, *filters)


def open_sample_grid(settings: Settings, row: Dataset) -> BinaryIO:
    """The dataset's sample grid (a PNG the ingestion draws); ``NotFound`` saying why there is none."""
    reasons: dict[str, str] = {
        DatasetStatus.INGESTING: "is still being ingested; its sample grid is drawn once it is ready",
        DatasetStatus.FAILED: "failed to ingest, so no sample grid was drawn",
    }
    if row.status in reasons:
        raise NotFound(f"dataset {row.id} {reasons[row.status]}", code="no_sample_grid")
    try:
        return get_artifact_store(settings).open(samples_key(row.id))
    except FileNotFoundError:
        raise NotFound(
            f"dataset {row.id} has no sample grid (it was uploaded before the service drew them)",
            code="no_sample_grid",
        ) from None
