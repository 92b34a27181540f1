"""Submitting, reading and cancelling sweeps in SQL (``domain.sweeps.sweep_submission``, ``domain.sweeps.sweep_reads``,
``domain.jobs.cancellation.cancel_sweep``), on the embedded database; the broker is replaced by a list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update

from domain.errors import Conflict, InvalidRequest, LimitExceeded, NotFound, TooManyJobs
from domain.jobs import submission
from domain.jobs.cancellation import cancel_sweep
from domain.jobs.job_reads import list_jobs
from domain.jobs.transitions import claim
from domain.ownership import PageParams
from domain.status import JobStatus
from domain.sweeps import sweep_reads
from domain.sweeps.sweep_request import SweepRequest
from domain.sweeps.sweep_submission import group_key, submit_sweep
from sdd_core.lockstep import LOCKSTEP_FIELDS
from sdd_core.methods import STEP_ONLY_HYPERPARAMETERS
from sdd_core.spec import Hyperparameters
from service.db.models import Job, JobEvent, Sweep, Tenant
from service.db.session import session_scope
from service.migrate import upgrade
from service.settings import Settings
from tests.fixtures.job_rows import job_events, job_row

Submit = Callable[..., Any]


@pytest.fixture
def settings(sdd_env) -> Settings:
    configured = sdd_env(max_jobs_in_flight=20, max_sweep_size=12)
    upgrade(str(configured.database_url))
    return configured


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The job ids handed to the broker, in order."""
    ids: list[str] = []
    monkeypatch.setattr(submission, "enqueue_job", lambda job_id, devices=1: ids.append(job_id))
    return ids


@pytest.fixture
def tenant(settings: Settings) -> Tenant:
    with session_scope(settings) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        teacher = Job(
            id="job_teacher",
            tenant_id=tenant.id,
            status="succeeded",
            spec={"dataset": "digits", "student": "resnet8", "method": "ce"},
            epochs=1,
        )
        session.add(teacher)
        session.flush()
        session.expunge_all()
        return tenant


def body(grid: dict[str, Any], **base: Any) -> SweepRequest:
    job = {
        "dataset": "digits",
        "student": "resnet8",
        "method": "kd",
        "teacher": {"job": "job_teacher"},
        "hyperparameters": {"epochs": 2},
    }
    return SweepRequest.model_validate({"base": job | base, "grid": grid, "name": "study"})


@pytest.fixture
def submit(settings: Settings, tenant: Tenant, sent: list[str]) -> Submit:
    def run(request: SweepRequest, key: str | None = None) -> Any:
        with session_scope(settings) as session:
            done = submit_sweep(session, settings, tenant, request, key)
            session.expunge_all()
            return done

    return run


def count(settings: Settings, table: Any) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_members_are_normal_jobs_stored_in_one_go_then_enqueued(settings: Settings, submit: Submit, sent) -> None:
    done = submit(body({"method": ["kd", "sd-kd"], "beta": [0, 2], "seed": [0, 1]}))
    assert not done.replayed and done.sweep.id.startswith("swp_") and done.sweep.name == "study"
    assert done.sweep.request["grid"] == {"method": ["kd", "sd-kd"], "beta": [0.0, 2.0], "seed": [0, 1]}
    assert len(done.members) == 2 + 2 * 2
    assert sent == [job.id for job in done.members]  # each member enqueued, after the commit
    for job in done.members:
        stored = job_row(settings, job.id)
        assert (stored.sweep_id, stored.status, stored.epochs) == (done.sweep.id, "queued", 2)
        assert stored.spec["hyperparameters"]["lr"] == 0.05  # validated: defaults filled in
        assert [e.type for e in job_events(settings, job.id)] == ["queued"]
    betas = sorted(job.spec["beta"] for job in done.members if job.spec["method"] == "sd-kd")
    assert betas == [0.0, 0.0, 2.0, 2.0]


