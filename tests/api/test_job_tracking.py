"""Experiment tracking and metric exports through the API: trackers by name only, configured by the
operator; a job's metrics as CSV (REST and the dashboard) and its TensorBoard event file.

No worker runs: epochs are recorded in SQL as a worker would (``record_epoch``), and the event file is
written by the worker's own function (``worker.tensorboard_events``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.jobs.transitions import claim, finish, record_epoch, record_tracking
from service.artifact_stores import get_artifact_store
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings
from tests.api.ui.test_pages import browser_for
from worker.tensorboard_events import store_tensorboard_events


@pytest.fixture
def tracked_api(sdd_env: Any, sqlite_template: Path) -> Iterator[Api]:
    """The API of a deployment whose operator configured an MLflow server (W&B left off)."""
    yield from make_api(sqlite_settings(sdd_env, sqlite_template, mlflow_tracking_uri="http://mlflow.internal:5000"))


def test_a_tracker_the_operator_did_not_configure_is_refused_naming_the_setting(api: Api) -> None:
    for tracker, setting in (("mlflow", "SDD_MLFLOW_TRACKING_URI"), ("wandb", "SDD_WANDB_API_KEY")):
        error = assert_error(api.post_job(tracking=[tracker]), 422, "tracking_not_configured", "tracking")
        assert setting in error["message"] and tracker in error["message"]


def test_a_configured_tracker_is_accepted_and_shown_in_the_spec(tracked_api: Api) -> None:
    job = tracked_api.create_job(tracking=["mlflow", "mlflow"])
    assert job["spec"]["tracking"] == ["mlflow"] and job["tracking"] is None  # no run until a worker opens it
    assert tracked_api.create_job()["spec"]["tracking"] == []
    assert_error(tracked_api.post_job(tracking=["wandb"]), 422, "tracking_not_configured", "tracking")


@pytest.mark.parametrize(
    "tracking",
    [
        ["http://attacker.example:5000"],
        ["mlflow", "file:///etc"],
        {"mlflow": "http://attacker.example:5000"},
        [{"uri": "http://attacker.example:5000"}],
        "mlflow",
    ],
)
def test_a_job_cannot_name_a_tracking_server(tracked_api: Api, tracking: Any) -> None:
    response = tracked_api.post_job(tracking=tracking)
    error = assert_error(response, 422)
    assert error["param"] is not None and error["param"].startswith("tracking")
    assert tracked_api.get("/v1/jobs").json()["data"] == []


def test_a_job_cannot_give_tracking_settings_or_credentials(tracked_api: Api) -> None:
    for field in ("mlflow_tracking_uri", "tracking_uri", "wandb_api_key"):
        assert_error(tracked_api.post_job(tracking=["mlflow"], **{field: "http://x"}), 422, param=field)


# ---------------------------------------------------------------- metrics as CSV


def _ran(api: Api, rows: list[dict[str, Any]]) -> str:
    job = api.create_job(hyperparameters={"epochs": len(rows)})
    with api.session() as session:
        assert claim(session, job["id"], "test-worker", 60)
        for row in rows:
            assert record_epoch(session, job["id"], row)
    return job["id"]


ROWS = [
    {"epoch": 1, "epochs": 2, "lr": 1e-05, "train_loss": 2.5, "val_top1": 40.0, "seconds": 1.25, "nonfinite_steps": 0},
    {
        "epoch": 2,
        "epochs": 2,
        "lr": 0.1,
        "train_loss": 1.5,
        "val_top1": 55.5,
        "seconds": 1.0,
        "nonfinite_steps": 0,
        "data_path": '=HYPERLINK("http://evil")',  # text a spreadsheet would run as a formula
        "zz_custom": "@SUM(A1)",
    },
]


def test_metrics_as_csv_have_a_stable_header_plain_numbers_and_defused_formulas(api: Api) -> None:
    job_id = _ran(api, ROWS)
    response = api.get(f"/v1/jobs/{job_id}/metrics", params={"format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="{job_id}-metrics.csv"'
    assert response.text.startswith(
        "epoch,epochs,lr,train_loss,val_top1,nonfinite_steps,seconds,data_path,zz_custom\r\n"
    )
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[1] == ["1", "2", "0.00001", "2.5", "40.0", "0", "1.25", "", ""]
    assert lines[2] == ["2", "2", "0.1", "1.5", "55.5", "0", "1.0", '\'=HYPERLINK("http://evil")', "'@SUM(A1)"]
    assert len(lines) == 3

    by_accept = api.get(f"/v1/jobs/{job_id}/metrics", headers={"Accept": "text/csv"})
    assert by_accept.text == response.text
    json_rows = api.get(f"/v1/jobs/{job_id}/metrics", headers={"Accept": "application/json, text/csv;q=0.5"})
    assert json_rows.json()["data"][0]["lr"] == 1e-05
    assert api.get(f"/v1/jobs/{job_id}/metrics", params={"format": "csv"}, token=api.other_token).status_code == 404


def test_metrics_csv_of_a_job_with_no_epoch_is_its_header(api: Api) -> None:
    job_id = api.create_job()["id"]
    text = api.get(f"/v1/jobs/{job_id}/metrics", params={"format": "csv"}).text
    assert text.startswith("epoch,epochs,lr,") and text.count("\r\n") == 1
    assert_error(api.get(f"/v1/jobs/{job_id}/metrics", params={"format": "xlsx"}), 422, param="format")


def test_the_dashboard_downloads_the_csv_with_its_cookie_session(api: Api) -> None:
    job_id = _ran(api, ROWS)
    alice, bob = browser_for(api, api.token), browser_for(api, api.other_token)
    page = alice.get(f"/ui/jobs/{job_id}").text
    assert f'href="/ui/jobs/{job_id}/metrics.csv" id="download-metrics-csv" download>Download CSV</a>' in page
    download = alice.get(f"/ui/jobs/{job_id}/metrics.csv")
    assert download.status_code == 200 and download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.text == api.get(f"/v1/jobs/{job_id}/metrics", params={"format": "csv"}).text
    assert bob.get(f"/ui/jobs/{job_id}/metrics.csv").status_code == 404
    signed_out = browser_for(api, None).get(f"/ui/jobs/{job_id}/metrics.csv")
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/ui/login")


# ---------------------------------------------------------------- TensorBoard and tracker links


def test_the_tensorboard_event_file_downloads_once_stored(api: Api) -> None:
    job_id = _ran(api, ROWS)
    alice = browser_for(api, api.token)
    assert_error(api.get(f"/v1/jobs/{job_id}/tensorboard"), 404, "artifact_missing")
    assert alice.get(f"/ui/jobs/{job_id}/tensorboard").status_code == 404

    with api.session() as session:
        stored = store_tensorboard_events(session, get_artifact_store(api.settings), job_id)
        assert stored is not None
        session.commit()
        assert finish(session, job_id, "failed", error_code="non_finite", error_message="loss was NaN")
    response = api.get(f"/v1/jobs/{job_id}/tensorboard")
    assert response.status_code == 200 and response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == f'attachment; filename="events.out.tfevents.{job_id}"'
    assert response.headers["x-content-sha256"] == stored.sha256 and len(response.content) == stored.size_bytes
    assert alice.get(f"/ui/jobs/{job_id}/tensorboard").content == response.content
    page = alice.get(f"/ui/jobs/{job_id}").text
    assert f'href="/ui/jobs/{job_id}/tensorboard" id="download-tensorboard"' in page
    assert api.get(f"/v1/jobs/{job_id}/tensorboard", token=api.other_token).status_code == 404


def test_the_job_links_its_tracker_runs(tracked_api: Api) -> None:
    job_id = tracked_api.create_job(tracking=["mlflow"])["id"]
    url = "http://mlflow.example/#/experiments/3/runs/abc123"
    with tracked_api.session() as session:
        assert claim(session, job_id, "test-worker", 60)
        assert record_tracking(session, job_id, {"mlflow": {"run_id": "abc123", "url": url, "epoch": 4}}, "test-worker")
    job = tracked_api.get(f"/v1/jobs/{job_id}").json()
    assert job["tracking"] == {"mlflow": {"run_id": "abc123", "url": url}, "wandb": None}
    page = browser_for(tracked_api, tracked_api.token).get(f"/ui/jobs/{job_id}").text
    assert f'<a href="{url}" rel="noopener noreferrer" id="tracking-mlflow">MLflow</a>' in page
