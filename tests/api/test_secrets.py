"""No secret reaches a log line or an answer: API tokens, database and broker passwords."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from service.migrate import upgrade
from tests.api.conftest import Api, assert_error, make_api
from tests.fixtures.servers import free_port

DB_PASSWORD = "pg-S3cret-pw"  # the test server trusts local connections, so any password works
BROKER_PASSWORD = "redis-S3cret-pw"


@pytest.fixture
def api_with_passwords(sdd_env, postgres_url: str, caplog: pytest.LogCaptureFixture) -> Iterator[Api]:
    """The API on PostgreSQL with a password in its URL, and a password-protected broker that is down."""
    caplog.set_level(logging.DEBUG)  # every logger, SQLAlchemy's statements and parameters included
    database_url = postgres_url.replace("://postgres@", f"://postgres:{DB_PASSWORD}@")
    assert DB_PASSWORD in database_url
    settings = sdd_env(
        database_url=database_url,
        broker_url=f"redis://:{BROKER_PASSWORD}@127.0.0.1:{free_port()}/0",
        rate_limit_per_minute=60,
        rate_limit_burst=30,
    )
    upgrade(str(settings.database_url))
    yield from make_api(settings)


def test_a_full_request_cycle_logs_no_secret(api_with_passwords: Api, caplog: pytest.LogCaptureFixture) -> None:
    api = api_with_passwords
    answers: list[httpx.Response] = []
    job = api.post_job()  # stored; the broker is down, which is logged
    answers.append(job)
    assert job.status_code == 201, job.text
    answers += [
        api.get(f"/v1/jobs/{job.json()['id']}"),
        api.get("/v1/jobs", token=api.other_token),
        api.post_job(method="nope"),  # 422
        api.get("/v1/jobs/job_nope"),  # 404
    ]
    wrong = api.token[:-4] + "AAAA"  # a near miss of a real token
    for headers in (
        {"Authorization": f"Bearer {wrong}"},
        {"Authorization": f"Basic {api.token}"},
        {"Authorization": "Bearer"},
        {},
    ):
        answers.append(api.client.get("/v1/jobs", headers=headers))
        assert_error(answers[-1], 401, "unauthorized")
    ready = api.client.get("/readyz")
    assert_error(ready, 503, "not_ready", "broker")
    answers.append(ready)

    app = api.client.app

    @app.get("/v1/boom-for-secrets")
    def boom() -> None:
        raise RuntimeError("failed while handling the request")

    with TestClient(app, raise_server_exceptions=False) as client:
        answers.append(client.get("/v1/boom-for-secrets", headers=api.auth()))
    assert_error(answers[-1], 500, "internal_error")

    # The cycle was logged, the database URL with its password masked.
    assert "not enqueued" in caplog.text and "not ready" in caplog.text
    assert "sdd-jobs API up" in caplog.text and "postgres:***@" in caplog.text
    for secret in (api.token, api.other_token, wrong, DB_PASSWORD, BROKER_PASSWORD):
        assert secret not in caplog.text, secret
        for answer in answers:
            assert secret not in answer.text, (secret, answer.request.url)
            assert secret not in str(answer.headers), (secret, answer.request.url)


def test_an_unreachable_database_is_reported_without_its_password(
    sdd_env, sqlite_template, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = sdd_env(database_url=f"postgresql+psycopg://sdd:{DB_PASSWORD}@127.0.0.1:{free_port()}/sdd")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        assert_error(ready, 503, "not_ready", "database")
        unauthorized = client.get("/v1/jobs", headers={"Authorization": "Bearer sdd_whatever"})
        # no database, no authentication: a 503 the client may retry, the cause logged, not explained
        error = assert_error(unauthorized, 503, "database_unavailable", None)
        assert unauthorized.headers["Retry-After"] == "5"
        assert "127.0.0.1" not in error["message"] and "psycopg" not in unauthorized.text
    assert "not ready: database unreachable" in caplog.text
    for text in (caplog.text, ready.text, unauthorized.text):
        assert DB_PASSWORD not in text
