"""A dataset comes into being: registered where it lives (``s3://…``), or uploaded as an archive.

Either way the API only records it and hands it to the ingestion (``domain.datasets.ingestion``):
the dataset row is written ``ingesting`` with a ``registered`` event, then a worker lists and reads
the source, writes shards, and marks it ``ready`` or ``failed``. Nothing is extracted or decoded
here. A registration names its source, checked against the operator's allow-list for the tenant
(``domain.datasets.sources.check_source``: never credentials or an endpoint from the request); an
upload's archive is stored as it was received under ``datasets/<id>/upload.<kind>`` and named by
the source ``upload:<key>``. The row and the stored archive come together or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from domain.datasets.archive_kinds import HEAD_BYTES, name_without_suffix, require_archive_bytes
from domain.datasets.ingestion import start_ingestion
from domain.datasets.sources import check_source, upload_source
from domain.datasets.storage_quota import check_quota
from domain.errors import InvalidRequest
from domain.jobs.job_request import checked_name
from domain.status import DatasetStatus
from domain.uploads import UploadedFile, commit_stored
from service.artifact_stores import get_artifact_store
from service.artifacts import dataset_key, dataset_upload_key
from service.db.models import Dataset, DatasetEvent, Tenant, new_id
from service.settings import Settings

logger = logging.getLogger(__name__)

LAYOUTS = ("imagefolder", "cub200", "imagenet", "shards")
"""How a registered source is laid out (None at registration: the ingestion detects it)."""
NAME_MAX_CHARS = 200


@dataclass(frozen=True)
class Registration:
    """What a tenant asks for when registering a dataset by reference."""

    name: str
    source: str
    layout: str | None = None
    crop_to_boxes: bool = False


def register_dataset(session: Session, settings: Settings, tenant: Tenant, registration: Registration) -> Dataset:
    """Record the dataset ``registration`` names (``ingesting``) and start its ingestion.

    Refused, each naming its field: a name that is not one line of printable text, an unknown
    layout, ``crop_to_boxes`` with a layout other than ``cub200``, a source that is not a plain
    ``s3://bucket/prefix/`` or lies outside every prefix the allow-list opens to this tenant."""
    name = dataset_name(registration.name)
    if registration.layout is not None and registration.layout not in LAYOUTS:
        raise InvalidRequest(
            f"layout: {registration.layout!r} is not a layout; use one of {', '.join(LAYOUTS)} "
            "(or leave it out to have it detected)",
            code="unknown_layout",
            location=("layout",),
        )
    if registration.crop_to_boxes and registration.layout not in (None, "cub200"):
        raise InvalidRequest(
            f"crop_to_boxes: only the cub200 layout has bounding boxes (bounding_boxes.txt), not {registration.layout}",
            location=("crop_to_boxes",),
        )
    location = check_source(settings, tenant, registration.source)
    row = new_dataset(tenant, name, source=location.uri, layout=registration.layout)
    options = {"source": location.uri, "layout": registration.layout, "crop_to_boxes": registration.crop_to_boxes}
    shown_layout = registration.layout or "to be detected"
    begin_ingestion(session, settings, row, f"registered from {location.uri} (layout: {shown_layout})", options)
    logger.info("dataset %s: registered by tenant %s from %s", row.id, tenant.name, location.uri)
    return row


def register_upload(
    session: Session, settings: Settings, tenant: Tenant, upload: UploadedFile, name: str | None
) -> Dataset:
    """Store an archive received in one request as it is and start its ingestion.

    Refused before anything is stored: a file that is no archive (its first bytes), or one that
    would take the tenant past its storage quota. The temp file is always removed."""
    try:
        with open(upload.path, "rb") as handle:
            kind = require_archive_bytes(handle.read(HEAD_BYTES), ("file",))
        shown_name = dataset_name(name) if name is not None else None
        check_quota(session, settings, tenant.id, upload.size_bytes, ("file",))
        dataset_id = new_id("ds")
        key = dataset_upload_key(dataset_id, kind)
        store = get_artifact_store(settings)
        stored = store.put_file(key, upload.path)
    finally:
        upload.remove()
    row = new_dataset(
        tenant,
        shown_name or name_from_filename(upload.filename, dataset_id),
        source=upload_source(key),
        layout="imagefolder",
        dataset_id=dataset_id,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
    )
    begin_ingestion(
        session,
        settings,
        row,
        f"uploaded {upload.filename or 'an archive'} ({stored.size_bytes} bytes)",
        {"source": row.source, "layout": "imagefolder", "filename": upload.filename},
        discard=lambda: store.delete_prefix(dataset_key(dataset_id)),
    )
    logger.info("dataset %s: archive of %d bytes uploaded by tenant %s", row.id, stored.size_bytes, tenant.name)
    return row


def dataset_name(value: str) -> str:
    """A name a tenant gave, stripped; ``InvalidRequest`` on ``name`` unless it is 1 to 200
    printable characters on one line."""
    try:
        name = checked_name(value, NAME_MAX_CHARS)
    except ValueError as exc:
        raise InvalidRequest(f"name: {exc}", location=("name",)) from exc
    assert name is not None
    return name


def name_from_filename(filename: str, fallback: str) -> str:
    """An uploaded file's name without its archive suffix and unprintable characters, or ``fallback``."""
    name = "".join(c for c in name_without_suffix(filename) if c.isprintable()).strip()
    return name[:NAME_MAX_CHARS] or fallback


def new_dataset(
    tenant: Tenant,
    name: str,
    *,
    source: str,
    layout: str | None,
    dataset_id: str | None = None,
    size_bytes: int = 0,
    sha256: str = "",
) -> Dataset:
    """A dataset row about to be ingested; an uploaded archive's bytes count in the quota until the
    ingestion records what the dataset takes."""
    dataset_id = dataset_id or new_id("ds")
    return Dataset(
        id=dataset_id,
        tenant_id=tenant.id,
        name=name,
        status=DatasetStatus.INGESTING,
        source=source,
        layout=layout,
        storage_key=dataset_key(dataset_id),
        size_bytes=size_bytes,
        sha256=sha256,
        storage_bytes=size_bytes,
    )


def begin_ingestion(
    session: Session,
    settings: Settings,
    row: Dataset,
    message: str,
    data: dict[str, Any],
    discard: Callable[[], object] = lambda: None,
) -> None:
    """Commit ``row`` with its ``registered`` event (``discard()`` what was stored for it if that
    fails), then hand it to the ingestion (a message to a worker)."""
    session.add(DatasetEvent(dataset_id=row.id, type="registered", message=message, data=data))
    commit_stored(session, row, discard)
    start_ingestion(session, settings, row)
    session.refresh(row)  # as the ingestion's start left it (a conditional UPDATE)
