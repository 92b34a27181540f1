"""Dataset schemas: registering a dataset, what a dataset looks like over HTTP while it is ingested
and once ready, and resumable uploads of archives in parts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Page, UtcDatetime, as_utc
from domain.datasets.upload_sessions import (
    MAX_PARTS,
    PART_SIZE_MAX,
    PART_SIZE_MIN_THROUGH_API,
    TARGETS_PER_REQUEST,
    PartTarget,
    UploadState,
)
from service.db.models import Dataset

DatasetStatusName = Literal["ingesting", "ready", "failed"]
Layout = Literal["imagefolder", "cub200", "imagenet", "shards"]
UploadStatus = Literal["open", "completing", "completed", "aborted", "expired"]
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class DatasetRegister(BaseModel):
    """A dataset registered where it lives; a worker ingests it into shards."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "birds", "source": "s3://corpus/acme/cub200/", "layout": "cub200"}]},
    )

    name: str = Field(min_length=1, max_length=200, description="A name to recognise it by.")
    source: str = Field(
        min_length=1,
        max_length=1024,
        description="s3://bucket/prefix/ holding the dataset; it must lie under a prefix the service's "
        "operator opens to you (SDD_DATASET_SOURCES). The workers read it with their own credentials.",
    )
    layout: Layout | None = Field(
        None,
        description="How the files are laid out: imagefolder (train/<class>/…, val/<class>/…), cub200 "
        "(CUB-200-2011 as distributed), imagenet (ILSVRC-2012), shards (WebDataset tars); "
        "left out: detected.",
    )
    crop_to_boxes: bool = Field(False, description="cub200 only: crop each image to its bounding box.")


class DatasetProgress(BaseModel):
    stage: str = Field(description="What the ingestion is doing: queued, listing, reading, writing, …")
    done: int = Field(description="How many of the stage's items are done.")
    total: int | None = Field(description="How many there are to do, when known.")


class DatasetError(BaseModel):
    code: str = Field(description="Stable code: source_not_allowed, layout_mismatch, quota_exceeded, …")
    message: str


class BadFile(BaseModel):
    path: str = Field(description="The file, relative to the source.")
    reason: str


class DatasetPublic(BaseModel):
    """A dataset; once ``ready``, pass its ``id`` as a job's ``dataset``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "ds_5b1e0c9d8a7f6e5d4c3b2a19",
                    "name": "flowers",
                    "status": "ready",
                    "source": "s3://corpus/acme/flowers/",
                    "layout": "imagefolder",
                    "progress": None,
                    "classes": ["daisy", "rose"],
                    "num_classes": 2,
                    "image_size": 32,
                    "train_count": 800,
                    "val_count": 200,
                    "class_counts": {"train": {"daisy": 400, "rose": 400}, "val": {"daisy": 100, "rose": 100}},
                    "statistics": {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2]},
                    "bad_files": [{"path": "train/rose/17.jpg", "reason": "cannot read image"}],
                    "bad_files_count": 1,
                    "error": None,
                    "size_bytes": 0,
                    "sha256": None,
                    "storage_bytes": 1843200,
                    "created_at": "2025-01-01T12:00:00Z",
                    "updated_at": "2025-01-01T12:03:00Z",
                }
            ]
        },
    )

    id: str
    name: str
    status: DatasetStatusName = Field(description="ingesting, then ready (jobs may use it) or failed (see error).")
    source: str | None = Field(
        description="Where it was read from: s3://bucket/prefix/, or upload:<key> for an uploaded archive."
    )
    layout: str | None = Field(description="imagefolder, cub200, imagenet or shards; null until detected.")
    progress: DatasetProgress | None = Field(description="While ingesting: the stage and how far it got.")
    classes: list[str] | None = Field(description="Class names, sorted; a label is an index into this list.")
    num_classes: int | None
    image_size: int | None = Field(description="Side in pixels of the square images the models see by default.")
    train_count: int | None
    val_count: int | None
    class_counts: dict[str, dict[str, int]] | None = Field(
        description="Images per class: {'train': {...}, 'val': {...}}."
    )
    statistics: dict[str, Any] | None = Field(
        description="Measured while ingesting: per-channel mean and std of the training images, image sizes."
    )
    bad_files: list[BadFile] = Field(description="The first files that could not be used, and why (skipped).")
    bad_files_count: int = Field(description="How many files could not be used in all.")
    error: DatasetError | None = Field(description="Why the ingestion failed (status failed).")
    size_bytes: int = Field(description="Size of the uploaded archive (0 for a dataset registered by reference).")
    sha256: str | None = Field(description="SHA-256 of the uploaded archive (null for one registered by reference).")
    storage_bytes: int = Field(description="Bytes it takes in the service's storage (counted in your quota).")
    created_at: UtcDatetime
    updated_at: UtcDatetime | None

    @classmethod
    def of(cls, row: Dataset) -> DatasetPublic:
        """The public view of a dataset row."""
        bad_files = list(row.bad_files or [])
        statistics = row.statistics or None
        error = DatasetError(code=row.error_code, message=row.error_message or "") if row.error_code else None
        return cls(
            id=row.id,
            name=row.name,
            status=row.status,
            source=row.source,
            layout=row.layout,
            progress=DatasetProgress.model_validate(row.progress) if row.progress else None,
            classes=row.classes,
            num_classes=row.num_classes,
            image_size=row.image_size,
            train_count=row.train_count,
            val_count=row.val_count,
            class_counts=row.class_counts,
            statistics=statistics,
            bad_files=[BadFile.model_validate(item) for item in bad_files],
            bad_files_count=int((statistics or {}).get("bad_file_count", len(bad_files))),
            error=error,
            size_bytes=row.size_bytes,
            sha256=row.sha256 or None,
            storage_bytes=row.storage_bytes or 0,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class DatasetsPublic(Page):
    data: list[DatasetPublic]


class DatasetEventPublic(BaseModel):
    type: str = Field(description="registered, ingesting, progress, ready, failed, requeued, …")
    message: str
    data: dict[str, Any] | None
    created_at: UtcDatetime


class DatasetEventsPublic(BaseModel):
    data: list[DatasetEventPublic]


# ---------------------------------------------------------------- resumable uploads


class UploadCreate(BaseModel):
    """A dataset archive about to be sent in parts."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(
        min_length=1, max_length=255, description="The archive's name: .zip, .tar, .tar.gz/.tgz, .tar.bz2 or .tar.xz."
    )
    size: int = Field(ge=1, description="The archive's size in bytes (counted against your storage quota).")
    sha256: str = Field(pattern=SHA256_PATTERN, description="The archive's SHA-256 (hex), checked once it is whole.")
    name: str | None = Field(
        None, min_length=1, max_length=200, description="The dataset's name (default: the file name)."
    )
    part_size: int | None = Field(
        None,
        ge=PART_SIZE_MIN_THROUGH_API,
        le=PART_SIZE_MAX,
        description=f"Bytes per part (the last one is shorter); at most {MAX_PARTS} parts. Default: 16 MiB, "
        "more for files over 160 GB. An object store takes parts of at least 5 MiB.",
    )


