"""The catalog's measured speeds: median epoch seconds and images/s of this service's recent jobs
(``domain.jobs.speed_estimates``), never cached: they change with every epoch a worker finishes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MeasuredSpeedPublic(BaseModel):
    """One kind of job: its median seconds per epoch and images/s over its newest epochs here."""

    model_config = ConfigDict(from_attributes=True)

    dataset: str = Field(description="A built-in dataset, or one of your uploaded datasets (ds_…).")
    image_size: int = Field(description="The size the models saw.")
    student: str
    distilled: bool = Field(description="Whether the jobs distilled from a teacher (every method but 'ce').")
    seconds_per_epoch: float = Field(description="Median training seconds of one epoch (evaluation not counted).")
    images_per_s: float = Field(description="Median training images per second.")
    epochs_measured: int = Field(description="The epochs the medians are taken over (the newest, at most 50).")


class MeasuredThroughputPublic(BaseModel):
    """A student's median training images/s at one image size, over every dataset: for an estimate
    where the dataset has no measurement (epochs × training images ÷ images/s)."""

    model_config = ConfigDict(from_attributes=True)

    student: str
    image_size: int
    distilled: bool
    images_per_s: float
    epochs_measured: int
