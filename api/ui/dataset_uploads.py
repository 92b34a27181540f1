"""The dashboard's resumable upload: the ``/v1/datasets/uploads`` protocol for our own JS, signed in
by the dashboard's cookie (page scripts never hold the API token), each change of state carrying the
page's signed CSRF token in ``X-CSRF-Token``.

    GET  /ui/datasets/uploads?filename=&size=&sha256=   the open upload of this file, to resume
    POST /ui/datasets/uploads                           begin one (JSON as POST /v1/datasets/uploads)
    POST /ui/datasets/uploads/{id}/parts                fresh targets for parts
    PUT  /ui/datasets/uploads/{id}/parts/{n}            a part's bytes (local store), X-Content-SHA256
    POST /ui/datasets/uploads/{id}/complete             the dataset: {"id", "url"}

Answers are JSON, refusals in the API's error envelope (our JS shows their message).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep, SettingsDep
from api.errors import ApiError
from api.schemas.datasets import (
    PartTargetPublic,
    PartTargetsPublic,
    PartTargetsRequest,
    ReceivedPart,
    UploadCreate,
    UploadPublic,
    UploadsPublic,
)
from api.ui.session import CheckedHeader, FetchTenant
from api.uploads import with_request_body
from domain.datasets import upload_sessions
from domain.datasets.upload_sessions import MAX_PARTS, TARGETS_PER_REQUEST
from domain.ownership import PageParams
from service.db.models import DatasetUpload
from service.settings import Settings

router = APIRouter(prefix="/datasets/uploads")  # under api.ui.dataset_pages' /ui

UI_PREFIX = "/ui"
UploadId = Annotated[str, Path(max_length=40)]
OPEN_UPLOADS_LOOKED_AT = 100


def _public(settings: Settings, session: Session, row: DatasetUpload) -> UploadPublic:
    state = upload_sessions.upload_state(settings, row)
    missing = state.missing[:TARGETS_PER_REQUEST]
    targets = upload_sessions.part_targets(session, settings, row, missing) if missing else []
    return UploadPublic.of(state, targets, UI_PREFIX)


@router.get("")
def resumable(
    session: SessionDep,
    settings: SettingsDep,
    tenant: FetchTenant,
    filename: Annotated[str, Query(max_length=255)],
    size: Annotated[int, Query(ge=1)],
    sha256: Annotated[str, Query(max_length=64)],
) -> UploadsPublic:
    """The tenant's open uploads of this very file (name, size, SHA-256), with their parts."""
    rows, _ = upload_sessions.list_uploads(session, tenant.id, PageParams(OPEN_UPLOADS_LOOKED_AT), upload_sessions.OPEN)
    same = [row for row in rows if (row.filename, row.size_bytes, row.sha256) == (filename, size, sha256)]
    return UploadsPublic(data=[_public(settings, session, row) for row in same[:1]], has_more=False)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[CheckedHeader])
def begin(body: UploadCreate, session: SessionDep, settings: SettingsDep, tenant: FetchTenant) -> UploadPublic:
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


@router.post("/{upload_id}/parts", dependencies=[CheckedHeader])
def targets(
    upload_id: UploadId, body: PartTargetsRequest, session: SessionDep, settings: SettingsDep, tenant: FetchTenant
) -> PartTargetsPublic:
    row = upload_sessions.get_upload(session, settings, tenant.id, upload_id)
    found = upload_sessions.part_targets(session, settings, row, body.numbers)
    return PartTargetsPublic(data=[PartTargetPublic.of(row.id, target, UI_PREFIX) for target in found])


@router.put("/{upload_id}/parts/{number}", dependencies=[CheckedHeader])
async def put_part(
    request: Request,
    upload_id: UploadId,
    number: Annotated[int, Path(ge=1, le=MAX_PARTS)],
    session: SessionDep,
    settings: SettingsDep,
    tenant: FetchTenant,
    sha256: Annotated[str | None, Header(alias="X-Content-SHA256", max_length=64)] = None,
) -> ReceivedPart:
    row = await run_in_threadpool(upload_sessions.get_upload, session, settings, tenant.id, upload_id)
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise ApiError(411, "length_required", "send the part with a Content-Length header", "Content-Length")
    part = await with_request_body(
        request, upload_sessions.put_part, session, settings, row, number, int(declared), (sha256 or "").lower()
    )
    return ReceivedPart(number=part.number, size_bytes=part.size_bytes, etag=part.etag)


@router.post("/{upload_id}/complete", status_code=status.HTTP_202_ACCEPTED, dependencies=[CheckedHeader])
def complete(upload_id: UploadId, session: SessionDep, settings: SettingsDep, tenant: FetchTenant) -> dict[str, Any]:
    """Join the parts (the server lists what the store holds: the browser keeps no ETags)."""
    row = upload_sessions.get_upload(session, settings, tenant.id, upload_id)
    dataset = upload_sessions.complete_upload(session, settings, tenant, row)
    return {"id": dataset.id, "url": f"/ui/datasets/{dataset.id}"}
