"""Dataset schemas: what an uploaded image-folder dataset looks like over HTTP."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Page, UtcDatetime


class DatasetPublic(BaseModel):
    """An uploaded dataset; pass its ``id`` as a job's ``dataset``."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "ds_5b1e0c9d8a7f6e5d4c3b2a19",
                    "name": "flowers",
                    "classes": ["daisy", "rose"],
                    "num_classes": 2,
                    "image_size": 32,
                    "train_count": 800,
                    "val_count": 200,
                    "class_counts": {
                        "train": {"daisy": 400, "rose": 400},
                        "val": {"daisy": 100, "rose": 100},
                    },
                    "size_bytes": 1843200,
                    "sha256": "9f2c…",
                    "created_at": "2025-01-01T12:00:00Z",
                }
            ]
        },
    )

    id: str
    name: str
    classes: list[str] = Field(description="Class names, sorted; a label is an index into this list.")
    num_classes: int
    image_size: int = Field(description="Side in pixels of the square images the models see by default.")
    train_count: int
    val_count: int
    class_counts: dict[str, dict[str, int]] = Field(description="Images per class: {'train': {...}, 'val': {...}}.")
    size_bytes: int = Field(description="Size of the uploaded archive.")
    sha256: str = Field(description="SHA-256 of the uploaded archive.")
    created_at: UtcDatetime


class DatasetsPublic(Page):
    data: list[DatasetPublic]
