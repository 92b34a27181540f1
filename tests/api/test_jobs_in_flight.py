"""Jobs in flight per tenant: queued + running + cancelling past ``max_jobs_in_flight`` is a 429."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from service.db.models import Job
from service.migrate import upgrade
from service.settings import Settings
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings

LIMIT = 2


def limited_settings(backend: str, sdd_env, request: pytest.FixtureRequest, template: Path, limit: int) -> Settings:
    if backend == "postgres":
        settings = sdd_env(database_url=request.getfixturevalue("postgres_url"), max_jobs_in_flight=limit)
        upgrade(str(settings.database_url))
        return settings
    return sqlite_settings(sdd_env, template, max_jobs_in_flight=limit)


@pytest.fixture(params=["sqlite", "postgres"])
def limited(sdd_env, request: pytest.FixtureRequest, sqlite_template: Path) -> Iterator[Api]:
    yield from make_api(limited_settings(request.param, sdd_env, request, sqlite_template, LIMIT))


def set_status(api: Api, job_id: str, status: str) -> None:
    with api.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(status=status))
        session.commit()


def test_unfinished_jobs_count_finished_ones_do_not(limited: Api) -> None:
    assert limited.get("/v1/catalog").json()["limits"]["max_jobs_in_flight"] == LIMIT
    first = limited.create_job()
    limited.create_job()
    refused = limited.post_job()
    error = assert_error(refused, 429, "too_many_jobs", None)
    assert f"allows {LIMIT}" in error["message"] and "cancel" in error["message"]
    assert "Retry-After" not in refused.headers  # waiting a fixed time would not help
    limited.create_job(token=limited.other_token)  # other tenants have limits of their own

    for status in ("running", "cancelling"):  # still in flight
        set_status(limited, first["id"], status)
        assert_error(limited.post_job(), 429, "too_many_jobs")
    for status in ("succeeded", "failed", "cancelled"):  # finished: the place is free again
        set_status(limited, first["id"], status)
        job = limited.create_job()
        set_status(limited, job["id"], status)


def test_cancel_frees_a_place_and_replays_are_not_refused(limited: Api) -> None:
    key = {"Idempotency-Key": "k1"}
    first = limited.post_job(headers=key, seed=1).json()
    limited.create_job(seed=2)
    assert_error(limited.post_job(seed=3), 429, "too_many_jobs")
    replay = limited.post_job(headers=key, seed=1)  # the same request again is not a new job
    assert replay.status_code == 201 and replay.json()["id"] == first["id"]
    assert limited.post(f"/v1/jobs/{first['id']}/cancel").status_code == 202
    assert limited.post_job(seed=3).status_code == 201


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_simultaneous_submissions_never_pass_the_limit(
    sdd_env, request: pytest.FixtureRequest, sqlite_template, backend: str
) -> None:
    """30 clients at once against a limit of 20, on each backend: exactly 20 are accepted."""
    for api in make_api(limited_settings(backend, sdd_env, request, sqlite_template, 20)):
        with ThreadPoolExecutor(30) as pool:
            responses = list(pool.map(lambda seed, api=api: api.post_job(seed=seed), range(30)))
        statuses = [r.status_code for r in responses]
        assert sorted(set(statuses)) == [201, 429], [r.text for r in responses if r.status_code not in (201, 429)]
        with api.session() as session:
            stored = session.scalar(select(func.count()).select_from(Job))
        assert statuses.count(201) == 20 and stored == 20


def test_zero_means_no_limit(sdd_env, request: pytest.FixtureRequest, sqlite_template) -> None:
    for api in make_api(limited_settings("sqlite", sdd_env, request, sqlite_template, 0)):
        for _ in range(25):
            api.create_job()
