"""The API under test: ``create_app(settings)`` on a migrated database, two tenants with tokens.

``api`` runs on SQLite (a copy of a database migrated once per session); ``any_api`` is
parametrised over SQLite and a fresh PostgreSQL database migrated per test, for the core suite.
The broker is the embedded file broker under the test's ``SDD_HOME``: jobs stay queued.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from domain.jobs.transitions import claim, finish
from service.artifact_stores import get_artifact_store
from service.artifacts import STUDENT_EXPORT_KINDS, job_card_key, job_student_key
from service.db.models import Artifact
from service.db.session import get_sessionmaker
from service.migrate import upgrade
from service.settings import Settings
from service.tokens import create_token

TEST_UPLOAD_LIMIT = 1 << 20  # 1 MiB: a resnet8 state dict fits, the 413 test stays cheap


@dataclass
class Api:
    """A test client plus the two tenants' tokens and a few shortcuts."""

    client: TestClient
    settings: Settings
    token: str  # tenant "alice"
    other_token: str  # tenant "bob"

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def get(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.client.get(path, headers=self.auth(token) | kw.pop("headers", {}), **kw)

    def post(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.client.post(path, headers=self.auth(token) | kw.pop("headers", {}), **kw)

    def post_job(self, token: str | None = None, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
        return self.post("/v1/jobs", token, json=job_body(**body), headers=headers or {})

    def create_job(self, token: str | None = None, **body: Any) -> dict[str, Any]:
        response = self.post_job(token, **body)
        assert response.status_code == 201, response.text
        return response.json()

    def session(self) -> Session:
        return get_sessionmaker(self.settings)()

    def succeed_job(
        self,
        job_id: str,
        student: bytes = b"student weights",
        exports: dict[str, bytes] | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        """Play the worker: claim the job, store a student (and ``exports``, by format) and a card,
        finish it succeeded (its result: the usual accuracies, and ``result``)."""
        store = get_artifact_store(self.settings)
        with self.session() as session:
            assert claim(session, job_id, "test-worker", 60)
            exported = [
                (STUDENT_EXPORT_KINDS[fmt], job_student_key(job_id, fmt), data) for fmt, data in (exports or {}).items()
            ]
            for kind, key, data in (
                ("student", job_student_key(job_id), student),
                ("card", job_card_key(job_id), b'{"arch": "resnet8"}'),
                *exported,
            ):
                stored = store.put_bytes(key, data)
                session.add(
                    Artifact(
                        job_id=job_id,
                        kind=kind,
                        epoch=0,
                        key=key,
                        size_bytes=stored.size_bytes,
                        sha256=stored.sha256,
                    )
                )
            session.commit()
            assert finish(
                session,
                job_id,
                "succeeded",
                result={"val_top1": 91.5, "val_top5": 99.0, "best_val_top1": 92.0} | (result or {}),
            )


def job_body(**overrides: Any) -> dict[str, Any]:
    """A valid cross-entropy job on the offline digits dataset, with ``overrides`` applied."""
    body: dict[str, Any] = {"dataset": "digits", "student": "resnet8", "method": "ce", "teacher": None}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def assert_error(response: httpx.Response, status: int, code: str | None = None, param: str | None = ...) -> dict:
    """The response is an error envelope with this status (and code/param when given)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "param"}, body
    assert body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    if param is not ...:
        assert body["error"]["param"] == param, body
    return body["error"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "sdd.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


def make_api(settings: Settings) -> Iterator[Api]:
    """Yield one ``Api`` over ``create_app(settings)`` (use as ``for api in make_api(...)``)."""
    with get_sessionmaker(settings)() as session:
        token, _ = create_token(session, "alice")
        other_token, _ = create_token(session, "bob")
        session.commit()
    with TestClient(create_app(settings)) as client:
        yield Api(client=client, settings=settings, token=token, other_token=other_token)


def sqlite_settings(sdd_env: Any, template: Path, **env: Any) -> Settings:
    """Settings on a fresh copy of the migrated SQLite template (``env`` as for ``sdd_env``)."""
    settings = sdd_env(max_upload_bytes=TEST_UPLOAD_LIMIT, **env)
    settings.home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, settings.home / "sdd.sqlite")
    return settings


def _settings(backend: str, sdd_env: Any, request: pytest.FixtureRequest, template: Path) -> Settings:
    if backend == "postgres":
        settings = sdd_env(database_url=request.getfixturevalue("postgres_url"), max_upload_bytes=TEST_UPLOAD_LIMIT)
        upgrade(str(settings.database_url))
        return settings
    return sqlite_settings(sdd_env, template)


@pytest.fixture
def api(sdd_env: Any, request: pytest.FixtureRequest, sqlite_template: Path) -> Iterator[Api]:
    """The API on SQLite."""
    yield from make_api(_settings("sqlite", sdd_env, request, sqlite_template))


@pytest.fixture(params=["sqlite", "postgres"])
def any_api(sdd_env: Any, request: pytest.FixtureRequest, sqlite_template: Path) -> Iterator[Api]:
    """The API on each database backend."""
    yield from make_api(_settings(request.param, sdd_env, request, sqlite_template))
