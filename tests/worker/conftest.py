"""Fixtures for the worker tests: migrated databases, job rows, and real worker processes.

Unit tests: ``embedded`` (SQLite + file broker in a temp SDD_HOME) or ``production`` (PostgreSQL +
Redis from the root conftest) settings, a tenant, and ``make_job`` to insert job rows.

End-to-end tests: ``embedded_stack`` / ``production_stack`` (``any_stack`` runs a test on both)
— a migrated database, a broker and one real ``sdd worker`` subprocess (solo pool for the
embedded stack, prefork as in production for PostgreSQL + Redis) shared by the
tests of a module (starting a worker imports torch: seconds that every test would pay again).
Jobs of different tests never interfere: each test makes its own job and waits for it. The
worker is always stopped at the end of the module.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service.broker import celery_app, configure
from service.db.models import Job, Tenant
from service.db.session import dispose_engines, session_scope
from service.migrate import upgrade
from service.settings import Settings
from tests.fixtures.servers import PostgresServer, RedisServer
from tests.worker.worker_harness import (
    REPO_ROOT,
    TINY_SPEC,
    WORKER_READY_LINE,
    WORKER_START_TIMEOUT_S,
    WorkerProcess,
)


def _insert_tenant(settings: Settings, name: str) -> str:
    with session_scope(settings) as session:
        tenant = Tenant(name=name)
        session.add(tenant)
        session.flush()
        return tenant.id


def _insert_job(settings: Settings, tenant_id: str, spec: dict[str, Any] | None = None, **columns: Any) -> str:
    spec = dict(spec or TINY_SPEC)
    with session_scope(settings) as session:
        job = Job(tenant_id=tenant_id, spec=spec, epochs=spec["hyperparameters"]["epochs"], **columns)
        session.add(job)
        session.flush()
        return job.id


# ------------------------------------------------------------------ unit tests: settings and rows


def _ready(settings: Settings) -> Settings:
    upgrade(str(settings.database_url))
    configure(celery_app, settings)
    return settings


@pytest.fixture
def embedded(sdd_env) -> Settings:
    """SQLite + the file broker under a temp SDD_HOME, migrated; celery_app points at it."""
    return _ready(sdd_env())


@pytest.fixture
def production(sdd_env, postgres_url: str, redis_url: str) -> Settings:
    """PostgreSQL + Redis, migrated; celery_app points at them."""
    return _ready(sdd_env(database_url=postgres_url, broker_url=redis_url))


@pytest.fixture
def backend_settings(request) -> Settings:
    """Whichever of ``embedded`` / ``production`` the test asked for."""
    for name in ("embedded", "production"):
        if name in request.fixturenames:
            return request.getfixturevalue(name)
    raise RuntimeError("request the embedded or production fixture")


@pytest.fixture
def tenant_id(backend_settings: Settings) -> str:
    return _insert_tenant(backend_settings, "acme")


@pytest.fixture
def make_job(backend_settings: Settings, tenant_id: str) -> Callable[..., str]:
    """Insert a queued job row (as the API would) and return its id."""
    return lambda spec=None, **columns: _insert_job(backend_settings, tenant_id, spec, **columns)


# ------------------------------------------------------------------ end-to-end: a worker per module


@dataclass
class Stack:
    """A migrated database, a broker and a running worker, all on one ``Settings``."""

    settings: Settings
    worker: WorkerProcess
    tenant_id: str
    job_left_queued: str  # committed before the worker started, never enqueued

    def make_job(self, spec: dict[str, Any] | None = None, **columns: Any) -> str:
        return _insert_job(self.settings, self.tenant_id, spec, **columns)


def _start_stack(home: Path, env: dict[str, str], pool: str, worker_args: tuple[str, ...] = ()) -> Stack:
    """Migrate, insert a tenant and a queued job, then start ``sdd worker [worker_args]`` with exactly ``env``."""
    settings = _migrated_settings(home, env)
    tenant_id = _insert_tenant(settings, "acme")
    job_left_queued = _insert_job(settings, tenant_id)
    worker = start_worker_process(home, env, pool, worker_args)
    return Stack(settings, worker, tenant_id, job_left_queued)


def _migrated_settings(home: Path, env: dict[str, str]) -> Settings:
    env = {"SDD_HOME": str(home), **env}
    settings = Settings(
        home=home,
        database_url=env.get("SDD_DATABASE_URL"),
        broker_url=env.get("SDD_BROKER_URL"),
        artifact_dir=home / "artifacts",
        data_root=home / "data",
        work_dir=home / "work",
    )
    settings.ensure_dirs()
    upgrade(str(settings.database_url))
    return settings


def start_worker_process(
    home: Path, env: dict[str, str], pool: str, worker_args: tuple[str, ...] = (), *, new_session: bool = False
) -> WorkerProcess:
    """``sdd worker --pool <pool> --concurrency 1 [worker_args]`` with exactly ``env`` (and ``SDD_HOME``),
    once it logged that it is ready; its log is ``<home>/worker[-N].log``."""
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("SDD_")}
    process_env.update({"SDD_HOME": str(home), **env}, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    earlier = len(list(home.glob("worker*.log")))
    log_path = home / ("worker.log" if not earlier else f"worker-{earlier + 1}.log")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "sdd_cli", "worker", "--pool", pool, "--concurrency", "1", *worker_args],
            cwd=REPO_ROOT,
            env=process_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    worker = WorkerProcess(process, log_path)
    try:
        worker.wait_for_log(WORKER_READY_LINE, timeout=WORKER_START_TIMEOUT_S)
    except BaseException:
        worker.stop()
        raise
    return worker


@pytest.fixture(scope="module")
def _embedded_stack(tmp_path_factory) -> Iterator[Stack]:
    stack = _start_stack(tmp_path_factory.mktemp("embedded") / "sdd_home", {}, pool="solo")
    yield stack
    stack.worker.stop()


_stack_databases = itertools.count(1)


@pytest.fixture(scope="module")
def _production_stack(tmp_path_factory, postgres_server: PostgresServer, redis_server: RedisServer) -> Iterator[Stack]:
    database = postgres_server.create_database(f"worker_stack_{os.getpid()}_{next(_stack_databases)}")
    redis_db = (
        RedisServer.DATABASES - 8
    )  # among the top ones reserved for stacks (tests/conftest.py), clear of tests/e2e
    redis_server.flush(redis_db)
    env = {"SDD_DATABASE_URL": postgres_server.url(database), "SDD_BROKER_URL": redis_server.url(redis_db)}
    try:
        # prefork, as in production: a forked pool process per job (worker_max_tasks_per_child=1)
        stack = _start_stack(tmp_path_factory.mktemp("production") / "sdd_home", env, pool="prefork")
        yield stack
        stack.worker.stop()
    finally:
        dispose_engines()
        postgres_server.drop_database(database)


@pytest.fixture
def embedded_stack(_embedded_stack: Stack) -> Stack:
    """The module's embedded stack; ``celery_app`` (so ``enqueue_job``) sends to its broker."""
    configure(celery_app, _embedded_stack.settings)
    return _embedded_stack


@pytest.fixture
def production_stack(_production_stack: Stack) -> Stack:
    """The module's PostgreSQL + Redis stack; ``celery_app`` sends to its Redis."""
    configure(celery_app, _production_stack.settings)
    return _production_stack


@pytest.fixture(params=["embedded_stack", "production_stack"])
def any_stack(request) -> Stack:
    return request.getfixturevalue(request.param)
