"""``sdd jobs metrics JOB`` (table, ``--json``, ``--csv``) and ``SDDClient.metrics_csv`` against the real API app."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sdd_cli.main import cli
from sdd_client import SDDClient, cli_support
from tests.api.conftest import Api
from tests.sdd_client.conftest import TEST_URL, epoch, metrics_row, start_job


@pytest.fixture
def ran(api: Api) -> str:
    """A running job with two epochs recorded, the second with a formula-like data path."""
    job_id = api.create_job(hyperparameters={"epochs": 2}, name="csv export")["id"]
    start_job(api, job_id)
    epoch(api, job_id, metrics_row(1, 2, 40.0, lr=1e-05))
    epoch(api, job_id, metrics_row(2, 2, 55.0, data_path="+cmd|' /C calc'!A0"))
    return job_id


@pytest.fixture
def sdd(api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("SDD_CONFIG", str(tmp_path / "sdd.json"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(
        cli_support, "make_client", lambda config: SDDClient(config.url, config.token, client=api.client)
    )
    runner = CliRunner(env={"SDD_URL": TEST_URL, "SDD_TOKEN": api.token})
    return lambda *args: runner.invoke(cli, list(args))


def test_the_client_returns_the_csv_text(api: Api, ran: str) -> None:
    text = SDDClient(TEST_URL, api.token, client=api.client).metrics_csv(ran)
    assert text == api.get(f"/v1/jobs/{ran}/metrics", params={"format": "csv"}).text


def test_sdd_jobs_metrics_as_csv_json_and_a_table(sdd, ran: str) -> None:
    result = sdd("jobs", "metrics", ran, "--csv")
    assert result.exit_code == 0, result.output
    assert "\r" not in result.stdout  # the terminal's line ends
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["epoch"] for row in rows] == ["1", "2"] and rows[0]["lr"] == "0.00001"
    assert rows[1]["data_path"] == "'+cmd|' /C calc'!A0" and rows[1]["val_top1"] == "55.0"

    by_name = sdd("jobs", "metrics", "csv export", "--csv")  # a job named by its name, as every command
    assert by_name.exit_code == 0 and by_name.stdout == result.stdout

    as_json = sdd("jobs", "metrics", ran, "--json")
    assert as_json.exit_code == 0 and [row["epoch"] for row in json.loads(as_json.stdout)] == [1, 2]

    table = sdd("jobs", "metrics", ran)
    assert table.exit_code == 0 and f"metrics of {ran}" in table.stdout
    assert "2/2" in table.stdout and "55.00" in table.stdout

    both = sdd("jobs", "metrics", ran, "--csv", "--json")
    assert both.exit_code == 2 and "give --csv or --json, not both" in both.output


def test_a_job_with_no_epoch_yet_says_so(api: Api, sdd) -> None:
    job_id = api.create_job()["id"]
    result = sdd("jobs", "metrics", job_id)
    assert result.exit_code == 0 and f"no epoch of {job_id} has finished yet" in result.output
    header = sdd("jobs", "metrics", job_id, "--csv")
    assert header.exit_code == 0 and header.stdout.startswith("epoch,epochs,lr,") and header.stdout.count("\n") == 1
