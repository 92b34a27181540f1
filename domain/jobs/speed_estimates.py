"""How fast this service trains: median epoch seconds and images/s measured on its own finished epochs.

Every finished epoch stores its training seconds and images/s (``job_metrics.data``, written from
``sdd_core.trainer.training_state.epoch_metrics``: the training pass; evaluation and start-up are
not counted). ``measured_speeds`` reads the newest ``SCANNED_EPOCHS`` epochs of the whole service
and gives

* per (dataset, image size, student, distilled: method other than ``ce``), the median over its
  newest ``EPOCHS_PER_MEDIAN`` epochs of the seconds per epoch and of the images/s, and how many
  epochs and jobs they are;
* per (student, image size, distilled), the median images/s over every dataset, the fallback where
  the dataset itself has no measurement: epochs × training images ÷ images/s.

Kept simple on purpose: batch size, precision, compile and the worker's device are not told apart,
so an estimate is what a typical run of that kind took here. Epochs of sweep members
(``group_key`` set) are left out: a worker may train them in lockstep, where an epoch's seconds are
the whole group's, not one job's.

A tenant sees its own measurements, and measurements of a kind that at least
``POOLED_FROM_TENANTS`` tenants trained (then over all of theirs): what one other tenant trained,
at which image size and for how many epochs, is that tenant's business. Nothing of a tenant
leaves this module either way: no job id, no tenant, and a measurement on an uploaded dataset (its
``ds_…`` id is its owner's business) is listed for that dataset's tenant only; other tenants get
it in the student fallback, under the same rule.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, TypeVar

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

import sdd_core.data  # what a name holds (torch) loads with the first size asked for
from domain.datasets import uploaded_datasets
from domain.jobs.references import is_uploaded_dataset
from domain.ownership import PageParams
from sdd_core.data import list_datasets
from sdd_core.errors import SDDError
from service.db.models import Job, JobMetric
from service.settings import Settings

SCANNED_EPOCHS = 5000  # the newest epoch rows read per call (the primary key's index, newest first)
EPOCHS_PER_MEDIAN = 50  # the newest epochs of one kind that its median is taken over
DATASETS_MAX = 500  # uploaded datasets of a tenant whose sizes are looked up
POOLED_FROM_TENANTS = 3  # a kind others trained is shown when this many tenants trained it


@dataclass(frozen=True)
class MeasuredSpeed:
    """One kind of job: its median seconds per epoch and images/s over its newest epochs here."""

    dataset: Annotated[str, Field(description="A built-in dataset, or one of your uploaded datasets (ds_…).")]
    image_size: Annotated[int, Field(description="The size the models saw.")]
    student: str
    distilled: Annotated[bool, Field(description="Whether the jobs distilled from a teacher (every method but 'ce').")]
    seconds_per_epoch: Annotated[
        float, Field(description="Median training seconds of one epoch (evaluation not counted).")
    ]
    images_per_s: Annotated[float, Field(description="Median training images per second.")]
    epochs_measured: Annotated[
        int, Field(description=f"The epochs the medians are taken over (the newest, at most {EPOCHS_PER_MEDIAN}).")
    ]
    jobs_measured: Annotated[int, Field(description="How many jobs those epochs come from.")]


@dataclass(frozen=True)
class MeasuredThroughput:
    """A student's median training images/s at one image size, over every dataset: for an estimate
    where the dataset has no measurement (epochs × training images ÷ images/s)."""

    student: str
    image_size: int
    distilled: bool
    images_per_s: float
    epochs_measured: int
    jobs_measured: int


@dataclass(frozen=True)
class DatasetSize:
    """What an estimate needs to know of a dataset: training images and the image size it trains at."""

    name: str
    train_size: int
    image_size: int


@dataclass(frozen=True)
class Estimate:
    """Training seconds for a run; ``basis`` is ``dataset`` (its own epochs) or ``student`` (the
    fallback); measured over ``epochs_measured`` epochs of ``jobs_measured`` jobs."""

    seconds: float
    epochs_measured: int
    basis: str
    jobs_measured: int


@dataclass(frozen=True)
class SpeedMeasurements:
    speeds: list[MeasuredSpeed]
    throughput: list[MeasuredThroughput]

    def estimate(
        self, *, dataset: str, student: str, distilled: bool, epochs: int, image_size: int, train_size: int | None
    ) -> Estimate | None:
        """The training time of ``epochs`` epochs, from this dataset's epochs, else from the
        student's images/s when the dataset's training images are known; None without either."""
        kind = (student, image_size, distilled)
        speed = next(
            (s for s in self.speeds if (s.dataset, s.student, s.image_size, s.distilled) == (dataset, *kind)), None
        )
        if speed is not None:
            return Estimate(epochs * speed.seconds_per_epoch, speed.epochs_measured, "dataset", speed.jobs_measured)
        rate = next((r for r in self.throughput if (r.student, r.image_size, r.distilled) == kind), None)
        if rate is not None and train_size:
            return Estimate(
                epochs * train_size / rate.images_per_s, rate.epochs_measured, "student", rate.jobs_measured
            )
        return None


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def measured_speeds(session: Session, tenant_id: str) -> SpeedMeasurements:
    """The medians of the newest epochs measured on this service (see the module docstring)."""
    query = (
        select(
            Job.tenant_id,
            JobMetric.job_id,
            Job.spec["dataset"].as_string(),
            Job.spec["image_size"].as_integer(),
            Job.spec["student"].as_string(),
            Job.spec["method"].as_string(),
            JobMetric.data["seconds"].as_float(),
            JobMetric.data["images_per_s"].as_float(),
        )
        .join(Job, Job.id == JobMetric.job_id)
        .where(Job.group_key.is_(None))
        .order_by(JobMetric.id.desc())
        .limit(SCANNED_EPOCHS)
    )
    by_dataset: dict[tuple[str, int, str, bool], list[tuple[str, tuple[float, float, str]]]] = {}
    by_student: dict[tuple[str, int, bool], list[tuple[str, tuple[float, str]]]] = {}
    for owner, job_id, dataset, image_size, student, method, seconds, images_per_s in session.execute(query):
        if not (dataset and student and method and image_size) or not (_positive(seconds) and _positive(images_per_s)):
            continue
        distilled = method != "ce"
        by_student.setdefault((student, image_size, distilled), []).append((owner, (images_per_s, job_id)))
        if is_uploaded_dataset(dataset) and owner != tenant_id:
            continue  # another tenant's dataset: its epochs count for the student only
        by_dataset.setdefault((dataset, image_size, student, distilled), []).append(
            (owner, (seconds, images_per_s, job_id))
        )
    by_dataset_shown = {kind: seen for kind, epochs in by_dataset.items() if (seen := _visible(epochs, tenant_id))}
    by_student_shown = {kind: rates for kind, owned in by_student.items() if (rates := _visible(owned, tenant_id))}
    speeds = [
        MeasuredSpeed(
            dataset=dataset,
            image_size=image_size,
            student=student,
            distilled=distilled,
            seconds_per_epoch=statistics.median(s for s, _, _ in epochs),
            images_per_s=statistics.median(r for _, r, _ in epochs),
            epochs_measured=len(epochs),
            jobs_measured=len({job for _, _, job in epochs}),
        )
        for (dataset, image_size, student, distilled), epochs in sorted(by_dataset_shown.items())
    ]
    throughput = [
        MeasuredThroughput(
            student,
            image_size,
            distilled,
            statistics.median(r for r, _ in rates),
            len(rates),
            len({j for _, j in rates}),
        )
        for (student, image_size, distilled), rates in sorted(by_student_shown.items())
    ]
    return SpeedMeasurements(speeds, throughput)


T = TypeVar("T")


def _visible(measured: list[tuple[str, T]], tenant_id: str) -> list[T]:
    """The newest ``EPOCHS_PER_MEDIAN`` of one kind's (owner, value) pairs, newest first, that
    ``tenant_id`` may see: all of them once ``POOLED_FROM_TENANTS`` tenants trained the kind, else
    its own only."""
    pooled = len({owner for owner, _ in measured}) >= POOLED_FROM_TENANTS
    return [value for owner, value in measured if pooled or owner == tenant_id][:EPOCHS_PER_MEDIAN]


@lru_cache(maxsize=16)
def _builtin_size(name: str, data_root: str) -> DatasetSize:
    """A built-in dataset's size (cached once known: a built-in never changes; a failure is not cached)."""
    shape = sdd_core.data.dataset_shape(name, data_root=data_root, download=False)
    return DatasetSize(name=name, train_size=shape.train_size, image_size=shape.image_size)


def dataset_sizes(session: Session, settings: Settings, tenant_id: str) -> dict[str, DatasetSize]:
    """The built-in datasets present on this server and the tenant's uploaded ones, by the name a job gives."""
    sizes: dict[str, DatasetSize] = {}
    for name in list_datasets():
        try:
            sizes[name] = _builtin_size(name, str(settings.data_root))
        except SDDError:
            continue  # not on this server (e.g. CIFAR not downloaded): no size, no estimate from it
    uploaded, _ = uploaded_datasets.list_datasets(session, tenant_id, PageParams(limit=DATASETS_MAX))
    for row in uploaded:
        if row.train_count is not None and row.image_size is not None:  # ready: its sizes are known
            sizes[row.id] = DatasetSize(name=row.name, train_size=row.train_count, image_size=row.image_size)
    return sizes
