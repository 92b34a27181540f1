"""Resumable uploads of dataset archives in parts, so that no single request carries a large file.

An upload begins with the file's name, size and SHA-256 (``create_upload``): the tenant's storage
quota is checked for the whole size, the dataset id it will become is reserved, and the artifact
store starts a multipart upload at ``datasets/<id>/upload.<kind>``. The file is then sent in parts
of ``part_size`` bytes (the last one shorter), in any order, each as often as needed:

* with an object store (``direct``), straight to it: the client PUTs each part to a presigned URL
  (``part_targets``) and the API never sees the bytes;
* with the local store, through the API (``put_part``): each part is checked for its size and
  SHA-256 as it is written.

``received_parts`` says what arrived (the store's own list), so an interrupted upload resumes
with the missing parts only. ``complete_upload`` checks that every part is there at its size,
joins them (the local store checks the whole file's SHA-256; for an object store the ingestion
does, when it fetches the archive), refuses a file that is no archive, and records the dataset,
``ingesting``. ``abort_upload`` deletes the parts.

Abandoned uploads: an upload not touched for ``UPLOAD_IDLE`` (every request about it extends it)
is expired on the next request that begins an upload (``reap_expired``, up to ``REAPED_PER_PASS``
of them, any tenant's), or when it is itself asked about; expiring deletes its parts and frees
its share of the quota.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from domain.datasets.archive_kinds import HEAD_BYTES, require_archive_bytes, require_archive_name
from domain.datasets.registration import begin_ingestion, dataset_name, name_from_filename, new_dataset
from domain.datasets.sources import upload_source
from domain.datasets.storage_quota import check_quota
from domain.errors import Conflict, InvalidRequest, Location
from domain.ownership import PageParams, get_owned, page_of
from service.artifact_stores import get_artifact_store
from service.artifacts import ArtifactStore, ChecksumMismatch, PartMismatch, StoredPart, dataset_upload_key
from service.db.models import Dataset, DatasetUpload, Tenant, new_id, utcnow
from service.settings import Settings

logger = logging.getLogger(__name__)

MIB = 1 << 20
UPLOAD_IDLE = timedelta(hours=24)
REAPED_PER_PASS = 20
MAX_PARTS = 10_000  # S3's limit
PART_SIZE_DEFAULT = 16 * MIB
PART_SIZE_MIN_DIRECT = 5 * MIB  # S3's smallest part (but the last)
PART_SIZE_MIN_THROUGH_API = 64 << 10
PART_SIZE_MAX = 1 << 30
TARGETS_PER_REQUEST = 100
OPEN = "open"
COMPLETING = "completing"
STATUSES = (OPEN, COMPLETING, "completed", "aborted", "expired")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class PartTarget:
    """Where part ``number`` goes: a presigned ``url`` (valid until ``expires_at``), or the API
    (``url`` None: ``PUT /v1/datasets/uploads/{id}/parts/{number}``)."""

    number: int
    url: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class UploadState:
    """An upload with what its store has received: parts at their expected size, and the missing numbers."""

    upload: DatasetUpload
    received: list[StoredPart]
    missing: list[int]


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite gives naive UTC


def part_size_of(upload: DatasetUpload, number: int) -> int:
    """The size part ``number`` must have: ``part_size``, the last one the rest."""
    return upload.part_size if number < upload.parts else upload.size_bytes - upload.part_size * (upload.parts - 1)


# ---------------------------------------------------------------- beginning


def create_upload(
    session: Session,
    settings: Settings,
    tenant: Tenant,
    *,
    filename: str,
    size: int,
    sha256: str,
    name: str | None = None,
    part_size: int | None = None,
) -> DatasetUpload:
    """Begin an upload of ``size`` bytes; refused (naming the field) for a name that is no
    archive's, a malformed SHA-256, a part size out of bounds or making more than ``MAX_PARTS``
    parts, a size past the tenant's storage quota."""
    reap_expired(session, settings)
    kind = require_archive_name(filename, ("filename",))
    shown_name = dataset_name(name) if name is not None else None
    if size < 1:
        raise InvalidRequest("size: an upload holds at least one byte", location=("size",))
    if not _SHA256.fullmatch(sha256):
        raise InvalidRequest("sha256: the file's SHA-256 as 64 lowercase hex digits", location=("sha256",))
    store = get_artifact_store(settings)
    part_size = _part_size(size, part_size, store.direct_part_uploads)
    check_quota(session, settings, tenant.id, size, ("size",))
    dataset_id = new_id("ds")
    key = dataset_upload_key(dataset_id, kind)
    store_upload_id = store.start_multipart(key, sha256)
    now = _now()
    row = DatasetUpload(
        id=new_id("upl"),
        tenant_id=tenant.id,
        dataset_id=dataset_id,
        name=shown_name or name_from_filename(filename, dataset_id),
        filename=filename,
        size_bytes=size,
        sha256=sha256,
        part_size=part_size,
        parts=math.ceil(size / part_size),
        key=key,
        store_upload_id=store_upload_id,
        direct=store.direct_part_uploads,
        status=OPEN,
        created_at=now,
        updated_at=now,
        expires_at=now + UPLOAD_IDLE,
    )
    session.add(row)
    try:
        session.commit()
    except BaseException:
        session.rollback()
        store.abort_multipart(key, store_upload_id)
        raise
    logger.info("upload %s: %d bytes in %d parts for tenant %s", row.id, size, row.parts, tenant.name)
    return row


