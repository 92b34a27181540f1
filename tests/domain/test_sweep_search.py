"""A sweep that searches: the space and its draws (``domain.sweeps.sweep_search``), its members
(``sweep_request.expand``), and its rungs decided in SQL (``domain.sweeps.search_rungs``) on the
embedded database, with members moved through their statuses as workers move them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from domain.errors import InvalidRequest, LimitExceeded
from domain.jobs import submission, transitions
from domain.jobs.cancellation import request_cancel
from domain.recovery.lost_jobs import reap_expired
from domain.status import JobStatus
from domain.sweeps import search_rungs, sweep_reads
from domain.sweeps.search_rungs import decide, settle_rungs
from domain.sweeps.sweep_request import SweepRequest, expand, member_count
from domain.sweeps.sweep_search import SweepSearch, kept_count, rung_epochs, sample_trials
from domain.sweeps.sweep_submission import submit_sweep
from service.db.models import Job, JobMetric, SweepRung, Tenant, utcnow
from service.db.session import session_scope
from service.migrate import upgrade
from service.settings import Settings
from tests.fixtures.job_rows import job_events, job_row

SPACE = {
    "beta": {"low": 0.5, "high": 8, "log": True},
    "temperature": {"low": 1, "high": 8},
    "scales": [[1, 2], [1, 2, 4]],
}


def search(**fields: Any) -> SweepSearch:
    return SweepSearch.model_validate({"trials": 6, "space": SPACE} | fields)


def request(search_fields: dict[str, Any] | None = None, **base: Any) -> SweepRequest:
    job = {
        "dataset": "digits",
        "student": "resnet8",
        "method": "sd-kd",
        "teacher": {"job": "job_teacher"},
        "hyperparameters": {"epochs": 9},
    }
    body = {"trials": 6, "space": SPACE} | (search_fields or {})
    return SweepRequest.model_validate({"base": job | base, "search": body, "name": "search"})


# ---------------------------------------------------------------- the space and its draws


def test_the_same_request_draws_the_same_distinct_trials_within_the_space() -> None:
    first, again = sample_trials(search()), sample_trials(search())
    assert first == again and len(first) == 6
    assert len({repr(trial) for trial in first}) == 6
    for trial in first:
        assert list(trial) == ["scales", "beta", "temperature"]  # SEARCH_FIELDS order
        assert 0.5 <= trial["beta"] <= 8 and 1 <= trial["temperature"] <= 8
        assert trial["scales"] in ([1, 2], [1, 2, 4])
        assert trial["beta"] == float(f"{trial['beta']:.4g}")  # shown and stored with 4 significant digits
    assert sample_trials(search(seed=1)) != first
    assert sample_trials(search(sampler="random")) != first


def test_a_space_of_lists_holds_as_many_trials_as_it_has_configurations() -> None:
    space = {"student": ["resnet8", "resnet20"], "scales": [[1, 2], [1, 2, 4]]}
    trials = sample_trials(SweepSearch.model_validate({"trials": 4, "space": space}))
    assert sorted(repr(t) for t in trials) == sorted(
        repr({"student": s, "scales": c}) for s in space["student"] for c in space["scales"]
    )
    with pytest.raises(ValidationError, match="holds 4 different configurations, fewer than the 5 trials"):
        SweepSearch.model_validate({"trials": 5, "space": space})


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"beta": {"low": 2, "high": 1}}, "low .2.0. must be below high"),
        ({"beta": {"low": 0, "high": 1, "log": True}}, "a log range needs low > 0"),
        ({"temperature": {"low": 0, "high": 4}}, "temperature must be above 0"),
        ({"scales": [[1, 2], [1, 2]]}, "lists a value twice"),
        ({}, "name at least one field to search"),
        ({"lr": [0.1]}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_space_is_refused_saying_what_is_wrong(space: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SweepSearch.model_validate({"trials": 3, "space": space})


def test_rungs_are_the_epochs_min_times_eta_to_the_k_before_the_last() -> None:
    pruning = search().pruning
    assert pruning is not None and (pruning.min_epochs, pruning.reduction_factor) == (1, 3)
    assert rung_epochs(9, pruning) == [1, 3]
    assert rung_epochs(10, pruning) == [1, 3, 9]
    assert rung_epochs(1, pruning) == []
    assert rung_epochs(9, search(pruning={"min_epochs": 2, "reduction_factor": 2}).pruning) == [2, 4, 8]
    assert rung_epochs(9, search(pruning=None).pruning) == []
    assert [kept_count(n, 3) for n in (1, 2, 3, 8, 9)] == [1, 1, 1, 2, 3]


def test_a_rung_keeps_exactly_n_over_eta_ties_broken_by_val_loss_and_never_a_missing_value() -> None:
    values = {"a": 40.0, "b": 55.5, "c": 31.0, "d": 55.5, "e": None, "f": 47.0, "g": 12.0, "h": 47.0, "i": 50.0}
    decision = decide(0, 1, values, reduction_factor=3)  # 9 contenders: the best 3 go on
    assert decision.kept == ["b", "d", "i"]
    assert decision.pruned == ["a", "c", "e", "f", "g", "h"]
    # Every top-1 equal (an early epoch on a small split): the lower val loss goes on, then trial order.
    tied = decide(
        1, 3, {"a": 50.0, "b": 50.0, "c": 50.0, "d": 50.0}, 3, losses={"a": 0.9, "b": 0.5, "c": None, "d": 0.5}
    )
    assert tied.kept == ["b"] and tied.pruned == ["a", "c", "d"]
    assert decide(1, 3, {"a": 50.0, "b": 50.0}, 2).kept == ["a"]
    assert decide(0, 1, {"a": None, "b": float("nan")}, 2).kept == []
    assert decision.reason("a") == (
        "pruned at rung 1 (epoch 1): val top-1 40.00% was not among the best 3 of 9 (the lowest kept 50.00%)"
    )


# ---------------------------------------------------------------- members


def test_a_search_expands_to_one_member_per_trial_with_the_drawn_values() -> None:
    sweep = request()
    members = expand(sweep, max_members=64)
    assert member_count(sweep) == len(members) == 6
    trials = sample_trials(sweep.search)  # type: ignore[arg-type]
    for member, trial in zip(members, trials, strict=True):
        assert member.values == trial
        assert member.request.beta == trial["beta"] and member.request.scales == trial["scales"]
        assert member.request.hyperparameters.temperature == trial["temperature"]
        assert member.request.method == "sd-kd" and member.request.hyperparameters.epochs == 9
    stored = sweep.stored_request(members)
    assert stored["trials"] == trials and stored["search"]["trials"] == 6 and "grid" not in stored


def test_a_search_needs_a_grid_or_a_search_not_both_and_sd_fields_need_an_sd_method() -> None:
    with pytest.raises(ValidationError, match="give either `grid`"):
        SweepRequest.model_validate({"base": {"dataset": "digits", "student": "resnet8", "method": "ce"}})
    with pytest.raises(ValidationError, match="give either `grid`"):
        SweepRequest.model_validate(
            {"base": {"dataset": "digits", "student": "resnet8", "method": "ce"}, "grid": {"seed": [0, 1]},
             "search": {"trials": 2, "space": {"temperature": {"low": 1, "high": 4}}}}
        )  # fmt: skip
    with pytest.raises(InvalidRequest, match="search.space.scales: scales only shapes the scale-decoupled") as refused:
        expand(request(method="kd"), max_members=64)
    assert refused.value.location == ("search", "space", "scales")


def test_a_member_that_cannot_train_names_its_place_in_the_space() -> None:
    sweep = request({"space": {"student": ["resnet8", "no_such_net"]}, "trials": 2})
    with pytest.raises(InvalidRequest) as refused:
        expand(sweep, max_members=64)
    assert refused.value.location == ("search", "space", "student")


# ---------------------------------------------------------------- rungs in SQL


@pytest.fixture
def settings(sdd_env) -> Settings:
    configured = sdd_env(max_jobs_in_flight=20, max_group_size=9)
    upgrade(str(configured.database_url))
    return configured


def tenant_with_a_teacher(session: Any) -> Tenant:
    """A tenant ``acme`` whose succeeded job ``job_teacher`` the searches distil from."""
    tenant = Tenant(name="acme")
    session.add(tenant)
    session.flush()
    session.add(Job(id="job_teacher", tenant_id=tenant.id, status="succeeded", epochs=1,
                    spec={"dataset": "digits", "student": "resnet8", "method": "ce"}))  # fmt: skip
    session.flush()
    return tenant


@pytest.fixture
def trials(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A search of 9 trials over 9 epochs (rungs at epochs 1 and 3, η 3) submitted; its member ids in trial order."""
    monkeypatch.setattr(submission, "enqueue_job", lambda job_id, devices=1: None)
    with session_scope(settings) as session:
        tenant = tenant_with_a_teacher(session)
        done = submit_sweep(session, settings, tenant, request({"trials": 9}), None)
        view = sweep_reads.view_of(done.sweep, done.members)
        assert [job.spec["beta"] for job in view.members] == [t["beta"] for t in done.sweep.request["trials"]]
        return [job.id for job in view.members]


