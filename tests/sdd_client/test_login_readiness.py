"""``sdd login`` against a server that is not ready: one still starting (nothing listens yet, or its
database is not migrated yet) says to retry or to wait, never to migrate; ``--wait`` waits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from api.app import create_app
from sdd_cli.main import cli
from sdd_client import SDDClient, cli_support
from sdd_client.errors import ServerNotReady
from sdd_client.server_readiness import wait_until_ready
from service.migrate import upgrade
from service.settings import Settings
from tests.fixtures.servers import free_port

TEST_URL = "http://testserver"


@pytest.fixture
def unmigrated(sdd_env: Any) -> Settings:
    """A server's settings whose database has no schema yet, as while `sdd up` migrates it."""
    settings = sdd_env()
    settings.ensure_dirs()
    return settings


@pytest.fixture
def starting_app(unmigrated: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    """The API on that database; the CLI's client talks to it through a TestClient."""
    monkeypatch.setenv("SDD_CONFIG", str(tmp_path / "config.json"))
    with TestClient(create_app(unmigrated)) as client:
        monkeypatch.setattr(cli_support, "make_client", lambda config: SDDClient(TEST_URL, config.token, client=client))
        yield client


def login(*args: str) -> Result:
    result = CliRunner().invoke(cli, ["login", "--token", "sdd_anything", *args])
    assert "Traceback" not in result.output, result.output
    return result


def test_nothing_listening_yet_says_retry_or_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDD_CONFIG", str(tmp_path / "config.json"))
    url = f"http://127.0.0.1:{free_port()}"
    result = login("--url", url)
    assert result.exit_code == 3
    assert result.stderr.startswith(f"error [not_ready] the server at {url} is not up (nothing answers: ")
    assert "if it is starting, retry in a few seconds or pass --wait" in result.stderr
    assert "sdd migrate" not in result.stderr and not (tmp_path / "config.json").exists()


def test_a_server_migrating_its_database_is_starting(starting_app: TestClient) -> None:
    result = login("--url", TEST_URL)
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        f"error [not_ready] the server at {TEST_URL} is starting (it answers, but GET /readyz says 503: not ready "
        "yet); retry in a few seconds, or pass --wait to wait for it"
    )
    waited = login("--url", TEST_URL, "--wait", "1")
    assert waited.exit_code == 3 and "is still not ready after 1 s" in waited.stderr


def test_wait_returns_once_the_server_is_ready(starting_app: TestClient, unmigrated: Settings) -> None:
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the migration finishes while the client waits
        slept.append(seconds)
        upgrade(str(unmigrated.database_url))

    sdd = SDDClient(TEST_URL, "sdd_anything", client=starting_app)
    wait_until_ready(sdd, 30, sleep=sleep)
    assert slept == [1.0]
    with pytest.raises(ServerNotReady, match="retry in a few seconds"):
        wait_until_ready(SDDClient(f"http://127.0.0.1:{free_port()}", "sdd_anything"), 0)
