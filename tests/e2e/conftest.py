"""The service as real processes, started once per backend for the whole ``tests/e2e`` folder.

``service`` (package scope, parametrised): ``embedded`` (SQLite + file broker under ``SDD_HOME``)
and ``postgres_redis`` (a fresh database on the session's PostgreSQL, a Redis database of its
own). Each runs ``sdd migrate``, ``sdd api`` and ``sdd worker --pool solo``, with tokens for
``t1`` and ``t2``; see ``tests.e2e.service_processes``.

Leases are short (``RECOVERY_ENV``: 8 s, renewed every 2.7 s; the reaper every second), so a test that kills the
worker sees its jobs resumed by the next one within seconds.

Package scope rather than module scope: every ``sdd`` process imports torch (5-8 s of CPU), and
one start costs five of them, so the folder's modules share one service per backend. Tests
therefore never assume an empty service: they find their own jobs by id or by a metadata tag.

A failing test's report carries the tail of the API and worker logs; a process that died while
the tests ran fails the teardown.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.e2e.service_processes import RunningService, ServiceError, running_service
from tests.fixtures.servers import RedisServer

BACKENDS = ("embedded", "postgres_redis")
RECOVERY_ENV = {"SDD_JOB_LEASE_SECONDS": "8", "SDD_REAPER_INTERVAL_SECONDS": "1"}

_database_numbers = itertools.count(1)
_redis_numbers = itertools.count(RedisServer.DATABASES - 1, -1)  # from the top: tests/conftest counts up


@pytest.fixture(scope="package", params=BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    backend = request.param
    root = tmp_path_factory.mktemp(f"e2e_{backend}")
    if backend == "embedded":
        with running_service(root, backend, extra_env=RECOVERY_ENV) as running:
            yield running
            _check_survived(running)
        return
    postgres = request.getfixturevalue("postgres_server")
    redis_server = request.getfixturevalue("redis_server")
    database = postgres.create_database(f"e2e_{os.getpid()}_{next(_database_numbers)}")
    redis_db = next(_redis_numbers)
    redis_server.flush(redis_db)
    try:
        with running_service(
            root, backend, postgres.url(database), redis_server.url(redis_db), extra_env=RECOVERY_ENV
        ) as running:
            yield running
            _check_survived(running)
    finally:
        postgres.drop_database(database)
        redis_server.flush(redis_db)


def _check_survived(service: RunningService) -> None:
    """Both processes must still run when the tests end: a crash mid-way is a failure of its own."""
    dead = [process.name for process in service.processes if not process.alive()]
    if dead:
        raise ServiceError(f"{', '.join(dead)} died while the tests ran\n{service.log_tails()}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Attach the service's log tails to a failed test (ServiceErrors already carry them)."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or (call.excinfo is not None and call.excinfo.errisinstance(ServiceError)):
        return
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, RunningService):
            report.sections.append((f"{value.backend} service logs", value.log_tails()))