def sweep_id(settings: Settings, job_id: str) -> str:
    return str(job_row(settings, job_id).sweep_id)


def start(settings: Settings, job_id: str) -> None:
    with session_scope(settings) as session:
        assert transitions.claim(session, job_id, f"w/{job_id}", 60)


def report(settings: Settings, job_id: str, epoch: int, top1: float) -> list[search_rungs.RungDecision]:
    """The job's epoch recorded as its worker records it, then the rungs settled as the worker settles them."""
    with session_scope(settings) as session:
        assert transitions.record_epoch(session, job_id, {"epoch": epoch, "val_top1": top1}, worker=f"w/{job_id}")
        return settle_rungs(session, sweep_id(settings, job_id))


def test_a_rung_waits_for_every_trial_then_prunes_queued_ones_at_once_and_asks_running_ones_to_stop(
    settings: Settings, trials: list[str]
) -> None:
    running, queued = trials[:6], trials[6:]  # six trained in lockstep; three wait for a worker
    for job_id in running:
        start(settings, job_id)
    for rank, job_id in enumerate(running):  # top-1: 10, 20, ..., 60
        assert report(settings, job_id, 1, 10.0 * (rank + 1)) == []  # the queued three have not reported
    with session_scope(settings) as session:
        request_cancel(session, session.get(Job, queued[2]))  # a cancelled trial is left out
    start(settings, queued[0])
    assert report(settings, queued[0], 1, 65.0) == []  # queued[1] still on its way
    start(settings, queued[1])
    (decision,) = report(settings, queued[1], 1, 5.0)
    # 8 contenders (the cancelled one left out): the best 8 // 3 = 2 go on.
    assert (decision.rung, decision.epoch, len(decision.values)) == (0, 1, 8)
    assert decision.kept == [running[5], queued[0]]
    assert set(decision.pruned) == set(running[:5]) | {queued[1]}
    for job_id in decision.pruned:  # all running: asked to stop, still running until their worker stops
        row = job_row(settings, job_id)
        assert row.status == JobStatus.RUNNING and row.prune_reason is not None
        assert row.prune_reason.startswith("pruned at rung 1 (epoch 1): val top-1")
        assert [e.type for e in job_events(settings, job_id)][-1] == "pruning"
    assert [e.type for e in job_events(settings, running[5])][-1] == "rung"
    with session_scope(settings) as session:
        assert transitions.job_state(session, running[0])[3] == job_row(settings, running[0]).prune_reason  # type: ignore[index]
        # The worker stops it and records the outcome.
        assert transitions.finish(session, running[0], JobStatus.PRUNED, worker=f"w/{running[0]}")
        # Shut down before it read the request: handed back, it ends pruned rather than queued.
        assert transitions.release(session, running[1], f"w/{running[1]}", reason="shutdown", message="m") == "pruned"
        # Its worker died: the reaper ends it pruned rather than re-queue it.
        session.execute(Job.__table__.update().where(Job.id == running[2]).values(lease_expires_at=None))
        session.commit()
        reaped = reap_expired(session, now=utcnow())
        assert reaped.pruned == [running[2]] and reaped.requeued == []
    for job_id in running[:3]:
        assert job_row(settings, job_id).status == JobStatus.PRUNED
    with session_scope(settings) as session:  # settling again decides nothing new and changes nothing
        assert settle_rungs(session, sweep_id(settings, trials[0])) == []
        assert len(list(session.scalars(select(SweepRung)))) == 1