def test_one_member_that_cannot_train_stores_nothing(settings: Settings, submit: Submit, sent) -> None:
    # resnet8 on 32 px digits ends in an 8x8 map: scale 16 is within the service's limit but cannot fit.
    with pytest.raises(InvalidRequest) as caught:
        submit(body({"method": ["kd", "sd-kd"], "scales": [[1, 2], [1, 16]], "seed": [0, 1]}))
    assert caught.value.location == ("grid", "scales") and "8x8 final feature map" in caught.value.message
    assert caught.value.message.startswith("member 5 of 6 (method sd-kd, scales [1, 16], seed 0): ")
    assert (count(settings, Sweep), count(settings, Job), count(settings, JobEvent), sent) == (0, 1, 0, [])


def test_a_base_reference_that_does_not_exist_names_the_base_field(settings: Settings, submit: Submit) -> None:
    with pytest.raises(NotFound) as caught:
        submit(body({"seed": [0, 1]}, teacher={"job": "job_nope"}))
    assert caught.value.location == ("base", "teacher", "job") and "job_nope" in caught.value.message
    with pytest.raises(LimitExceeded) as limit:
        submit(body({"seed": [0, 1]}, hyperparameters={"epochs": 100_000}))
    assert limit.value.location == ("base", "hyperparameters", "epochs")
    assert count(settings, Sweep) == 0


def test_the_size_limit(settings: Settings, submit: Submit) -> None:
    assert len(submit(body({"seed": list(range(12))})).members) == 12
    with pytest.raises(LimitExceeded) as caught:
        submit(body({"seed": list(range(13))}))
    assert "13 member jobs" in caught.value.message and "limit of 12" in caught.value.message
    assert caught.value.location == ("grid",)


def test_the_in_flight_limit_counts_every_member(settings: Settings, submit: Submit, tenant: Tenant) -> None:
    first = submit(body({"seed": list(range(10))}))  # 10 of 20, plus the teacher (succeeded: not in flight)
    submit(body({"seed": list(range(10, 19))}))  # 19
    with pytest.raises(TooManyJobs) as caught:
        submit(body({"seed": [20, 21]}))  # 19 + 2 > 20
    assert "you have 19 jobs" in caught.value.message and "adds 2" in caught.value.message
    assert count(settings, Sweep) == 2
    with session_scope(settings) as session:
        session.execute(update(Job).where(Job.id == first.members[0].id).values(status="succeeded"))
    assert len(submit(body({"seed": [20, 21]})).members) == 2  # 18 + 2 = 20
    with session_scope(settings) as session, pytest.raises(TooManyJobs) as never:
        submission.check_jobs_in_flight(session, settings, tenant, adding=21)  # more than the limit itself
    assert "more than the 20 jobs" in never.value.message and "split it" in never.value.message


def test_idempotency_replays_the_sweep_and_refuses_another_body(settings: Settings, submit: Submit, sent) -> None:
    first = submit(body({"seed": [0, 1]}), key="k")
    again = submit(body({"seed": [0, 1]}), key="k")
    assert again.replayed and again.sweep.id == first.sweep.id
    assert sorted(job.id for job in again.members) == sorted(job.id for job in first.members)
    assert len(sent) == 2  # the replay enqueues nothing
    with pytest.raises(Conflict) as caught:
        submit(body({"seed": [0, 2]}), key="k")
    assert caught.value.code == "idempotency_conflict" and caught.value.location == ("Idempotency-Key",)
    assert count(settings, Sweep) == 1 and count(settings, Job) == 3


def test_lockstep_groups_share_batches_not_steps(submit: Submit) -> None:
    done = submit(body({"method": ["kd", "sd-kd"], "beta": [1, 2], "temperature": [2, 4], "seed": [0, 1]}))
    by_seed: dict[int, set[str]] = {}
    for job in done.members:
        by_seed.setdefault(job.spec["seed"], set()).add(job.group_key)
    assert all(len(keys) == 1 for keys in by_seed.values())  # method, beta, T: one group per seed
    assert len({key for keys in by_seed.values() for key in keys}) == 2
    assert all(len(job.group_key) == 16 for job in done.members)


