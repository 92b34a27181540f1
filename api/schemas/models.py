"""Uploaded model schemas: teacher weights checked against their architecture at upload."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from api.schemas.common import Page, UtcDatetime


class ModelPublic(BaseModel):
    """An uploaded model; name it as a job's teacher with ``{"model": id}``."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "mdl_0a1b2c3d4e5f607182930a1b",
                    "name": "resnet32x4-cifar100",
                    "arch": "resnet32x4",
                    "num_classes": 100,
                    "size_bytes": 29812345,
                    "sha256": "4be1…",
                    "created_at": "2025-01-01T12:00:00Z",
                }
            ]
        },
    )

    id: str
    name: str | None
    arch: str
    num_classes: int
    size_bytes: int
    sha256: str
    created_at: UtcDatetime


class ModelsPublic(Page):
    data: list[ModelPublic]
