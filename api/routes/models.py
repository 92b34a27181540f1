"""Models: upload teacher weights (safetensors), list and read your models."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.pagination import PageDep
from api.schemas.errors import error_responses
from api.schemas.models import ModelPublic, ModelsPublic
from api.uploads import multipart_openapi, receive_upload, run_ingestion
from domain.models import uploaded_models

router = APIRouter(prefix="/models", tags=["models"])

_UPLOAD_BODY = multipart_openapi(
    {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "The model's state_dict saved with safetensors (safetensors.torch.save_file).",
        },
        "arch": {
            "type": "string",
            "description": "Architecture name (see GET /v1/catalog).",
            "example": "resnet32x4",
        },
        "num_classes": {"type": "integer", "minimum": 1, "example": 100},
        "name": {"type": "string", "description": "A name to recognise it by (default: the file name)."},
    },
    required=["file", "arch", "num_classes"],
    file_types=["application/octet-stream"],  # safetensors has no media type of its own
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelPublic,
    responses=error_responses(400, 413, 415),
    openapi_extra=_UPLOAD_BODY,
    summary="Upload teacher weights",
)
async def upload_model(
    request: Request, session: SessionDep, settings: SettingsDep, tenant: CurrentTenant
) -> ModelPublic:
    """The weights must load strictly into ``arch`` with ``num_classes`` outputs (same keys and shapes)."""
    upload = await receive_upload(
        request,
        work_dir=settings.work_dir,
        max_bytes=settings.max_upload_bytes,
        fields=("arch", "num_classes", "name"),
    )
    row = await run_ingestion(request, uploaded_models.register_model, session, settings, tenant, upload)
    return ModelPublic.model_validate(row)


@router.get("", response_model=ModelsPublic, summary="List your models, newest first")
def list_models(session: SessionDep, tenant: CurrentTenant, page: PageDep) -> ModelsPublic:
    rows, has_more = uploaded_models.list_models(session, tenant.id, page)
    return ModelsPublic(data=[ModelPublic.model_validate(row) for row in rows], has_more=has_more)


@router.get("/{model_id}", response_model=ModelPublic, responses=error_responses(404), summary="Read a model")
def get_model(model_id: Annotated[str, Path(max_length=40)], session: SessionDep, tenant: CurrentTenant) -> ModelPublic:
    return ModelPublic.model_validate(uploaded_models.get_model(session, tenant.id, model_id))
