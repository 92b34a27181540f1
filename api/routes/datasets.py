"""Datasets: upload an image-folder archive, list and read your datasets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.pagination import PageDep
from api.schemas.datasets import DatasetPublic, DatasetsPublic
from api.schemas.errors import error_responses
from api.uploads import multipart_openapi, receive_upload, run_ingestion
from domain.datasets import uploaded_datasets

router = APIRouter(prefix="/datasets", tags=["datasets"])

_UPLOAD_BODY = multipart_openapi(
    {
        "file": {
            "type": "string",
            "format": "binary",
            "description": ".zip, .tar.gz or .tgz with train/<class>/<image> and val/<class>/<image> "
            "(at the top level or inside one top-level folder).",
        },
        "name": {"type": "string", "description": "A name to recognise it by (default: the file name)."},
    },
    required=["file"],
    file_types=["application/zip", "application/gzip", "application/x-tar", "application/x-bzip2", "application/x-xz"],
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasetPublic,
    responses=error_responses(400, 413, 415),
    openapi_extra=_UPLOAD_BODY,
    summary="Upload an image-folder dataset",
)
async def upload_dataset(
    request: Request, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant
) -> DatasetPublic:
    """Streams the archive (up to the service's upload limit), checks every member before
    extracting it, validates the layout and images as a training job would, then stores it."""
    upload = await receive_upload(
        request, work_dir=settings.work_dir, max_bytes=settings.max_upload_bytes, fields=("name",)
    )
    row = await run_ingestion(
        request, uploaded_datasets.ingest_dataset, session, settings, tenant, upload, upload.fields.get("name")
    )
    return DatasetPublic.model_validate(row)


@router.get("", response_model=DatasetsPublic, summary="List your datasets, newest first")
def list_datasets(session: SessionDep, tenant: CurrentTenant, page: PageDep) -> DatasetsPublic:
    rows, has_more = uploaded_datasets.list_datasets(session, tenant.id, page)
    return DatasetsPublic(data=[DatasetPublic.model_validate(row) for row in rows], has_more=has_more)


@router.get("/{dataset_id}", response_model=DatasetPublic, responses=error_responses(404), summary="Read a dataset")
def get_dataset(
    dataset_id: Annotated[str, Path(max_length=40)], session: SessionDep, tenant: CurrentTenant
) -> DatasetPublic:
    return DatasetPublic.model_validate(uploaded_datasets.get_dataset(session, tenant.id, dataset_id))