def test_a_decision_is_taken_once_and_a_trial_queued_again_after_it_ends_pruned(
    settings: Settings, trials: list[str]
) -> None:
    for rank, job_id in enumerate(trials):
        start(settings, job_id)
        report(settings, job_id, 1, float(rank))
    with session_scope(settings) as session:
        (first,) = search_rungs.decisions(session, sweep_id(settings, trials[0]))
    assert first.kept == trials[6:]
    victim = first.pruned[0]
    # A crash between the decision and the stop: the job went back to the queue with its request pending
    # (as a release does not do, but a hand-edited database could): settling prunes it at once.
    with session_scope(settings) as session:
        session.execute(Job.__table__.update().where(Job.id == victim).values(status="queued", prune_reason=None,
                                                                              worker=None))  # fmt: skip
        session.commit()
        settle_rungs(session, sweep_id(settings, victim))
    assert job_row(settings, victim).status == JobStatus.PRUNED
    # Rung 2 (epoch 3) among the three kept: one goes on.
    for rank, job_id in enumerate(trials[6:]):
        for epoch in (2, 3):
            decided = report(settings, job_id, epoch, 50.0 + rank)
    assert [d.kept for d in decided] == [[trials[8]]]
    with session_scope(settings) as session:
        rows = list(session.scalars(select(JobMetric.job_id).where(JobMetric.epoch == 3)))
    assert sorted(rows) == sorted(trials[6:])


def test_a_search_must_fit_one_lockstep_group_on_one_device(settings: Settings, monkeypatch) -> None:
    monkeypatch.setattr(submission, "enqueue_job", lambda job_id, devices=1: None)
    with session_scope(settings) as session:
        tenant = tenant_with_a_teacher(session)
        with pytest.raises(LimitExceeded, match=r"at most 9 students in one group \(SDD_MAX_GROUP_SIZE\)") as big:
            submit_sweep(session, settings, tenant, request({"trials": 10}), None)
        assert big.value.location == ("search", "trials")
        with pytest.raises(InvalidRequest, match="base.devices: a search's trials train together on one device"):
            submit_sweep(session, settings, tenant, request({"trials": 2}, devices=2), None)
        assert session.scalar(select(func.count()).select_from(Job)) == 1  # nothing stored
