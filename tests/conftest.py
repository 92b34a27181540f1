"""Shared fixtures: real PostgreSQL and Redis servers, and an isolated ``SDD_*`` environment.

- ``postgres_server`` (session): a private PostgreSQL 15; ``.url(db)``, ``.create_database(name)``,
  ``.drop_database(name)``.
- ``postgres_url`` (function): a fresh empty database, ``postgresql+psycopg://...``.
- ``redis_server`` (session) / ``redis_url`` (function): a private redis-server; each test gets an
  emptied database number of its own.
- ``s3_server`` (module): a private moto S3 server, one per test file that uses it.
- ``sdd_env`` (function): ``SDD_HOME`` in a temp folder, every other ``SDD_*`` variable cleared;
  returns ``configure(**env) -> Settings``.
"""

from __future__ import annotations

import itertools
import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two pytest processes on two cores: one intra-op thread each. With torch's default (every
    # core) each process's OpenMP threads spin against the other's and the run costs a third more.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from service.db.session import dispose_engines
from service.settings import Settings, get_settings
from tests.fixtures.servers import (
    PostgresServer,
    RedisServer,
    S3Server,
    ServerUnavailable,
    start_postgres,
    start_redis,
    start_s3,
    stop_postgres,
    stop_redis,
    stop_s3,
)

_database_numbers = itertools.count(1)

# The test files that start the most processes or train the longest, first: the parallel run
# (scripts/test.sh: pytest-xdist, --dist loadgroup) hands groups out in order, so a long file
# last would leave a process idle while it runs. Ordered by their --durations in a parallel run.
FIRST = (
    "tests/e2e/",
    "tests/test_readme_tour.py",
    "tests/faults/test_worker_faults.py",
    "tests/worker/test_worker_process.py",
    "tests/worker/test_distributed_worker.py",
    "tests/sdd_client/test_retries.py",
    "tests/sdd_core/trainer/test_train_step.py",
    "tests/faults/test_broker_and_api_faults.py",
    "tests/sdd_core/trainer/test_distributed.py",
    "tests/sdd_core/trainer/test_training.py",
    "tests/worker/test_tracking.py",
    "tests/worker/test_loader_workers.py",
    "tests/faults/",
    "tests/worker/test_ingestion_worker.py",
    "tests/ops/",
    "tests/sdd_core/trainer/test_early_stopping.py",
    "tests/sdd_core/trainer/test_lockstep.py",
    "tests/sdd_core/trainer/test_sharded_training.py",
    "tests/worker/test_initial_weights_worker.py",
)


def _group(nodeid: str) -> str:
    """Where a test runs in a parallel run: with the rest of its file, and all of tests/e2e together
    (its services are started once per backend for the whole folder: split over processes, each
    would start its own, and several processes each running a service stack starve each other on
    a small machine)."""
    path = nodeid.split("::")[0]
    return "tests/e2e/" if path.startswith("tests/e2e/") else path


@pytest.hookimpl(optionalhook=True)  # -p no:xdist runs without the plugin
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's file scheduling with ``_group`` as the unit (its --dist loadgroup reads marks
    through a node id suffix that pytest 9 no longer keeps)."""
    from xdist.scheduler import LoadFileScheduling

    class GroupScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _group(nodeid)

    return GroupScheduling(config, log)


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture, which the sort keeps within a file
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first (``FIRST``): groups are handed out in collection order."""

    def rank(item: pytest.Item) -> int:
        path = _group(item.nodeid)
        return next((i for i, prefix in enumerate(FIRST) if path.startswith(prefix)), len(FIRST))

    items.sort(key=rank)  # stable: the order inside a rank is pytest's


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except ServerUnavailable as exc:
        pytest.skip(f"needs PostgreSQL: {exc}")
    try:
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database(f"test_{os.getpid()}_{next(_database_numbers)}")
    try:
        yield postgres_server.url(name)
    finally:
        dispose_engines()  # close pooled connections before the drop
        postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = start_redis()
    except ServerUnavailable as exc:
        pytest.skip(f"needs Redis: {exc}")
    try:
        yield server
    finally:
        stop_redis(server)


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    """A private S3-protocol server (moto's) for the test module: each file that uses it gets its own."""
    try:
        server = start_s3()
    except ServerUnavailable as exc:
        pytest.skip(f"needs moto_server: {exc}")
    try:
        yield server
    finally:
        stop_s3(server)


_redis_numbers = itertools.count(0)
# The top databases belong to module/package-scoped stacks (tests/e2e counts down from the top,
# tests/worker uses TOP - 8); per-test databases cycle below them, so a long run never flushes a
# database a running worker still reads.
REDIS_RESERVED_FOR_STACKS = 16


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    db = 1 + next(_redis_numbers) % (RedisServer.DATABASES - 1 - REDIS_RESERVED_FOR_STACKS)
    redis_server.flush(db)
    return redis_server.url(db)


ConfigureSettings = Callable[..., Settings]


@pytest.fixture
def sdd_env(tmp_path, monkeypatch) -> Iterator[ConfigureSettings]:
    """Point the service at a temp ``SDD_HOME``; ``configure(database_url=..., SDD_X=...)`` adds variables."""
    for name in list(os.environ):
        if name.startswith("SDD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SDD_HOME", str(tmp_path / "sdd_home"))
    get_settings.cache_clear()
    dispose_engines()

    def configure(**env: object) -> Settings:
        for key, value in env.items():
            name = key.upper() if key.upper().startswith("SDD_") else f"SDD_{key.upper()}"
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))
        get_settings.cache_clear()
        dispose_engines()
        return get_settings()

    yield configure
    get_settings.cache_clear()
    dispose_engines()


@dataclass(frozen=True)
class WeightsCaches:
    torch_home: Path  # torch hub's cache is <torch_home>/hub (torchvision weights in hub/checkpoints)
    hf_hub: Path  # the Hugging Face hub cache (timm weights)


@pytest.fixture
def weights_caches(tmp_path, monkeypatch) -> WeightsCaches:
    """Empty pretrained-weight caches of this test's own, where the real loaders look: TORCH_HOME
    and HF_HUB_CACHE, inherited by every process the test starts (API, workers)."""
    caches = WeightsCaches(tmp_path / "torch_home", tmp_path / "hf_hub")
    monkeypatch.setenv("TORCH_HOME", str(caches.torch_home))
    monkeypatch.setenv("HF_HUB_CACHE", str(caches.hf_hub))
    return caches