class PartTargetPublic(BaseModel):
    """Where to PUT one part's bytes."""

    number: int
    url: str = Field(
        description="A presigned object-store URL (send no Authorization header), or this API's "
        "/v1/datasets/uploads/{id}/parts/{number} (send your token and X-Content-SHA256)."
    )
    through_api: bool = Field(description="True when url is this API's (a path to join to the server's URL).")
    expires_at: UtcDatetime | None = Field(description="When a presigned URL stops working; ask for a new one then.")

    @classmethod
    def of(cls, upload_id: str, target: PartTarget, api_prefix: str = "/v1") -> PartTargetPublic:
        """``api_prefix``: where the API's part route lies (``/ui`` for the dashboard's own)."""
        if target.url is None:
            url = f"{api_prefix}/datasets/uploads/{upload_id}/parts/{target.number}"
            return cls(number=target.number, url=url, through_api=True, expires_at=None)
        return cls(number=target.number, url=target.url, through_api=False, expires_at=as_utc(target.expires_at))


class PartTargetsPublic(BaseModel):
    data: list[PartTargetPublic]


class PartTargetsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numbers: list[int] = Field(
        min_length=1, max_length=TARGETS_PER_REQUEST, description="Part numbers (from 1) to send next."
    )


class ReceivedPart(BaseModel):
    number: int
    size_bytes: int
    etag: str = Field(description="The object store's ETag of the part (the local store's: its SHA-256).")


class UploadPublic(BaseModel):
    """A resumable upload: send the ``missing`` parts, then complete it."""

    id: str
    status: UploadStatus = Field(
        description="open (takes parts), completing, completed (see dataset_id), aborted or expired."
    )
    name: str = Field(description="The name the dataset will have.")
    filename: str
    size_bytes: int
    sha256: str
    part_size: int = Field(description="Bytes per part; the last part holds the rest.")
    parts: int = Field(description="How many parts the file is sent in.")
    direct: bool = Field(description="True: parts go straight to the object store (presigned URLs).")
    dataset_id: str = Field(description="The dataset the upload becomes once completed.")
    received: list[ReceivedPart] = Field(description="Parts the store holds at their expected size.")
    missing: list[int] = Field(description="Part numbers still to send (empty once every part is in).")
    targets: list[PartTargetPublic] = Field(
        description=f"Where to send the first missing parts (up to {TARGETS_PER_REQUEST}); "
        "POST .../parts for others or for fresh URLs."
    )
    created_at: UtcDatetime
    expires_at: UtcDatetime = Field(description="When it expires if nothing more is asked of it (its parts deleted).")

    @classmethod
    def of(cls, state: UploadState, targets: list[PartTarget] | None = None, api_prefix: str = "/v1") -> UploadPublic:
        row = state.upload
        return cls(
            id=row.id,
            status=row.status,
            name=row.name,
            filename=row.filename,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            part_size=row.part_size,
            parts=row.parts,
            direct=row.direct,
            dataset_id=row.dataset_id,
            received=[ReceivedPart(number=p.number, size_bytes=p.size_bytes, etag=p.etag) for p in state.received],
            missing=state.missing,
            targets=[PartTargetPublic.of(row.id, target, api_prefix) for target in targets or []],
            created_at=row.created_at,
            expires_at=row.expires_at,
        )


class UploadsPublic(Page):
    data: list[UploadPublic]


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1, le=MAX_PARTS)
    etag: str = Field(
        min_length=1, max_length=200, description="The ETag the object store answered the part's PUT with."
    )


class UploadComplete(BaseModel):
    """Complete an upload; ``parts`` (optional) are checked against what the store holds."""

    model_config = ConfigDict(extra="forbid")

    parts: list[CompletedPart] | None = Field(None, max_length=MAX_PARTS)
