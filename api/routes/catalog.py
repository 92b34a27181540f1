"""The catalog: what a job may name (architectures, datasets, methods), the defaults and limits.

The zoo and the built-in datasets' shapes need torch, torchvision and timm (torchvision's weights
files, timm's architectures, CIFAR's files): they load with the first catalog asked for, not with the API.
"""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter

from api.deps import CurrentTenant, SessionDep, SettingsDep
from api.schemas.catalog import (
    ArchitecturePublic,
    BuiltinDatasetPublic,
    CatalogPublic,
    LimitsPublic,
    MethodPublic,
    SDDefaults,
)
from domain.datasets.builtin_datasets import builtin_datasets
from domain.jobs.speed_estimates import measured_speeds
from sdd_core import models as zoo
from sdd_core.spec import DEFAULT_BETA, DEFAULT_SCALES, METHODS, SD_METHODS, method_defaults
from service.settings import Settings

router = APIRouter(tags=["catalog"])


def _architectures() -> list[ArchitecturePublic]:
    """The zoo (CIFAR and tv/ models) and the timm/ models whose weights are in this server's
    Hugging Face cache, each with its weights' presence, read afresh (a file may be copied in)."""
    entries = []
    for name in [*zoo.list_models(), *zoo.timm_zoo.cached_names()]:
        reason = zoo.sd_support(name)
        weights = zoo.pretrained_weights_of(name)
        presence = None if weights is None else "present" if weights.file is not None else "absent"
        entries.append(
            ArchitecturePublic(
                name=name,
                sd_supported=reason is None,
                reason=reason,
                pretrained=presence,
                weights_file=None if weights is None else str(weights.file or weights.expected),
            )
        )
    return entries


@lru_cache(maxsize=1)
def _methods() -> tuple[MethodPublic, ...]:
    return tuple(
        MethodPublic(
            name=method,
            scale_decoupled=method in SD_METHODS,
            needs_teacher=method != "ce",
            hyperparameters=method_defaults(method),
        )
        for method in METHODS
    )


def _builtin_datasets(settings: Settings) -> list[BuiltinDatasetPublic]:
    """Built-ins with their class count when known without downloading anything, and whether a job
    may name each here (``domain.datasets.builtin_datasets``)."""
    return [
        BuiltinDatasetPublic(
            name=ds.name,
            num_classes=ds.num_classes,
            available=ds.available,
            availability=ds.availability,
            note=ds.note,
        )
        for ds in builtin_datasets(settings)
    ]


def _sd_defaults() -> SDDefaults:
    return SDDefaults(scales=list(DEFAULT_SCALES), beta=DEFAULT_BETA)


@router.get("/catalog", response_model=CatalogPublic, summary="What a job may name, defaults and limits")
def get_catalog(settings: SettingsDep, session: SessionDep, tenant: CurrentTenant) -> CatalogPublic:
    measured = measured_speeds(session, tenant.id)  # not cached: every finished epoch adds to it
    return CatalogPublic(
        architectures=_architectures(),
        timm_architectures=zoo.timm_zoo.architecture_count(),
        datasets=_builtin_datasets(settings),
        methods=list(_methods()),
        defaults=_sd_defaults(),
        limits=LimitsPublic(
            max_epochs=settings.max_epochs,
            max_batch_size=settings.max_batch_size,
            max_image_size=settings.max_image_size,
            max_scale=settings.max_scale,
            max_upload_bytes=settings.max_upload_bytes,
            max_jobs_in_flight=settings.max_jobs_in_flight,
            max_sweep_size=settings.max_sweep_size,
            rate_limit_per_minute=settings.rate_limit_per_minute,
            rate_limit_burst=settings.rate_limit_burst,
        ),
        measured_speeds=measured.speeds,
        measured_throughput=measured.throughput,
    )