def _part_size(size: int, asked: int | None, direct: bool) -> int:
    smallest = PART_SIZE_MIN_DIRECT if direct else PART_SIZE_MIN_THROUGH_API
    if asked is None:
        return max(PART_SIZE_DEFAULT, math.ceil(size / MAX_PARTS / MIB) * MIB)
    if not smallest <= asked <= PART_SIZE_MAX:
        raise InvalidRequest(
            f"part_size: {asked} bytes is out of bounds; from {smallest} to {PART_SIZE_MAX} bytes"
            + (" (the object store's smallest part)" if direct else ""),
            location=("part_size",),
        )
    if math.ceil(size / asked) > MAX_PARTS:
        raise InvalidRequest(
            f"part_size: {size} bytes in parts of {asked} make more than {MAX_PARTS} parts; "
            f"use parts of at least {math.ceil(size / MAX_PARTS)} bytes",
            location=("part_size",),
        )
    return asked


# ---------------------------------------------------------------- reading


def get_upload(session: Session, settings: Settings, tenant_id: str, upload_id: str) -> DatasetUpload:
    """The tenant's upload ``upload_id`` (``NotFound`` otherwise), expired first if it was idle too long."""
    row = get_owned(session, DatasetUpload, tenant_id, upload_id, kind="upload")
    if row.status in (OPEN, COMPLETING) and _aware(row.expires_at) <= _now():
        expire(session, settings, row)
    return row


def list_uploads(
    session: Session, tenant_id: str, page: PageParams, status: str | None = None
) -> tuple[Sequence[DatasetUpload], bool]:
    """A page of the tenant's uploads, newest first, optionally only those in ``status``."""
    filters = [DatasetUpload.status == status] if status is not None else []
    return page_of(session, DatasetUpload, tenant_id, page, *filters)


def upload_state(settings: Settings, row: DatasetUpload) -> UploadState:
    """``row`` with the parts its store holds at their expected size and the numbers still missing."""
    received: list[StoredPart] = []
    if row.status in (OPEN, COMPLETING):
        try:
            received = get_artifact_store(settings).list_parts(row.key, row.store_upload_id)
        except FileNotFoundError:
            received = []
    good = [part for part in received if part.number <= row.parts and part.size_bytes == part_size_of(row, part.number)]
    have = {part.number for part in good}
    missing = [number for number in range(1, row.parts + 1) if number not in have] if row.status == OPEN else []
    return UploadState(row, good, missing)


def require_open(row: DatasetUpload) -> None:
    """``Conflict`` naming what became of an upload that no longer takes parts."""
    if row.status == OPEN:
        return
    hints = {
        COMPLETING: "it is being completed",
        "completed": f"it became dataset {row.dataset_id}",
        "aborted": "it was aborted and its parts deleted; start a new upload",
        "expired": f"it was idle for more than {UPLOAD_IDLE.total_seconds() / 3600:.0f} h and its parts were "
        "deleted; start a new upload",
    }
    raise Conflict(f"upload {row.id} is {row.status}: {hints.get(row.status, '')}", code=f"upload_{row.status}")


def touch(row: DatasetUpload) -> None:
    """The upload is in use: it expires ``UPLOAD_IDLE`` from now."""
    row.expires_at = _now() + UPLOAD_IDLE


