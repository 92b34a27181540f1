"""A throwaway sdd-jobs API for benchmarks and fuzzing: a migrated home, tokens, uvicorn on loopback.

``prepare_service(home, **settings)`` migrates the database (the embedded SQLite under ``home``
unless ``database_url`` is given) and creates one token per tenant. ``serve(app)`` runs uvicorn in
a thread on a free 127.0.0.1 port and stops it when the block ends. No worker runs: submitted jobs
stay queued on the embedded file broker.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from service.db.session import get_sessionmaker
from service.migrate import upgrade
from service.settings import Settings
from service.tokens import create_token


@dataclass
class LocalService:
    settings: Settings
    tokens: dict[str, str]  # tenant name -> token


def prepare_service(home: Path, tenants: tuple[str, ...] = ("alice", "bob"), **settings: Any) -> LocalService:
    """Settings on ``home`` (environment ignored for the storage locations), migrated, with tokens."""
    settings.setdefault("database_url", None)  # None: the embedded SQLite under home
    settings.setdefault("broker_url", None)  # None: the embedded file broker under home
    config = Settings(home=home, artifact_dir=None, data_root=None, work_dir=None, **settings)
    config.ensure_dirs()
    upgrade(str(config.database_url))
    tokens = {}
    with get_sessionmaker(config)() as session:
        for tenant in tenants:
            tokens[tenant], _ = create_token(session, tenant)
        session.commit()
    return LocalService(config, tokens)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(app: FastAPI, *, log_level: str = "warning", **config: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on loopback in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level, lifespan="on", **config)
    )
    thread = threading.Thread(target=server.run, name="uvicorn-local", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
