"""Datasets: register one where it lives or upload an archive (a worker ingests either), read them.

``POST /v1/datasets`` takes a JSON body to register ``s3://bucket/prefix/`` by reference, or a
multipart form to upload an archive in one request (up to ``SDD_MAX_UPLOAD_BYTES``; larger files
go in parts, see ``api.routes.dataset_uploads``). Either answers 202 with the dataset
``ingesting``: the archive is stored as it arrived, and extracted and checked by the ingestion.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.errors import ApiError
from api.pagination import PageDep
from api.routes import dataset_uploads
from api.schemas.datasets import (
    DatasetEventPublic,
    DatasetEventsPublic,
    DatasetPublic,
    DatasetRegister,
    DatasetsPublic,
    DatasetStatusName,
)
from api.schemas.errors import error_responses
from api.uploads import multipart_openapi, receive_upload
from domain.datasets import ingestion, registration, uploaded_datasets
from domain.datasets.registration import Registration
from service.artifacts import CHUNK_SIZE

router = APIRouter(prefix="/datasets", tags=["datasets"])
router.include_router(dataset_uploads.router)  # first: /datasets/uploads is not a dataset id

DatasetId = Annotated[str, Path(max_length=40)]
ARCHIVE_TYPES = ["application/zip", "application/gzip", "application/x-tar", "application/x-bzip2", "application/x-xz"]
SAMPLE_GRID_HEADERS = {"Cache-Control": "private, max-age=300"}


def _request_body() -> dict[str, Any]:
    """Both bodies ``POST /v1/datasets`` takes, for the OpenAPI document."""
    upload = multipart_openapi(
        {
            "file": {
                "type": "string",
                "format": "binary",
                "description": ".zip, .tar(.gz, .bz2, .xz) with train/<class>/<image> and val/<class>/<image> "
                "(at the top level or inside one top-level folder).",
            },
            "name": {"type": "string", "description": "A name to recognise it by (default: the file name)."},
        },
        required=["file"],
        file_types=ARCHIVE_TYPES,
    )
    content = upload["requestBody"]["content"]
    content["application/json"] = {"schema": DatasetRegister.model_json_schema()}
    return upload


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DatasetPublic,
    responses=error_responses(400, 413, 415),
    openapi_extra=_request_body(),
    summary="Register a dataset where it lives, or upload an archive",
)
async def create_dataset(
    request: Request, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant
) -> DatasetPublic:
    """JSON: register ``source`` (an ``s3://`` prefix the service's allow-list opens to you);
    multipart: upload an archive (``file``, up to the service's upload limit). The dataset comes
    back ``ingesting``; poll it (or ``sdd datasets wait``) until ``ready``."""
    media_type, _ = parse_options_header(request.headers.get("content-type"))
    if media_type == b"application/json":
        body = await request.body()  # capped by api.security's body limit
        try:
            asked = DatasetRegister.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from exc
        wanted = Registration(asked.name, asked.source, asked.layout, asked.crop_to_boxes)
        row = await run_in_threadpool(registration.register_dataset, session, settings, tenant, wanted)
        return DatasetPublic.of(row)
    if media_type != b"multipart/form-data":
        raise ApiError(
            415,
            "unsupported_media_type",
            'send JSON ({"name", "source"}) to register a dataset, or multipart/form-data with the archive '
            "in field 'file' to upload one",
        )
    upload = await receive_upload(
        request, work_dir=settings.work_dir, max_bytes=settings.max_upload_bytes, fields=("name",)
    )
    row = await run_in_threadpool(
        registration.register_upload, session, settings, tenant, upload, upload.fields.get("name")
    )
    return DatasetPublic.of(row)


@router.get("", response_model=DatasetsPublic, summary="List your datasets, newest first")
def list_datasets(
    session: SessionDep,
    tenant: CurrentTenant,
    page: PageDep,
    status: Annotated[DatasetStatusName | None, Query(description="Only datasets in this status.")] = None,
) -> DatasetsPublic:
    rows, has_more = uploaded_datasets.list_datasets(session, tenant.id, page, status)
    return DatasetsPublic(data=[DatasetPublic.of(row) for row in rows], has_more=has_more)


@router.get("/{dataset_id}", response_model=DatasetPublic, responses=error_responses(404), summary="Read a dataset")
def get_dataset(dataset_id: DatasetId, session: SessionDep, tenant: CurrentTenant) -> DatasetPublic:
    """Its status and progress while ingesting; once ready its classes and counts, statistics and
    the files it skipped; the error if it failed."""
    return DatasetPublic.of(uploaded_datasets.get_dataset(session, tenant.id, dataset_id))


@router.get(
    "/{dataset_id}/events",
    response_model=DatasetEventsPublic,
    responses=error_responses(404),
    summary="What happened to a dataset, oldest first",
)
def dataset_events(dataset_id: DatasetId, session: SessionDep, tenant: CurrentTenant) -> DatasetEventsPublic:
    events = ingestion.dataset_events(session, tenant.id, dataset_id)
    return DatasetEventsPublic(
        data=[DatasetEventPublic.model_validate(event, from_attributes=True) for event in events]
    )


@router.get(
    "/{dataset_id}/samples.png",
    response_class=StreamingResponse,
    responses={**error_responses(404), 200: {"content": {"image/png": {}}, "description": "A few images per class."}},
    summary="A grid of sample images per class, drawn by the ingestion",
)
def sample_grid(dataset_id: DatasetId, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant) -> Any:
    row = uploaded_datasets.get_dataset(session, tenant.id, dataset_id)
    session.commit()  # no transaction held while the image streams
    return sample_grid_response(uploaded_datasets.open_sample_grid(settings, row))


def sample_grid_response(handle: BinaryIO) -> StreamingResponse:
    """A sample grid's PNG streamed from the store (for the REST route and the dashboard)."""

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk

    return StreamingResponse(chunks(), media_type="image/png", headers=SAMPLE_GRID_HEADERS)