# ---------------------------------------------------------------- parts


def check_part_number(row: DatasetUpload, number: int, location: Location) -> None:
    if not 1 <= number <= row.parts:
        raise InvalidRequest(
            f"{'.'.join(map(str, location))}: part {number} does not exist; this upload has parts 1 to {row.parts}",
            code="invalid_part_number",
            location=location,
        )


def part_targets(session: Session, settings: Settings, row: DatasetUpload, numbers: Iterable[int]) -> list[PartTarget]:
    """Where each of the parts ``numbers`` goes (at most ``TARGETS_PER_REQUEST`` at once)."""
    require_open(row)
    numbers = list(numbers)
    if not 1 <= len(numbers) <= TARGETS_PER_REQUEST:
        raise InvalidRequest(f"numbers: ask for 1 to {TARGETS_PER_REQUEST} parts at once", location=("numbers",))
    for index, number in enumerate(numbers):
        check_part_number(row, number, ("numbers", index))
    touch(row)
    session.commit()
    if not row.direct:
        return [PartTarget(number, None, None) for number in numbers]
    store = get_artifact_store(settings)
    expiry = settings.s3_presigned_expiry_seconds
    expires_at = _now() + timedelta(seconds=expiry)
    return [
        PartTarget(number, store.part_upload_url(row.key, row.store_upload_id, number, expiry), expires_at)
        for number in numbers
    ]


def put_part(
    session: Session, settings: Settings, row: DatasetUpload, number: int, size: int, sha256: str, body: BinaryIO
) -> StoredPart:
    """Store part ``number`` of an upload whose parts come through the API; refused for a direct
    upload, a part number out of range, a size other than the part's (``Content-Length``), a
    SHA-256 that is malformed or not the bytes' (``X-Content-SHA256``). Blocking: run it in a thread."""
    require_open(row)
    if row.direct:
        raise Conflict(
            f"upload {row.id} sends its parts straight to the object store: PUT each part to the URL "
            f"POST /v1/datasets/uploads/{row.id}/parts gives for it",
            code="parts_go_direct",
        )
    check_part_number(row, number, ("part_number",))
    expected = part_size_of(row, number)
    if size != expected:
        raise InvalidRequest(
            f"Content-Length: part {number} holds {expected} bytes, not {size}",
            code="part_size_mismatch",
            location=("Content-Length",),
        )
    if not _SHA256.fullmatch(sha256):
        raise InvalidRequest(
            "X-Content-SHA256: send the part's SHA-256 in this header, as 64 hex digits",
            location=("X-Content-SHA256",),
        )
    touch(row)
    session.commit()  # no transaction held while the bytes arrive
    try:
        return get_artifact_store(settings).put_part(row.key, row.store_upload_id, number, body, size, sha256)
    except PartMismatch as exc:
        if exc.what == "size":
            raise InvalidRequest(
                f"Content-Length: part {number} ended at {exc.actual}, not {exc.expected}",
                code="part_size_mismatch",
                location=("Content-Length",),
            ) from exc
        raise InvalidRequest(
            f"X-Content-SHA256: part {number}'s bytes have SHA-256 {exc.actual}, not the {sha256} sent; "
            "nothing was kept: send the part again",
            code="checksum_mismatch",
            location=("X-Content-SHA256",),
        ) from exc


# ---------------------------------------------------------------- the end of an upload


