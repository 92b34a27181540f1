"""``sdd jobs cancel --wait``: returns once the job has stopped, so ``sdd jobs resume`` may follow at once
(as the README's tour does); a resume too early says what to run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from domain.jobs.transitions import finish
from sdd_cli.main import cli
from sdd_client import SDDClient, cli_support
from tests.api.conftest import Api
from tests.sdd_client.conftest import TEST_URL, start_job


@pytest.fixture
def sdd(api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("SDD_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.setattr(cli_support, "make_client", lambda config: SDDClient(TEST_URL, config.token, client=api.client))

    def run(*args: str) -> Result:
        result = CliRunner().invoke(cli, [*args, "--url", TEST_URL, "--token", api.token])
        assert "Traceback" not in result.output, result.output
        return result

    return run


def test_cancel_wait_returns_once_a_running_job_stopped(api: Api, sdd) -> None:
    job_id = api.create_job()["id"]
    start_job(api, job_id)

    def worker_stops_at_its_next_batch() -> None:
        time.sleep(1.0)
        with api.session() as session:
            assert finish(session, job_id, "cancelled")

    early = sdd("jobs", "cancel", job_id)
    assert early.exit_code == 0 and early.stdout.strip() == f"{job_id} cancelling"
    refused = sdd("jobs", "resume", job_id)
    assert refused.exit_code == 2 and refused.stderr.startswith("error [job_active]")
    assert f"`sdd jobs cancel --wait {job_id}` returns once it has stopped, then resume it" in refused.stderr

    worker = threading.Thread(target=worker_stops_at_its_next_batch)
    worker.start()
    waited = sdd("jobs", "cancel", "--wait", job_id)
    worker.join()
    assert waited.exit_code == 0 and waited.stdout.strip() == f"{job_id} cancelled"
    resumed = sdd("jobs", "resume", job_id)
    assert resumed.exit_code == 0 and resumed.stdout.startswith(f"{job_id} queued")
