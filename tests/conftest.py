"""Shared fixtures: real PostgreSQL and Redis servers, and an isolated ``SDD_*`` environment.

- ``postgres_server`` (session): a private PostgreSQL 15; ``.url(db)``, ``.create_database(name)``,
  ``.drop_database(name)``.
- ``postgres_url`` (function): a fresh empty database, ``postgresql+psycopg://...``.
- ``redis_server`` (session) / ``redis_url`` (function): a private redis-server; each test gets an
  emptied database number of its own.
- ``sdd_env`` (function): ``SDD_HOME`` in a temp folder, every other ``SDD_*`` variable cleared;
  returns ``configure(**env) -> Settings``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.db.session import dispose_engines
from service.settings import Settings, get_settings
from tests.fixtures.servers import (
    PostgresServer,
    RedisServer,
    ServerUnavailable,
    start_postgres,
    start_redis,
    stop_postgres,
    stop_redis,
)

_database_numbers = itertools.count(1)


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