def test_the_lockstep_fields_follow_the_rule() -> None:
    assert LOCKSTEP_FIELDS[:4] == ("dataset", "teacher", "seed", "image_size")
    hyper = {field.removeprefix("hyperparameters.") for field in LOCKSTEP_FIELDS[4:]}
    assert {"batch_size", "epochs"} <= hyper
    assert not hyper & {"lr", "temperature", "lr_decay_epochs", "lr_decay_rate", "kd_weight"}
    assert {"device", "precision", "compile"} <= hyper  # one group shares one machine
    # every hyper-parameter is either a lockstep field or a step-only one: a new one defaults to lockstep,
    # so augmentation settings are lockstep fields without being listed
    assert {name for name in Hyperparameters.model_fields if "flip" in name or "crop" in name} <= hyper
    assert hyper | STEP_ONLY_HYPERPARAMETERS | {"lr_decay_epochs", "lr_decay_rate"} >= set(Hyperparameters.model_fields)
    spec = {"dataset": "digits", "teacher": {"job": "j"}, "seed": 0, "image_size": 32}
    spec["hyperparameters"] = {"batch_size": 64, "epochs": 2, "lr": 0.1}
    same = group_key(spec)
    assert (
        group_key({**spec, "method": "sd-kd", "beta": 4.0, "hyperparameters": {**spec["hyperparameters"], "lr": 1}})
        == same
    )
    for change in ({"seed": 1}, {"image_size": 16}, {"teacher": {"job": "k"}}, {"dataset": "cifar10"}):
        assert group_key({**spec, **change}) != same, change
    assert group_key({**spec, "hyperparameters": {**spec["hyperparameters"], "batch_size": 32}}) != same


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["queued", "queued"], "queued"),
        (["queued", "running"], "running"),
        (["queued", "succeeded"], "running"),
        (["queued", "failed"], "running"),
        (["cancelling", "cancelled"], "cancelling"),
        (["cancelling", "running"], "running"),
        (["succeeded", "succeeded"], "succeeded"),
        (["succeeded", "failed", "cancelled"], "failed"),
        (["succeeded", "cancelled"], "cancelled"),
        (["cancelled", "cancelled"], "cancelled"),
    ],
)
def test_status_derived_from_the_members(statuses: list[str], expected: str) -> None:
    assert sweep_reads.sweep_status(statuses) == expected


def test_reads_progress_and_cancel(settings: Settings, submit: Submit, tenant: Tenant) -> None:
    done = submit(body({"method": ["kd", "sd-kd"], "seed": [0, 1]}))
    running = done.members[1].id
    with session_scope(settings) as session:
        assert claim(session, running, "w", 60)
        session.execute(update(Job).where(Job.id == running).values(epoch=1))
    with session_scope(settings) as session:
        view = sweep_reads.get_sweep(session, tenant.id, done.sweep.id)
        assert [job.id for job in view.members] == [job.id for job in done.members]  # the grid's order
        assert view.status == JobStatus.RUNNING
        assert (view.progress.epoch, view.progress.epochs, view.progress.fraction) == (1, 8, 0.125)
        assert view.progress.members["queued"] == 3 and view.progress.members["running"] == 1
        jobs, _ = list_jobs(session, tenant.id, PageParams(limit=100), sweep_id=done.sweep.id)
        assert {job.id for job in jobs} == {job.id for job in done.members}
        views, more = sweep_reads.list_sweeps(session, tenant.id, PageParams(limit=10))
        assert [v.sweep.id for v in views] == [done.sweep.id] and not more
        with pytest.raises(NotFound):
            sweep_reads.get_sweep(session, "tnt_other", done.sweep.id)

    with session_scope(settings) as session:
        cancel_sweep(session, tenant.id, done.sweep.id)
    with session_scope(settings) as session:
        view = sweep_reads.get_sweep(session, tenant.id, done.sweep.id)
        assert sorted(job.status for job in view.members) == ["cancelled"] * 3 + ["cancelling"]
        assert view.status == JobStatus.CANCELLING
        cancel_sweep(session, tenant.id, done.sweep.id)  # a cancelling member: still not finished, no error
        session.execute(update(Job).where(Job.id == running).values(status="cancelled"))
        session.commit()
        with pytest.raises(Conflict) as caught:
            cancel_sweep(session, tenant.id, done.sweep.id)
        assert caught.value.code == "sweep_finished"
        assert sweep_reads.get_sweep(session, tenant.id, done.sweep.id).status == JobStatus.CANCELLED
