"""Training speeds measured on this service's own epochs (``domain.jobs.speed_estimates``), on the
embedded database: medians over the newest epochs of each kind, what is left out, what another
tenant may see, and the estimate built from them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert

from domain.jobs.speed_estimates import (
    EPOCHS_PER_MEDIAN,
    POOLED_FROM_TENANTS,
    SCANNED_EPOCHS,
    DatasetSize,
    Estimate,
    MeasuredSpeed,
    MeasuredThroughput,
    SpeedMeasurements,
    dataset_sizes,
    measured_speeds,
)
from sdd_core.data import list_datasets
from service.db.models import Dataset, Job, JobMetric, Tenant
from service.db.session import session_scope
from service.settings import Settings


def _tenant(settings: Settings, name: str) -> str:
    with session_scope(settings) as session:
        tenant = Tenant(name=name)
        session.add(tenant)
        session.flush()
        return tenant.id


@pytest.fixture
def other_tenant_id(embedded: Settings) -> str:
    return _tenant(embedded, "bob")


def add_job(
    settings: Settings,
    tenant_id: str,
    epochs: list[tuple[Any, Any]],
    *,
    group_key: str | None = None,
    **spec: Any,
) -> str:
    """A job with one metric row per (seconds, images/s) in ``epochs``, oldest first."""
    with session_scope(settings) as session:
        job = Job(
            tenant_id=tenant_id,
            status="succeeded",
            spec={"dataset": "digits", "image_size": 32, "student": "resnet8", "method": "ce"} | spec,
            epochs=len(epochs),
            group_key=group_key,
        )
        session.add(job)
        session.flush()
        for epoch, (seconds, images_per_s) in enumerate(epochs, start=1):
            data = {"epoch": epoch, "val_top1": 50.0}
            data |= {} if seconds is ... else {"seconds": seconds}
            data |= {} if images_per_s is ... else {"images_per_s": images_per_s}
            session.add(JobMetric(job_id=job.id, epoch=epoch, data=data))
            session.flush()  # one row after the other: ids in the order of the list
        return job.id


def add_dataset(settings: Settings, tenant_id: str, name: str, train_count: int, image_size: int = 48) -> str:
    with session_scope(settings) as session:
        row = Dataset(
            tenant_id=tenant_id,
            name=name,
            classes=["a", "b"],
            num_classes=2,
            image_size=image_size,
            train_count=train_count,
            val_count=2,
            class_counts={},
            storage_key="datasets/x",
            size_bytes=1,
            sha256="0" * 64,
        )
        session.add(row)
        session.flush()
        return row.id


def measured(settings: Settings, tenant_id: str) -> SpeedMeasurements:
    with session_scope(settings) as session:
        return measured_speeds(session, tenant_id)


def speeds_by_kind(measurements: SpeedMeasurements) -> dict[tuple[str, int, str, bool], MeasuredSpeed]:
    return {(s.dataset, s.image_size, s.student, s.distilled): s for s in measurements.speeds}


def test_medians_of_each_kind_and_of_each_student(embedded: Settings, tenant_id: str) -> None:
    add_job(embedded, tenant_id, [(1.0, 300.0), (2.0, 100.0), (10.0, 200.0)])
    add_job(embedded, tenant_id, [(4.0, 80.0), (6.0, 120.0)], method="kd", teacher={"job": "job_t"})
    add_job(embedded, tenant_id, [(0.5, 900.0)], image_size=16)
    add_job(embedded, tenant_id, [(7.0, 60.0)], student="resnet20")

    result = measured(embedded, tenant_id)
    assert speeds_by_kind(result) == {
        ("digits", 32, "resnet8", False): MeasuredSpeed("digits", 32, "resnet8", False, 2.0, 200.0, 3, 1),
        ("digits", 32, "resnet8", True): MeasuredSpeed("digits", 32, "resnet8", True, 5.0, 100.0, 2, 1),
        ("digits", 16, "resnet8", False): MeasuredSpeed("digits", 16, "resnet8", False, 0.5, 900.0, 1, 1),
        ("digits", 32, "resnet20", False): MeasuredSpeed("digits", 32, "resnet20", False, 7.0, 60.0, 1, 1),
    }
    assert sorted(result.throughput, key=lambda t: (t.student, t.image_size, t.distilled)) == [
        MeasuredThroughput("resnet20", 32, False, 60.0, 1, 1),
        MeasuredThroughput("resnet8", 16, False, 900.0, 1, 1),
        MeasuredThroughput("resnet8", 32, False, 200.0, 3, 1),
        MeasuredThroughput("resnet8", 32, True, 100.0, 2, 1),
    ]


def test_a_measurement_says_how_many_jobs_its_epochs_come_from(embedded: Settings, tenant_id: str) -> None:
    add_job(embedded, tenant_id, [(2.0, 100.0)] * 3)
    add_job(embedded, tenant_id, [(4.0, 50.0)] * 2)
    add_job(embedded, tenant_id, [(1.0, 10.0)], student="resnet20")
    result = measured(embedded, tenant_id)
    assert [(s.student, s.epochs_measured, s.jobs_measured) for s in result.speeds] == [
        ("resnet20", 1, 1),
        ("resnet8", 5, 2),
    ]
    assert [(t.student, t.epochs_measured, t.jobs_measured) for t in result.throughput] == [
        ("resnet20", 1, 1),
        ("resnet8", 5, 2),
    ]


def test_a_median_is_taken_over_the_newest_epochs_only(embedded: Settings, tenant_id: str) -> None:
    old, new = EPOCHS_PER_MEDIAN + 10, EPOCHS_PER_MEDIAN  # more old epochs than new: all of them would give 100 s
    add_job(embedded, tenant_id, [(100.0, 10.0)] * old + [(3.0, 50.0)] * new)
    (speed,) = measured(embedded, tenant_id).speeds
    assert (speed.seconds_per_epoch, speed.images_per_s, speed.epochs_measured) == (3.0, 50.0, EPOCHS_PER_MEDIAN)
    (rate,) = measured(embedded, tenant_id).throughput
    assert (rate.images_per_s, rate.epochs_measured) == (50.0, EPOCHS_PER_MEDIAN)


def test_the_newest_epochs_of_the_service_are_read_and_no_older(embedded: Settings, tenant_id: str) -> None:
    add_job(embedded, tenant_id, [(9.0, 9.0)], student="resnet20")  # the oldest epoch, outside the window
    newer = add_job(embedded, tenant_id, [])
    with session_scope(embedded) as session:
        rows = [
            {"job_id": newer, "epoch": epoch, "data": {"seconds": 1.0, "images_per_s": 100.0}}
            for epoch in range(1, SCANNED_EPOCHS + 1)
        ]
        session.execute(insert(JobMetric), rows)
    result = measured(embedded, tenant_id)
    assert [(s.student, s.epochs_measured) for s in result.speeds] == [("resnet8", EPOCHS_PER_MEDIAN)]
    assert [t.student for t in result.throughput] == ["resnet8"]


def test_sweep_members_epochs_are_left_out(embedded: Settings, tenant_id: str) -> None:
    add_job(embedded, tenant_id, [(1000.0, 1.0)], group_key="g1")
    assert measured(embedded, tenant_id) == SpeedMeasurements([], [])
    add_job(embedded, tenant_id, [(2.0, 20.0)])
    result = measured(embedded, tenant_id)
    assert [(s.seconds_per_epoch, s.epochs_measured) for s in result.speeds] == [(2.0, 1)]
    assert [(t.images_per_s, t.epochs_measured) for t in result.throughput] == [(20.0, 1)]


@pytest.mark.parametrize(
    "epoch", [(0.0, 10.0), (-1.0, 10.0), (1.0, 0.0), (1.0, -5.0), (..., 10.0), (1.0, ...), (..., ...)]
)
def test_an_epoch_without_a_usable_measurement_counts_for_nothing(
    embedded: Settings, tenant_id: str, epoch: tuple[Any, Any]
) -> None:
    add_job(embedded, tenant_id, [epoch])
    assert measured(embedded, tenant_id) == SpeedMeasurements([], [])


def test_a_job_whose_spec_lacks_a_kind_field_counts_for_nothing(embedded: Settings, tenant_id: str) -> None:
    add_job(embedded, tenant_id, [(1.0, 10.0)], image_size=None)
    add_job(embedded, tenant_id, [(1.0, 10.0)], student="")
    assert measured(embedded, tenant_id) == SpeedMeasurements([], [])


def test_another_tenants_uploaded_dataset_is_never_named(
    embedded: Settings, tenant_id: str, other_tenant_id: str
) -> None:
    birds = add_dataset(embedded, other_tenant_id, "bobs-birds", train_count=400)
    bobs_job = add_job(embedded, other_tenant_id, [(0.5, 8.0)], dataset=birds)
    bobs_digits = add_job(embedded, other_tenant_id, [(2.0, 700.0)], image_size=64)

    bobs = measured(embedded, other_tenant_id)
    assert [(s.dataset, s.seconds_per_epoch) for s in bobs.speeds] == [("digits", 2.0), (birds, 0.5)]

    alices = measured(embedded, tenant_id)
    assert alices.speeds == [] and alices.throughput == []  # one other tenant's training is its business
    assert birds not in repr(alices)
    for secret in (bobs_job, bobs_digits, other_tenant_id, tenant_id, "bob"):
        assert secret not in repr(alices) and secret not in repr(bobs)


def test_what_enough_tenants_trained_is_pooled_for_everyone(embedded: Settings, tenant_id: str) -> None:
    """A kind trained by POOLED_FROM_TENANTS tenants is shown to all, over all of theirs; an uploaded
    dataset's own epochs stay its owner's, its speed counts for the student."""
    others = [_tenant(embedded, f"t{i}") for i in range(POOLED_FROM_TENANTS - 1)]
    add_job(embedded, others[0], [(2.0, 700.0)], image_size=64)
    birds = add_dataset(embedded, others[0], "birds", train_count=400)
    add_job(embedded, others[0], [(0.5, 8.0)], dataset=birds)
    assert measured(embedded, tenant_id).throughput == []
    add_job(embedded, others[1], [(4.0, 300.0)], image_size=64)
    assert measured(embedded, tenant_id).speeds == []  # two tenants: not yet
    add_job(embedded, tenant_id, [(3.0, 500.0)], image_size=64)  # the third, alice herself
    alices = measured(embedded, tenant_id)
    assert [(s.dataset, s.image_size, s.seconds_per_epoch, s.epochs_measured) for s in alices.speeds] == [
        ("digits", 64, 3.0, 3)
    ]
    assert [(t.image_size, t.images_per_s) for t in alices.throughput] == [(64, 500.0)]
    assert birds not in repr(alices)  # the 32 px student rate is one tenant's (birds' owner): not shown


def test_an_estimate_from_the_datasets_own_epochs_else_from_the_students_rate() -> None:
    measurements = SpeedMeasurements(
        speeds=[MeasuredSpeed("digits", 32, "resnet8", False, 2.0, 700.0, 3, 2)],
        throughput=[
            MeasuredThroughput("resnet8", 32, False, 500.0, 7, 3),
            MeasuredThroughput("resnet8", 32, True, 250.0, 4, 2),
        ],
    )

    def estimate(**kind: Any) -> Estimate | None:
        run = {"dataset": "digits", "student": "resnet8", "distilled": False, "epochs": 240, "image_size": 32}
        return measurements.estimate(**(run | {"train_size": 1437} | kind))

    assert estimate() == Estimate(480.0, 3, "dataset", 2)  # 240 epochs x 2 s, whatever the training images
    assert estimate(dataset="ds_birds", train_size=1000) == Estimate(240 * 1000 / 500.0, 7, "student", 3)
    assert estimate(distilled=True) == Estimate(240 * 1437 / 250.0, 4, "student", 2)
    assert estimate(dataset="ds_birds", train_size=None) is None  # no dataset epochs, no image count
    assert estimate(dataset="ds_birds", train_size=0) is None
    assert estimate(image_size=64) is None
    assert estimate(student="resnet20") is None


def test_an_estimate_for_a_dataset_measured_only_by_another_tenant_uses_the_student_rate(
    embedded: Settings, tenant_id: str, other_tenant_id: str
) -> None:
    bobs = add_dataset(embedded, other_tenant_id, "bobs-birds", train_count=400, image_size=32)
    add_job(embedded, other_tenant_id, [(0.5, 800.0)], dataset=bobs)
    alices = add_dataset(embedded, tenant_id, "alices-birds", train_count=1600, image_size=32)
    with session_scope(embedded) as session:
        size = dataset_sizes(session, embedded, tenant_id)[alices]
        measurements = measured_speeds(session, tenant_id)
    estimate = measurements.estimate(
        dataset=alices, student="resnet8", distilled=False, epochs=10, image_size=32, train_size=size.train_size
    )
    assert estimate is None  # bob's rate alone is bob's business
    for name in ("carol", "dave"):  # two more tenants train resnet8 at 32 px
        add_job(embedded, _tenant(embedded, name), [(0.5, 800.0)])
    with session_scope(embedded) as session:
        measurements = measured_speeds(session, tenant_id)
    estimate = measurements.estimate(
        dataset=alices, student="resnet8", distilled=False, epochs=10, image_size=32, train_size=size.train_size
    )
    assert estimate == Estimate(10 * 1600 / 800.0, 3, "student", 3)  # an epoch of each of 3 jobs


def test_dataset_sizes_list_the_builtins_present_here_and_the_tenants_uploads(
    embedded: Settings, tenant_id: str, other_tenant_id: str
) -> None:
    mine = add_dataset(embedded, tenant_id, "birds", train_count=120, image_size=48)
    theirs = add_dataset(embedded, other_tenant_id, "bobs-birds", train_count=400)
    with session_scope(embedded) as session:
        sizes = dataset_sizes(session, embedded, tenant_id)
    assert sizes["digits"] == DatasetSize("digits", 1437, 32)
    assert "cifar10" in list_datasets() and "cifar10" not in sizes  # not downloaded under this SDD_HOME
    assert sizes[mine] == DatasetSize("birds", 120, 48)
    assert theirs not in sizes
    assert set(sizes) == {"digits", mine}
