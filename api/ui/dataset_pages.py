"""The dataset pages: the list (with the forms to register a dataset by reference and to upload an
archive), one dataset (status and progress, refreshed while it is ingested; classes with their
counts, the sample grid, statistics, the files it skipped, its events) and its live part.

Reads and the registration go through the domain as ``/v1/datasets`` does (tenant-scoped: another
tenant's dataset is "not found"); the registration is a CSRF-checked POST form. The upload is our
own JS (``static/datasets.js``) speaking the resumable protocol with ``api.ui.dataset_uploads``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep, SettingsDep
from api.routes.datasets import sample_grid_response
from api.schemas.datasets import DatasetPublic
from api.ui import dataset_uploads
from api.ui.rendering import PAGE_CSP, page, shown_as_page
from api.ui.session import CheckedForm, FetchTenant, PageTenant
from domain.datasets import ingestion, registration, uploaded_datasets
from domain.datasets.registration import LAYOUTS, Registration
from domain.errors import DomainError
from domain.ownership import PageParams
from domain.status import DatasetStatus
from service.artifact_stores import get_artifact_store
from service.db.models import Dataset, Tenant
from service.settings import Settings

logger = logging.getLogger("api.ui")

router = APIRouter(prefix="/ui", include_in_schema=False)
router.include_router(dataset_uploads.router)  # first: /ui/datasets/uploads is not a dataset id

DatasetId = Annotated[str, Path(max_length=40)]
LIST_PAGE_SIZE = 50
SHOWN_BAD_FILES = 20
SHOWN_EVENTS = 200
REGISTER_FIELDS = ("name", "source", "layout", "crop_to_boxes")


@dataclass
class FormErrors:
    """The register form's refusals as (input, message): ``for_input`` is the one next to an input."""

    items: list[tuple[str | None, str]] = field(default_factory=list)

    def add(self, param: str | None, message: str) -> None:
        self.items.append((param if param in REGISTER_FIELDS else None, message))

    def for_input(self, name: str) -> str | None:
        return next((message for param, message in self.items if param == name), None)

    def __bool__(self) -> bool:
        return bool(self.items)


def upload_origin(settings: Settings) -> str | None:
    """The origin the browser PUTs parts to when they go straight to the object store (for the
    page's ``connect-src``), read off a presigned URL; None when parts go through the API."""
    store = get_artifact_store(settings)
    if not store.direct_part_uploads:
        return None
    url = store.part_upload_url("datasets/ds_0/upload.zip", "origin", 1, 60) or ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def _datasets_page(
    request: Request,
    session: Session,
    settings: Settings,
    tenant: Tenant,
    *,
    after: str | None = None,
    values: dict[str, str] | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    with shown_as_page():
        rows, has_more = uploaded_datasets.list_datasets(session, tenant.id, PageParams(LIST_PAGE_SIZE, after))
    context = {
        "tenant_name": tenant.name,
        "rows": [DatasetPublic.of(row) for row in rows],
        "older": f"/ui/datasets?after={rows[-1].id}" if has_more else None,
        "layouts": LAYOUTS,
        "values": values or {},
        "errors": errors or FormErrors(),
    }
    response = page(request, "datasets.html", context, status_code)
    origin = upload_origin(settings)
    if origin is not None:  # the browser sends parts straight to the object store
        response.headers["Content-Security-Policy"] = PAGE_CSP.replace(
            "connect-src 'self'", f"connect-src 'self' {origin}"
        )
    return response


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tenant: PageTenant,
    after: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    return _datasets_page(request, session, settings, tenant, after=after)


@router.post("/datasets/register", response_class=HTMLResponse)
def register(
    request: Request, session: SessionDep, settings: SettingsDep, tenant: PageTenant, fields: CheckedForm
) -> Response:
    """Register a dataset by reference; refused: the list again, the refusal next to its field."""
    values = {name: fields.get(name, "") for name in REGISTER_FIELDS}
    asked = Registration(
        name=values["name"],
        source=values["source"].strip(),
        layout=values["layout"] or None,
        crop_to_boxes=values["crop_to_boxes"] in ("on", "true"),
    )
    try:
        row = registration.register_dataset(session, settings, tenant, asked)
    except DomainError as exc:
        session.rollback()
        errors = FormErrors()
        errors.add(exc.param, exc.message)
        return _datasets_page(request, session, settings, tenant, values=values, errors=errors, status_code=422)
    logger.info("dashboard: tenant %s registered dataset %s", tenant.name, row.id)
    return RedirectResponse(f"/ui/datasets/{row.id}", 303)


def _dataset(session: Session, tenant: Tenant, dataset_id: str) -> Dataset:
    with shown_as_page():
        return uploaded_datasets.get_dataset(session, tenant.id, dataset_id)


def _dataset_context(session: Session, row: Dataset) -> dict[str, Any]:
    """What the dataset page and its live part show."""
    dataset = DatasetPublic.of(row)
    counts = dataset.class_counts or {}
    classes = [
        {"name": name, "train": counts.get("train", {}).get(name), "val": counts.get("val", {}).get(name)}
        for name in dataset.classes or []
    ]
    progress = dataset.progress
    return {
        "dataset": dataset,
        "classes": classes,
        "bad_files": dataset.bad_files[:SHOWN_BAD_FILES],
        "events": ingestion.dataset_events(session, row.tenant_id, row.id, limit=SHOWN_EVENTS),
        "terminal": dataset.status != DatasetStatus.INGESTING,
        "progress_max": progress.total if progress is not None and progress.total else None,
        "grid_url": f"/ui/datasets/{row.id}/samples.png" if dataset.status == DatasetStatus.READY else None,
    }


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(request: Request, dataset_id: DatasetId, session: SessionDep, tenant: PageTenant) -> Response:
    row = _dataset(session, tenant, dataset_id)
    return page(request, "dataset.html", {"tenant_name": tenant.name, **_dataset_context(session, row)})


@router.get("/datasets/{dataset_id}/live", response_class=HTMLResponse)
def dataset_live(request: Request, dataset_id: DatasetId, session: SessionDep, tenant: FetchTenant) -> Response:
    """The dataset page's changing part alone, for our JS to swap in until the ingestion ends."""
    row = _dataset(session, tenant, dataset_id)
    return page(request, "dataset_live.html", _dataset_context(session, row))


@router.get("/datasets/{dataset_id}/samples.png")
def sample_grid(dataset_id: DatasetId, session: SessionDep, settings: SettingsDep, tenant: FetchTenant) -> Response:
    """The sample grid the ingestion drew (404 naming why before it exists)."""
    row = _dataset(session, tenant, dataset_id)
    session.commit()
    with shown_as_page():
        return sample_grid_response(uploaded_datasets.open_sample_grid(settings, row))
