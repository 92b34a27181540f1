"""The client under test against the real API app on a migrated SQLite database.

- ``api``: ``tests.api``'s ``Api`` (a ``TestClient`` over ``create_app``, tokens for two tenants).
- ``sdd``: an ``SDDClient`` whose requests go through that ``TestClient`` (no socket).
- ``live_url``: the same app served by uvicorn on a free 127.0.0.1 port, in a thread.

No worker runs: ``start_job``/``epoch``/``fail_job`` and ``Api.succeed_job`` play its part in SQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select

from api.app import create_app
from domain.jobs.transitions import claim, finish, record_epoch
from sdd_client import SDDClient
from service.artifact_stores import get_artifact_store
from service.artifacts import job_card_key, job_student_key
from service.db.models import Artifact, Job
from tests.api.conftest import Api, make_api, sqlite_settings, sqlite_template  # noqa: F401  (fixture)
from tests.fixtures.servers import free_port

TEST_URL = "http://testserver"


@pytest.fixture
def api(sdd_env: Any, sqlite_template: Path) -> Iterator[Api]:  # noqa: F811  (the imported fixture)
    yield from make_api(sqlite_settings(sdd_env, sqlite_template))


@pytest.fixture
def sdd(api: Api) -> SDDClient:
    return SDDClient(TEST_URL, api.token, client=api.client)


@pytest.fixture
def live_url(api: Api) -> Iterator[str]:
    """The API on a real socket (a second app on the same database and artifacts)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(api.settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def metrics_row(epoch: int, epochs: int, val_top1: float, **extra: Any) -> dict[str, Any]:
    """A per-epoch row shaped like the trainer's (SD fields included)."""
    row = {
        "epoch": epoch,
        "epochs": epochs,
        "lr": 0.05,
        "train_loss": 1.0 / epoch,
        "train_ce": 0.4 / epoch,
        "train_kd": 0.6 / epoch,
        "train_top1": val_top1 - 1,
        "val_loss": 0.9 / epoch,
        "val_top1": val_top1,
        "val_top5": min(val_top1 + 5, 100.0),
        "best_val_top1": val_top1,
        "images_per_s": 1000.0,
        "complementary_share": 0.2,
        "nonfinite_steps": 0,
        "seconds": 1.5,
    }
    row.update(extra)
    return row


def start_job(api: Api, job_id: str) -> None:
    with api.session() as session:
        assert claim(session, job_id, "test-worker", 60)


def epoch(api: Api, job_id: str, row: dict[str, Any]) -> None:
    with api.session() as session:
        assert record_epoch(session, job_id, row)


def fail_job(api: Api, job_id: str, code: str = "non_finite", message: str = "loss was NaN") -> None:
    with api.session() as session:
        assert finish(session, job_id, "failed", error_code=code, error_message=message)


def trained_job(api: Api, top1: tuple[float, ...], student: bytes | None = None, **body: Any) -> dict[str, Any]:
    """A job that ran ``len(top1)`` epochs and succeeded, with a student stored."""
    job = api.create_job(hyperparameters={"epochs": len(top1)}, **body)
    start_job(api, job["id"])
    for index, value in enumerate(top1, start=1):
        epoch(api, job["id"], metrics_row(index, len(top1), value))
    succeed_running(api, job["id"], top1, student)
    return job


def play_worker(api: Api, job_id: str | None, epochs: int, outcome: str) -> threading.Thread:
    """In a thread, act as a worker: wait for the job (or the first queued one), run ``epochs``
    epochs (val top-1 40, 50, ...) a few tenths of a second apart, then end it ``outcome``."""

    def steps() -> None:
        target = job_id
        while target is None:
            with api.session() as session:
                target = session.scalar(select(Job.id).where(Job.status == "queued"))
            time.sleep(0.05)
        time.sleep(0.3)
        start_job(api, target)
        for index in range(1, epochs + 1):
            time.sleep(0.3)
            epoch(api, target, metrics_row(index, epochs, 30.0 + 10 * index))
        if outcome == "failed":
            fail_job(api, target)
        else:
            succeed_running(api, target, (30.0 + 10 * epochs,))

    thread = threading.Thread(target=steps, name="play-worker", daemon=True)
    thread.start()
    return thread


def succeed_running(api: Api, job_id: str, top1: tuple[float, ...], student: bytes | None = None) -> None:
    """Store a student and a card for a running job and finish it succeeded (``Api.succeed_job``
    does the same for a queued one)."""
    store = get_artifact_store(api.settings)
    student = student if student is not None else b"weights of " + job_id.encode()
    with api.session() as session:
        for kind, key, data in (
            ("student", job_student_key(job_id), student),
            ("card", job_card_key(job_id), b'{"arch": "resnet8"}'),
        ):
            stored = store.put_bytes(key, data)
            session.add(
                Artifact(
                    job_id=job_id,
                    kind=kind,
                    epoch=len(top1),
                    key=key,
                    size_bytes=stored.size_bytes,
                    sha256=stored.sha256,
                )
            )
        session.commit()
        result = {"val_top1": top1[-1], "val_top5": min(top1[-1] + 5, 100.0), "best_val_top1": max(top1)}
        assert finish(session, job_id, "succeeded", result=result)