def complete_upload(
    session: Session, settings: Settings, tenant: Tenant, row: DatasetUpload, etags: Mapping[int, str] | None = None
) -> Dataset:
    """Join the parts into the archive and record its dataset (``ingesting``).

    ``etags`` (part number -> ETag, as the object store answered the client's PUTs), when given,
    must match what the store holds. Refused: missing parts (``upload_incomplete``, naming them),
    an ETag that differs (``etag_mismatch``), a whole file whose SHA-256 is not the announced one
    (``checksum_mismatch``, the upload stays open), bytes that are no archive (``invalid_archive``,
    nothing kept)."""
    require_open(row)
    state = upload_state(settings, row)
    if state.missing:
        shown = ", ".join(map(str, state.missing[:20])) + (" …" if len(state.missing) > 20 else "")
        raise Conflict(
            f"upload {row.id} lacks {len(state.missing)} of its {row.parts} parts ({shown}): send them, then complete",
            code="upload_incomplete",
        )
    by_number = {part.number: part for part in state.received}
    for index, (number, etag) in enumerate(sorted((etags or {}).items())):
        check_part_number(row, number, ("parts", index, "number"))
        if by_number[number].etag != etag.strip('"'):
            raise InvalidRequest(
                f"parts[{index}].etag: the store holds part {number} with ETag {by_number[number].etag}, not "
                f"{etag}; send the part again",
                code="etag_mismatch",
                location=("parts", index, "etag"),
            )
    if not _claim(session, row.id, OPEN, COMPLETING):
        session.refresh(row)
        require_open(row)
    store = get_artifact_store(settings)
    parts = [by_number[number] for number in range(1, row.parts + 1)]
    try:
        stored = store.complete_multipart(row.key, row.store_upload_id, parts, row.sha256)
    except ChecksumMismatch as exc:
        _claim(session, row.id, COMPLETING, OPEN)
        raise InvalidRequest(
            f"sha256: the parts joined have SHA-256 {exc.actual}, not the {row.sha256} announced; a part holds "
            "other bytes than the file's: send it again, or abort and upload the file anew",
            code="checksum_mismatch",
            location=("sha256",),
        ) from exc
    except BaseException:
        _claim(session, row.id, COMPLETING, OPEN)
        raise
    try:
        with store.open(row.key) as handle:
            require_archive_bytes(handle.read(HEAD_BYTES), ("filename",))
    except InvalidRequest:
        store.delete(row.key)
        _claim(session, row.id, COMPLETING, "aborted")
        raise
    dataset = new_dataset(
        tenant,
        row.name,
        source=upload_source(row.key),
        layout="imagefolder",
        dataset_id=row.dataset_id,
        size_bytes=stored.size_bytes,
        sha256=row.sha256,
    )
    session.refresh(row)
    row.status = "completed"
    begin_ingestion(
        session,
        settings,
        dataset,
        f"uploaded {row.filename} ({row.size_bytes} bytes in {row.parts} parts)",
        {"source": dataset.source, "layout": "imagefolder", "filename": row.filename, "upload": row.id},
        discard=lambda: _undo_completion(session, store, row),
    )
    logger.info("upload %s: completed as dataset %s", row.id, dataset.id)
    return dataset


def _undo_completion(session: Session, store: ArtifactStore, row: DatasetUpload) -> None:
    """The dataset row could not be written: the archive goes, and the upload is aborted."""
    store.delete(row.key)
    _claim(session, row.id, COMPLETING, "aborted")


def _claim(session: Session, upload_id: str, before: str, after: str) -> bool:
    """Move the upload from ``before`` to ``after`` if it is still ``before`` (one request wins)."""
    moved = session.execute(
        update(DatasetUpload)
        .where(DatasetUpload.id == upload_id, DatasetUpload.status == before)
        .values(status=after, updated_at=utcnow(), expires_at=_now() + UPLOAD_IDLE)
    )
    session.commit()
    return bool(getattr(moved, "rowcount", 0))


def abort_upload(session: Session, settings: Settings, row: DatasetUpload) -> None:
    """End an open upload and delete its parts."""
    require_open(row)
    get_artifact_store(settings).abort_multipart(row.key, row.store_upload_id)
    row.status = "aborted"
    session.commit()
    logger.info("upload %s: aborted", row.id)


def expire(session: Session, settings: Settings, row: DatasetUpload) -> None:
    """An upload idle past its time: its parts (and an archive a completion left without its
    dataset) are deleted and its share of the quota freed."""
    store = get_artifact_store(settings)
    store.abort_multipart(row.key, row.store_upload_id)
    if session.get(Dataset, row.dataset_id) is None:
        store.delete(row.key)
    row.status = "expired"
    session.commit()
    logger.info("upload %s: expired after %s idle; its parts were deleted", row.id, UPLOAD_IDLE)


def reap_expired(session: Session, settings: Settings, limit: int = REAPED_PER_PASS) -> int:
    """Expire up to ``limit`` uploads of any tenant idle past their time; how many."""
    rows = session.scalars(
        select(DatasetUpload)
        .where(DatasetUpload.status.in_((OPEN, COMPLETING)), DatasetUpload.expires_at <= _now())
        .order_by(DatasetUpload.expires_at)
        .limit(limit)
    ).all()
    for row in rows:
        expire(session, settings, row)
    return len(rows)
