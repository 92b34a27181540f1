"""A job as a tenant asks for it: ``JobRequest``, the shape every submission is checked against.

It is ``sdd_core.spec.DistillationSettings`` (the fields every job states) plus the service's
forms of the references: ``dataset`` is a built-in name or an uploaded dataset's id, ``teacher``
names a succeeded job or an uploaded model instead of a file path. Pydantic checks the shape
and the field-local rules here; the rules that need the database or the models are in
``domain.validation``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sdd_core.data import IMAGE_FOLDER_PREFIX, list_datasets
from sdd_core.spec import DistillationSettings

DATASET_ID_PREFIX = "ds_"
METADATA_MAX_BYTES = 16 * 1024


def _is_none(value: object) -> bool:
    return value is None


class TeacherRef(BaseModel):
    """Where the teacher's weights come from: exactly one of ``job`` or ``model``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"job": "job_3f9c0a1b2c3d4e5f60718293"}, {"model": "mdl_0a1b2c3d4e5f607182930a1b"}]
        },
    )

    # Serialised as written: {"job": id} or {"model": id}, without the other key.
    job: str | None = Field(
        None,
        description="A succeeded job of yours; its distilled student is the teacher.",
        exclude_if=_is_none,
    )
    model: str | None = Field(None, description="A model you uploaded with POST /v1/models.", exclude_if=_is_none)

    @model_validator(mode="after")
    def _exactly_one(self) -> TeacherRef:
        if (self.job is None) == (self.model is None):
            raise ValueError("name exactly one of 'job' (a succeeded job of yours) or 'model' (an uploaded model)")
        return self


class JobRequest(DistillationSettings):
    """A distillation job to run. Hyper-parameters left out take the method's default."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(
        description=f"A built-in dataset ({', '.join(list_datasets())}) or an uploaded dataset's id (ds_…).",
        examples=["digits"],
    )
    teacher: TeacherRef | None = Field(
        None, validate_default=True, description="Required by every method but 'ce' (which must leave it null)."
    )
    metadata: dict[str, Any] | None = Field(
        None,
        description="Free-form JSON object stored with the job (at most 16 KiB).",
        examples=[{"run": "a1"}],
    )

    @field_validator("dataset")
    @classmethod
    def _service_dataset(cls, value: str) -> str:
        if value.startswith(IMAGE_FOLDER_PREFIX):
            raise ValueError(
                "server paths are not accepted over HTTP; upload the folder as an archive with "
                "POST /v1/datasets and pass the returned id"
            )
        if value in list_datasets() or (value.startswith(DATASET_ID_PREFIX) and len(value) > len(DATASET_ID_PREFIX)):
            return value
        raise ValueError(
            f"unknown dataset {value!r}; allowed: {', '.join(list_datasets())}, "
            f"or the id ({DATASET_ID_PREFIX}…) of a dataset uploaded with POST /v1/datasets"
        )

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, separators=(",", ":")).encode()) > METADATA_MAX_BYTES:
            raise ValueError(f"must be at most {METADATA_MAX_BYTES // 1024} KiB of JSON")
        return value
