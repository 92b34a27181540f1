"""Resumable uploads of dataset archives in parts (``domain.datasets.upload_sessions``).

1. ``POST /v1/datasets/uploads`` with the file's name, size and SHA-256: the upload, its part size
   and where to send the first parts (``targets``).
2. Each part's bytes: with an object store, a plain ``PUT`` to its presigned URL (no token; keep
   the ``ETag`` it answers); with the local store, ``PUT /v1/datasets/uploads/{id}/parts/{n}``
   with the token and ``X-Content-SHA256``. ``POST .../parts`` gives targets for other parts, or
   fresh URLs once presigned ones expire.
3. ``GET /v1/datasets/uploads/{id}`` lists the parts received and the ones missing: an interrupted
   upload resumes with those.
4. ``POST .../complete`` joins the parts: 202 with the dataset, ``ingesting``. ``DELETE`` aborts.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.errors import ApiError
from api.pagination import PageDep
from api.schemas.datasets import (
    DatasetPublic,
    PartTargetPublic,
    PartTargetsPublic,
    PartTargetsRequest,
    ReceivedPart,
    UploadComplete,
    UploadCreate,
    UploadPublic,
    UploadsPublic,
    UploadStatus,
)
from api.schemas.errors import error_responses
from api.uploads import with_request_body
from domain.datasets import upload_sessions
from domain.datasets.upload_sessions import MAX_PARTS, TARGETS_PER_REQUEST
from service.db.models import DatasetUpload
from service.settings import Settings

router = APIRouter(prefix="/uploads")  # under /datasets, with its tag

UploadId = Annotated[str, Path(max_length=40)]
PartNumber = Annotated[int, Path(ge=1, le=MAX_PARTS, description="The part's number, from 1.")]


def _public(settings: Settings, session: Session, row: DatasetUpload, with_targets: bool = True) -> UploadPublic:
    """The upload with its received and missing parts, and targets for the first missing ones."""
    state = upload_sessions.upload_state(settings, row)
    targets = []
    if with_targets and state.missing:
        targets = upload_sessions.part_targets(session, settings, row, state.missing[:TARGETS_PER_REQUEST])
    return UploadPublic.of(state, targets)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UploadPublic,
    responses=error_responses(400, 409),
    summary="Begin a resumable upload of a dataset archive",
)
def create_upload(
    body: UploadCreate, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant
) -> UploadPublic:
    """Refused past your storage quota (``quota_exceeded``, naming it and what you use). Uploads idle
    for 24 hours are aborted (their parts deleted) when the next upload begins."""
    row = upload_sessions.create_upload(
        session,
        settings,
        tenant,
        filename=body.filename,
        size=body.size,
        sha256=body.sha256,
        name=body.name,
        part_size=body.part_size,
    )
    return _public(settings, session, row)


@router.get("", response_model=UploadsPublic, summary="List your uploads, newest first")
def list_uploads(
    session: SessionDep,
    settings: SettingsDep,
    tenant: CurrentTenant,
    page: PageDep,
    status: Annotated[UploadStatus | None, Query(description="Only uploads in this status (open: resumable).")] = None,
) -> UploadsPublic:
    rows, has_more = upload_sessions.list_uploads(session, tenant.id, page, status)
    return UploadsPublic(data=[_public(settings, session, row, with_targets=False) for row in rows], has_more=has_more)


@router.get("/{upload_id}", response_model=UploadPublic, responses=error_responses(404), summary="Read an upload")
def get_upload(upload_id: UploadId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant) -> UploadPublic:
    """The parts received so far and the ones missing (with where to send them)."""
    row = upload_sessions.get_upload(session, settings, tenant.id, upload_id)
    return _public(settings, session, row, with_targets=row.status == upload_sessions.OPEN)


@router.post(
    "/{upload_id}/parts",
    response_model=PartTargetsPublic,
    responses=error_responses(400, 404, 409),
    summary="Where to send some parts (fresh presigned URLs)",
)
def part_targets(
    upload_id: UploadId,
    session: SessionDep,
    settings: SettingsDep,
    tenant: CurrentTenant,
    body: PartTargetsRequest | None = None,
) -> PartTargetsPublic:
    """Targets for the parts ``numbers`` (without a body: the first missing parts); presigned URLs
    are fresh, for parts whose earlier URL expired."""
    row = upload_sessions.get_upload(session, settings, tenant.id, upload_id)
    if body is not None:
        numbers = body.numbers
    else:
        numbers = upload_sessions.upload_state(settings, row).missing[:TARGETS_PER_REQUEST] or [1]
    targets = upload_sessions.part_targets(session, settings, row, numbers)
    return PartTargetsPublic(data=[PartTargetPublic.of(row.id, target) for target in targets])


@router.put(
    "/{upload_id}/parts/{number}",
    response_model=ReceivedPart,
    responses=error_responses(400, 404, 409, 411),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    summary="Send one part's bytes (uploads through the API)",
)
async def put_part(
    request: Request,
    upload_id: UploadId,
    number: PartNumber,
    session: SessionDep,
    settings: SettingsDep,
    tenant: CurrentTenant,
    sha256: Annotated[
        str | None,
        Header(alias="X-Content-SHA256", max_length=64, description="Required: the part's SHA-256, 64 hex digits."),
    ] = None,
) -> ReceivedPart:
    """The body is the part's bytes; its length must be the part's (``part_size``, the last part the
    rest) and its SHA-256 the header's, or nothing is kept. Sending a part again replaces it."""
    row = await run_in_threadpool(upload_sessions.get_upload, session, settings, tenant.id, upload_id)
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise ApiError(411, "length_required", "send the part with a Content-Length header", "Content-Length")
    part = await with_request_body(
        request, upload_sessions.put_part, session, settings, row, number, int(declared), (sha256 or "").lower()
    )
    return ReceivedPart(number=part.number, size_bytes=part.size_bytes, etag=part.etag)


@router.post(
    "/{upload_id}/complete",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DatasetPublic,
    responses=error_responses(400, 404, 409),
    summary="Join the parts: the dataset, ingesting",
)
def complete_upload(
    upload_id: UploadId,
    session: SessionDep,
    settings: SettingsDep,
    tenant: CurrentTenant,
    body: UploadComplete | None = None,
) -> DatasetPublic:
    """Every part must be in (``upload_incomplete`` names the missing ones); ``parts``' ETags, when
    given, must be the store's. The whole file's SHA-256 is checked (by the ingestion, for an object
    store) before the dataset is ingested."""
    row = upload_sessions.get_upload(session, settings, tenant.id, upload_id)
    etags = {part.number: part.etag for part in body.parts} if body is not None and body.parts else None
    dataset = upload_sessions.complete_upload(session, settings, tenant, row, etags)
    return DatasetPublic.of(dataset)


@router.delete(
    "/{upload_id}", response_model=UploadPublic, responses=error_responses(404, 409), summary="Abort an upload"
)
def abort_upload(
    upload_id: UploadId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant
) -> UploadPublic:
    """Its parts are deleted and its share of your quota freed."""
    row = upload_sessions.get_upload(session, settings, tenant.id, upload_id)
    upload_sessions.abort_upload(session, settings, row)
    return _public(settings, session, row, with_targets=False)
