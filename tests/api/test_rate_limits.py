"""Rate limits: per token, per client address without a known token, shared through Redis."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.rate_limit import LocalLimiter
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings
from tests.fixtures.servers import free_port

BURST = 3


@pytest.fixture
def limited(sdd_env, sqlite_template) -> Iterator[Api]:
    settings = sqlite_settings(sdd_env, sqlite_template, rate_limit_per_minute=60, rate_limit_burst=BURST)
    yield from make_api(settings)


def assert_rate_limited(response) -> int:
    error = assert_error(response, 429, "rate_limited", None)
    assert "per minute" in error["message"]
    retry_after = int(response.headers["Retry-After"])  # whole seconds
    assert 1 <= retry_after <= 60
    return retry_after


def test_each_token_has_its_own_bucket(limited: Api) -> None:
    # A token's first request in a process counts against the client address; once it has
    # authenticated, its requests count against the token.
    assert limited.get("/v1/jobs").status_code == 200  # address: 1 of 3
    for _ in range(BURST):
        assert limited.get("/v1/jobs").status_code == 200  # alice: 3 of 3
    assert_rate_limited(limited.get("/v1/jobs"))
    assert_rate_limited(limited.post_job())  # every route, before any work is done
    assert limited.get("/v1/jobs", token=limited.other_token).status_code == 200  # address: 2 of 3
    assert limited.get("/v1/jobs", token=limited.other_token).status_code == 200  # bob: 1 of 3
    # Probes are never limited.
    for _ in range(10):
        assert limited.client.get("/healthz").status_code == 200
        assert limited.client.get("/readyz").status_code == 200


def test_unauthenticated_requests_are_limited_per_address(limited: Api) -> None:
    # Made-up tokens, different each time, all count against the one client address.
    for i in range(BURST):
        assert_error(limited.client.get("/v1/jobs", headers={"Authorization": f"Bearer sdd_fake{i}"}), 401)
    assert_rate_limited(limited.client.get("/v1/jobs", headers={"Authorization": "Bearer sdd_fake-new"}))
    assert_rate_limited(limited.client.get("/v1/jobs"))
    assert_rate_limited(limited.client.get("/openapi.json"))


def test_the_bucket_refills_at_the_configured_rate() -> None:
    limiter = LocalLimiter(per_minute=60, burst=2)  # one request per second, bursts of two
    assert limiter.wait("k", now=100.0) == 0 and limiter.wait("k", now=100.0) == 0
    assert limiter.wait("k", now=100.0) == pytest.approx(1.0)
    assert limiter.wait("k", now=100.5) == pytest.approx(0.5)  # refused requests cost nothing
    assert limiter.wait("k", now=101.0) == 0
    assert limiter.wait("k", now=101.0) == pytest.approx(1.0)
    assert limiter.wait("other", now=101.0) == 0
    assert limiter.wait("k", now=200.0) == 0 and limiter.wait("k", now=200.0) == 0  # refilled to the burst


def test_zero_turns_rate_limiting_off(sdd_env, sqlite_template) -> None:
    for api in make_api(sqlite_settings(sdd_env, sqlite_template, rate_limit_per_minute=0, rate_limit_burst=1)):
        for _ in range(20):
            assert api.client.get("/v1/jobs").status_code == 401


def test_api_processes_share_buckets_through_redis(sdd_env, sqlite_template, redis_url: str) -> None:
    settings = sqlite_settings(
        sdd_env, sqlite_template, broker_url=redis_url, rate_limit_per_minute=60, rate_limit_burst=BURST
    )
    for first in make_api(settings):
        with TestClient(create_app(settings)) as second:  # another API process, same Redis
            assert first.get("/v1/jobs").status_code == 200  # address: 1 of 3 (first process)
            assert second.get("/v1/jobs", headers=first.auth()).status_code == 200  # address: 2 of 3
            assert first.get("/v1/jobs").status_code == 200  # alice: 1 of 3
            assert second.get("/v1/jobs", headers=first.auth()).status_code == 200  # alice: 2 of 3
            assert first.get("/v1/jobs").status_code == 200  # alice: 3 of 3
            assert_rate_limited(second.get("/v1/jobs", headers=first.auth()))
            assert_rate_limited(first.get("/v1/jobs"))
            assert second.get("/v1/jobs", headers={"Authorization": "Bearer sdd_x"}).status_code == 401
            assert_rate_limited(first.client.get("/v1/jobs"))  # address: 3 of 3 used across both


def test_redis_down_falls_back_to_this_process(sdd_env, sqlite_template, caplog) -> None:
    settings = sqlite_settings(
        sdd_env,
        sqlite_template,
        broker_url=f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0",
        rate_limit_per_minute=60,
        rate_limit_burst=BURST,
    )
    caplog.set_level(logging.WARNING, logger="api.rate_limit")
    for api in make_api(settings):
        for _ in range(BURST):
            assert_error(api.client.get("/v1/jobs"), 401)
        assert_rate_limited(api.client.get("/v1/jobs"))
    assert "counting in this process" in caplog.text
    assert "hunter2-secret" not in caplog.text
