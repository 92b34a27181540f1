"""Waiting out an unreachable database: which errors are waited for, for how long; the reaper's hold-off."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from service.settings import Settings
from worker import reaper as reaper_module
from worker.database_outage import is_outage, through_outage
from worker.reaper import Reaper


def _down() -> OperationalError:
    return OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))


def test_an_outage_is_waited_out_and_the_write_lands(sdd_env) -> None:
    settings: Settings = sdd_env(database_outage_seconds=60)
    calls: list[int] = []
    pauses: list[float] = []

    def write() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise _down()
        return "recorded"

    assert through_outage(settings, "test", write, sleep=pauses.append) == "recorded"
    assert len(calls) == 4 and pauses == [0.5, 1.0, 2.0]  # growing pauses


def test_errors_that_are_not_an_outage_raise_at_once(sdd_env) -> None:
    settings: Settings = sdd_env()
    error = IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert not is_outage(error) and is_outage(_down())
    with pytest.raises(IntegrityError):
        through_outage(settings, "test", lambda: (_ for _ in ()).throw(error), sleep=lambda _: None)


def test_an_outage_longer_than_the_setting_raises(sdd_env) -> None:
    settings: Settings = sdd_env(database_outage_seconds=1)
    with pytest.raises(OperationalError):
        through_outage(settings, "test", lambda: (_ for _ in ()).throw(_down()))


def test_the_reaper_holds_off_for_a_lease_after_an_outage(sdd_env, monkeypatch) -> None:
    settings: Settings = sdd_env(job_lease_seconds=60)
    passes: list[bool] = []
    outage = [True]

    def fake_pass(_settings, send=None, *, reap=True):
        if outage[0]:
            raise _down()
        passes.append(reap)
        return reaper_module.ReaperPass([], [], [], [])

    monkeypatch.setattr(reaper_module, "reap_and_reconcile", fake_pass)
    clock = [1000.0]
    reaper = Reaper(settings)
    assert reaper.run_pass(lambda: clock[0]) is None  # the database is away
    outage[0] = False
    reaper.run_pass(lambda: clock[0])  # back: messages re-sent, leases not reaped yet
    clock[0] += 59
    reaper.run_pass(lambda: clock[0])
    clock[0] += 2  # a lease after the database came back: heartbeats had time to renew
    reaper.run_pass(lambda: clock[0])
    assert passes == [False, False, True]
