"""An uploaded archive becomes a dataset: extract safely, validate as an image folder, store, record.

The archive holds ``train/<class>/<image>`` and ``val/<class>/<image>``, at its top level or inside
one top-level folder. ``sdd_core.data`` judges the layout and the images exactly as a training job
will, so a dataset that uploads is a dataset that trains. Nothing is left behind on failure: the
temp archive and extraction folder are always removed, and the stored tree is deleted again if
the database row cannot be written.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from domain.datasets.archives import extract_archive
from domain.errors import InvalidRequest
from domain.ownership import PageParams, get_owned, page_of
from domain.uploads import UploadedFile, commit_stored
from sdd_core.data import IMAGE_FOLDER_PREFIX, DatasetInfo, describe_dataset
from sdd_core.data.image_folder import check_decodable
from sdd_core.data.image_folder_layout import scan_image_folder
from sdd_core.errors import DataError
from service.artifact_stores import get_artifact_store
from service.artifacts import dataset_key
from service.db.models import Dataset, Tenant, new_id
from service.settings import Settings

logger = logging.getLogger(__name__)

EXTRACTED_BYTES_PER_UPLOAD_BYTE = 20  # images barely compress; this bounds an honest archive generously
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_IGNORED_TOP_LEVEL = ("__MACOSX",)


def ingest_dataset(
    session: Session, settings: Settings, tenant: Tenant, upload: UploadedFile, name: str | None
) -> Dataset:
    """Validate and store the uploaded archive as a dataset of ``tenant``; the committed row."""
    extracted: Path | None = None
    try:
        extracted = extract_archive(
            upload.path,
            settings.work_dir,
            max_total_bytes=EXTRACTED_BYTES_PER_UPLOAD_BYTE * settings.max_upload_bytes,
        )
        root = dataset_root(extracted)
        info, class_counts = describe_upload(root, settings)
        dataset_id = new_id("ds")
        key = dataset_key(dataset_id)
        store = get_artifact_store(settings)
        store.put_unpacked(key, upload.path, root, move=True)  # the folder locally; the archive in an object store
        row = Dataset(
            id=dataset_id,
            tenant_id=tenant.id,
            name=(name or _name_from_filename(upload.filename) or dataset_id)[:200],
            classes=list(info.classes),
            num_classes=info.num_classes,
            image_size=info.image_size,
            train_count=info.train_size,
            val_count=info.val_size,
            class_counts=class_counts,
            storage_key=key,
            size_bytes=upload.size_bytes,
            sha256=upload.sha256,
        )
        commit_stored(session, row, lambda: store.delete_prefix(key))
    finally:
        upload.remove()
        if extracted is not None:
            shutil.rmtree(extracted, ignore_errors=True)
    logger.info(
        "dataset %s: stored for tenant %s (%d classes, %d train / %d val images, %dpx)",
        row.id,
        tenant.name,
        row.num_classes,
        row.train_count,
        row.val_count,
        row.image_size,
    )
    return row


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


def describe_upload(root: Path, settings: Settings) -> tuple[DatasetInfo, dict[str, dict[str, int]]]:
    """The dataset's info and its per-class image counts; ``InvalidRequest`` on ``file`` saying what is wrong."""
    try:
        info = describe_dataset(f"{IMAGE_FOLDER_PREFIX}{root}", data_root=settings.data_root)
        layout = scan_image_folder(root)
        check_decodable(layout)  # every header, and the validation images within a pixel budget
    except DataError as exc:
        message = exc.message.replace(str(root), "<archive>")
        raise InvalidRequest(f"file: {message}", code=exc.code, location=("file",)) from exc
    counts = {
        split: {layout.classes[label]: n for label, n in sorted(Counter(label for _, label in samples).items())}
        for split, samples in (("train", layout.train_samples), ("val", layout.val_samples))
    }
    return info, counts


def _name_from_filename(filename: str) -> str:
    base = Path(filename).name
    for suffix in _ARCHIVE_SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def get_dataset(session: Session, tenant_id: str, dataset_id: str) -> Dataset:
    """The tenant's dataset ``dataset_id``; ``NotFound`` otherwise."""
    return get_owned(session, Dataset, tenant_id, dataset_id, kind="dataset")


def list_datasets(session: Session, tenant_id: str, page: PageParams) -> tuple[Sequence[Dataset], bool]:
    """A page of the tenant's datasets, newest first: (datasets, whether more follow)."""
    return page_of(session, Dataset, tenant_id, page)
