"""What the service offers: architectures, datasets, methods with their defaults, and limits."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from domain.jobs.speed_estimates import MeasuredSpeed, MeasuredThroughput


class ArchitecturePublic(BaseModel):
    name: str
    sd_supported: bool = Field(description="Whether the SD methods can use it (pooling + one linear head).")
    reason: str | None = Field(description="Why SD cannot use it, when it cannot.")
    pretrained: Literal["present", "absent"] | None = Field(
        None,
        description="Its pretrained weights: 'present' in this server's cache, 'absent' (they exist, the file is "
        "not here: see weights_file), or null (the architecture has none).",
    )
    weights_file: str | None = Field(None, description="Where the pretrained weights file lies, or must lie.")


class BuiltinDatasetPublic(BaseModel):
    name: str
    num_classes: int | None = Field(description="Null when not known without the data on this server.")
    available: bool = Field(
        True, description="Whether a job may name it on this server: its files are here, or it may download them."
    )
    availability: Literal["present", "downloadable", "missing"] = Field(
        "present",
        description="present: its files are under this server's data folder (SDD_DATA_ROOT); downloadable: they "
        "are not, and the first job naming it downloads them (SDD_ALLOW_DOWNLOAD is on); missing: neither, so a "
        "job naming it is refused until an operator extracts them or allows downloading (see note).",
    )
    note: str | None = Field(
        None,
        description="For a dataset not present: what a job naming it meets, the folder looked in and the "
        "settings an operator changes.",
    )


class MethodPublic(BaseModel):
    name: str
    scale_decoupled: bool
    needs_teacher: bool
    hyperparameters: dict[str, Any] = Field(
        description="Defaults (the lr and DKD beta/NKD gamma may also depend on the student/teacher pair)."
    )


class SDDefaults(BaseModel):
    scales: list[int]
    beta: float


class LimitsPublic(BaseModel):
    max_epochs: int
    max_batch_size: int
    max_image_size: int
    max_scale: int
    max_upload_bytes: int
    max_jobs_in_flight: int = Field(description="Your jobs queued, running or cancelling at once; 0: no limit.")
    max_sweep_size: int = Field(description="Member jobs one sweep may make.")
    rate_limit_per_minute: int = Field(description="Requests per minute per API token; 0: no limit.")
    rate_limit_burst: int = Field(description="Requests allowed at once before the per-minute rate applies.")


class CatalogPublic(BaseModel):
    architectures: list[ArchitecturePublic] = Field(
        description="The zoo and tv/ models, and the timm/ models whose weights this server has cached."
    )
    timm_architectures: int = Field(
        description="How many timm/<name> architectures a job may name (any of timm.list_models()), listed or not."
    )
    datasets: list[BuiltinDatasetPublic]
    methods: list[MethodPublic]
    defaults: SDDefaults
    limits: LimitsPublic
    measured_speeds: list[MeasuredSpeed] = Field(description="This service's recent training speeds, by kind.")
    measured_throughput: list[MeasuredThroughput] = Field(description="Images/s by student and image size.")
