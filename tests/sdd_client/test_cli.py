"""The ``sdd`` client commands through click's runner, against the real API app.

Most tests route the commands' client through a ``TestClient`` (``cli_support.make_client`` is
swapped); ``watch``, ``submit --wait`` and ``login`` also run against uvicorn on a real socket.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result
from safetensors.torch import save

from sdd_cli.main import cli
from sdd_client import SDDClient, cli_support
from sdd_core.models import create_model
from tests.api.conftest import Api
from tests.api.test_datasets import image_folder, zip_bytes
from tests.fixtures.servers import free_port
from tests.sdd_client.conftest import (
    TEST_URL,
    epoch,
    fail_job,
    metrics_row,
    play_worker,
    start_job,
    trained_job,
)

Run = Callable[..., Result]


@pytest.fixture
def cli_env(api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A private config file path and a wide, non-terminal output; returns the config path."""
    config = tmp_path / "config" / "sdd.json"
    monkeypatch.setenv("SDD_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "220")
    return config


def _runner(env: dict[str, str] | None = None) -> Run:
    runner = CliRunner(env=env)

    def run(*args: str, input: str | None = None) -> Result:
        result = runner.invoke(cli, list(args), input=input)
        assert "Traceback" not in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result

    return run


@pytest.fixture
def sdd(api: Api, cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``sdd …`` with SDD_URL/SDD_TOKEN set, talking to the app through its TestClient."""
    monkeypatch.setattr(
        cli_support, "make_client", lambda config: SDDClient(config.url, config.token, client=api.client)
    )
    return _runner({"SDD_URL": TEST_URL, "SDD_TOKEN": api.token})


@pytest.fixture
def sdd_live(cli_env: Path) -> Run:
    """``sdd …`` over real HTTP (pass --url/--token or log in)."""
    return _runner()


def _json(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---------------------------------------------------------------- submit


def test_submit_from_a_file_with_flag_overrides(sdd: Run, tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "dataset": "digits",
                "student": "resnet8",
                "method": "ce",
                "seed": 3,
                "hyperparameters": {"epochs": 5, "batch_size": 64},
                "metadata": {"from": "file"},
            }
        )
    )
    job = _json(
        sdd(
            "jobs",
            "submit",
            "--file",
            str(spec),
            "--epochs",
            "2",
            "--lr-decay-epochs",
            "1",
            "--lr",
            "0.1",
            "--metadata",
            "run=7",
            "--metadata",
            "tag=abc",
            "--json",
        )
    )
    hyper = job["spec"]["hyperparameters"]
    assert (hyper["epochs"], hyper["batch_size"], hyper["lr"], hyper["lr_decay_epochs"]) == (2, 64, 0.1, [1])
    assert job["spec"]["seed"] == 3 and job["metadata"] == {"from": "file", "run": 7, "tag": "abc"}

    plain = sdd(
        "jobs",
        "submit",
        "--dataset",
        "digits",
        "--student",
        "resnet8",
        "--method",
        "sd-kd",
        "--teacher-job",
        "job_missing",
        "--scales",
        "1,2",
        "--beta",
        "1.5",
    )
    assert plain.exit_code == 2 and plain.stderr.startswith("error [not_found]") and "(teacher.job)" in plain.stderr

    keyed = [
        sdd(
            "jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "ce", "--idempotency-key", "k1"
        )
        for _ in range(2)
    ]
    assert keyed[0].stdout == keyed[1].stdout and keyed[0].stdout.startswith("job_")
    assert "submitted " in keyed[0].stderr


def test_refused_requests_print_the_server_error_without_traceback(sdd: Run) -> None:
    invalid = sdd("jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "sd-xyz")
    assert invalid.exit_code == 2
    assert invalid.stderr.startswith("error [validation_error] method:")
    assert invalid.stderr.rstrip().endswith("(method)")

    missing = sdd("jobs", "show", "job_nope")
    assert missing.exit_code == 2 and missing.stderr.strip() == "error [not_found] no job with id 'job_nope'"

    usage = sdd("jobs", "submit", "--dataset", "digits")
    assert usage.exit_code == 2 and "--student, --method" in usage.stderr


def test_connection_problems(api: Api, cli_env: Path, sdd_live: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    nothing = sdd_live("jobs", "list")
    assert nothing.exit_code == 2 and nothing.stderr.startswith("error [config] no server URL and no token")

    url = f"http://127.0.0.1:{free_port()}"
    down = sdd_live("jobs", "list", "--url", url, "--token", "sdd_x")
    assert down.exit_code == 3 and down.stderr.startswith("error [unreachable]") and url in down.stderr

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"code": "internal_error", "message": "boom", "param": None}})

    monkeypatch.setattr(
        cli_support,
        "make_client",
        lambda config: SDDClient(config.url, config.token, transport=httpx.MockTransport(broken)),
    )
    failed = sdd_live("catalog", "--url", "http://sdd.example", "--token", "sdd_x")
    assert failed.exit_code == 3 and failed.stderr.strip() == "error [internal_error] boom"


# ---------------------------------------------------------------- list / show / cancel / download


def test_list_show_and_cancel(api: Api, sdd: Run) -> None:
    ids = [api.create_job(seed=seed)["id"] for seed in range(3)]
    assert [job["id"] for job in _json(sdd("jobs", "list", "--json"))] == ids[::-1]
    assert [job["id"] for job in _json(sdd("jobs", "list", "--limit", "2", "--json"))] == ids[::-1][:2]
    table = sdd("jobs", "list")
    assert table.exit_code == 0 and all(job_id in table.stdout for job_id in ids) and "queued" in table.stdout

    cancelled = sdd("jobs", "cancel", ids[0])
    assert cancelled.exit_code == 0 and cancelled.stdout.strip() == f"{ids[0]} cancelled"
    assert [job["id"] for job in _json(sdd("jobs", "list", "--status", "cancelled", "--json"))] == [ids[0]]
    assert sdd("jobs", "cancel", ids[0]).stderr.startswith("error [job_finished]")

    start_job(api, ids[1])
    epoch(api, ids[1], metrics_row(1, 3, 42.5))
    shown = sdd("jobs", "show", ids[1], "--events")
    assert shown.exit_code == 0
    assert "running" in shown.stdout and "epoch 1/" in shown.stdout and "val top-1 42.50%" in shown.stdout
    assert "started (attempt 1)" in shown.stdout and "test-worker" not in shown.stdout
    detail = _json(sdd("jobs", "show", ids[1], "--json", "--events"))
    assert detail["id"] == ids[1] and [e["type"] for e in detail["events"]] == ["queued", "started", "epoch"]


def test_download(api: Api, sdd: Run, tmp_path: Path) -> None:
    job = trained_job(api, (30.0, 50.0))
    out = tmp_path / "out"
    out.mkdir()
    done = sdd("jobs", "download", job["id"], "-o", str(out), "--card")
    assert done.exit_code == 0, done.output
    weights = Path(done.stdout.strip())
    assert weights == out / f"{job['id']}-resnet8.safetensors" and weights.read_bytes().startswith(b"weights of")
    assert json.loads((out / f"{job['id']}-resnet8.card.json").read_text()) == {"arch": "resnet8"}

    again = sdd("jobs", "download", job["id"], "-o", str(weights))
    assert again.exit_code == 2 and again.stderr.startswith("error [file_exists]")
    assert sdd("jobs", "download", job["id"], "-o", str(weights), "--overwrite").exit_code == 0

    early = sdd("jobs", "download", api.create_job()["id"], "-o", str(out / "early.safetensors"))
    assert early.exit_code == 2 and early.stderr.startswith("error [job_not_succeeded]")


# ---------------------------------------------------------------- watch


def test_watch_exit_codes(api: Api, sdd: Run) -> None:
    good = trained_job(api, (40.0, 60.0))
    bad = api.create_job()
    start_job(api, bad["id"])
    fail_job(api, bad["id"], "non_finite", "loss was NaN in most steps")

    ok = sdd("jobs", "watch", good["id"], "--poll", "0.01")
    assert ok.exit_code == 0 and "succeeded" in ok.stdout and "epoch 2/2" in ok.stdout
    both = sdd("jobs", "watch", good["id"], bad["id"], "--poll", "0.01")
    assert both.exit_code == 1
    assert f"{bad['id']} failed: [non_finite] loss was NaN in most steps" in both.stderr


def test_watch_and_submit_wait_over_a_real_server(api: Api, sdd_live: Run, live_url: str) -> None:
    auth = ("--url", live_url, "--token", api.token)
    job = api.create_job(hyperparameters={"epochs": 2})
    worker = play_worker(api, job["id"], 2, "succeeded")
    watched = sdd_live("jobs", "watch", job["id"], "--poll", "0.05", *auth)
    worker.join(timeout=10)
    assert watched.exit_code == 0, watched.output
    assert f"{job['id']} queued -> running" in watched.stdout
    assert f"{job['id']} epoch 1/2: val top-1 40.00%  loss 1.000 (ce 0.400, kd 0.600)" in watched.stdout
    assert f"{job['id']} running -> succeeded" in watched.stdout

    worker = play_worker(api, None, 1, "failed")
    waited = sdd_live(
        "jobs",
        "submit",
        "--dataset",
        "digits",
        "--student",
        "resnet8",
        "--method",
        "ce",
        "--epochs",
        "1",
        "--wait",
        "--poll",
        "0.05",
        "--json",
        *auth,
    )
    worker.join(timeout=10)
    assert waited.exit_code == 1, waited.output
    final = json.loads(waited.stdout)
    assert final["status"] == "failed" and final["error"]["code"] == "non_finite"
    assert "epoch 1/1" in waited.stderr  # the live view goes to stderr with --json


# ---------------------------------------------------------------- compare


def test_compare_table_json_and_plot(api: Api, sdd: Run, tmp_path: Path) -> None:
    teacher = trained_job(api, (50.0, 70.0, 80.0))
    student = trained_job(
        api, (20.0, 45.0, 61.25), method="sd-kd", teacher={"job": teacher["id"]}, scales=[1, 2, 4], beta=2.0
    )
    table = sdd("jobs", "compare", teacher["id"], student["id"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    teacher_line = next(line for line in lines if line.lstrip("│ ").startswith(teacher["id"]) and "ce" in line)
    student_line = next(line for line in lines if line.lstrip("│ ").startswith(student["id"]) and "sd-kd" in line)
    assert "80.00" in teacher_line and "3/3" in teacher_line and "-" in teacher_line
    assert "61.25" in student_line and "1,2,4" in student_line and "2.0" in student_line
    assert f"job:{teacher['id']}" in student_line
    per_epoch = next(line for line in lines if line.lstrip("│ ").startswith("2 "))
    assert "70.00" in per_epoch and "45.00" in per_epoch

    data = _json(sdd("jobs", "compare", teacher["id"], student["id"], "--json"))
    assert [job["id"] for job in data["jobs"]] == [teacher["id"], student["id"]]
    assert [row["val_top1"] for row in data["metrics"][student["id"]]] == [20.0, 45.0, 61.25]

    plot = tmp_path / "curves.svg"
    plotted = sdd("jobs", "compare", teacher["id"], student["id"], "--plot", str(plot), "--json")
    assert plotted.exit_code == 0 and b"<svg" in plot.read_bytes()[:500]
    assert student["id"] in plot.read_text()
    wrong = sdd("jobs", "compare", teacher["id"], "--plot", str(tmp_path / "curves.gif"))
    assert wrong.exit_code == 2 and wrong.stderr.startswith("error [invalid_plot_path]")


# ---------------------------------------------------------------- uploads, catalog, models, login


def test_uploads_catalog_and_the_model_zoo(sdd: Run, tmp_path: Path) -> None:
    archive = tmp_path / "pets.zip"
    archive.write_bytes(zip_bytes(image_folder()))
    uploaded = sdd("datasets", "upload", str(archive), "--name", "pets")
    assert uploaded.exit_code == 0, uploaded.output
    dataset_id = uploaded.stdout.strip()
    assert dataset_id.startswith("ds_") and "2 classes" in uploaded.stderr
    assert [d["id"] for d in _json(sdd("datasets", "list", "--json"))] == [dataset_id]
    assert "pets" in sdd("datasets", "list").stdout

    weights = tmp_path / "teacher.safetensors"
    weights.write_bytes(save(create_model("resnet8", 2).state_dict()))
    model = _json(sdd("models", "upload", str(weights), "--arch", "resnet8", "--num-classes", "2", "--json"))
    assert (model["arch"], model["num_classes"]) == ("resnet8", 2)
    assert [m["id"] for m in _json(sdd("models", "list", "--json"))] == [model["id"]]
    refused = sdd("models", "upload", str(weights), "--arch", "resnet20", "--num-classes", "2")
    assert refused.exit_code == 2 and refused.stderr.startswith("error [")

    zoo = sdd("models")
    assert zoo.exit_code == 0 and "resnet32x4" in zoo.stdout and "SD ok" in zoo.stdout
    assert {row["name"] for row in _json(sdd("models", "--json"))} >= {"resnet8", "resnet32x4"}

    catalog = _json(sdd("catalog", "--json"))
    assert "sd-kd" in {method["name"] for method in catalog["methods"]}
    human = sdd("catalog")
    assert human.exit_code == 0 and "sd-dkd" in human.stdout and "limits:" in human.stdout


def test_login_saves_a_checked_config(api: Api, cli_env: Path, sdd_live: Run, live_url: str) -> None:
    refused = sdd_live("login", "--url", live_url, "--token", "sdd_wrong")
    assert refused.exit_code == 2 and refused.stderr.startswith("error [unauthorized]")
    assert not cli_env.exists()

    logged_in = sdd_live("login", "--url", live_url + "/", input=api.token + "\n")  # token prompted
    assert logged_in.exit_code == 0, logged_in.output
    assert stat.S_IMODE(cli_env.stat().st_mode) == 0o600
    assert json.loads(cli_env.read_text()) == {"url": live_url, "token": api.token}

    job = api.create_job()
    assert [j["id"] for j in _json(sdd_live("jobs", "list", "--json"))] == [job["id"]]


def test_python_m_sdd_client_runs_without_the_training_stack() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code = (
        "import sys; from sdd_client.cli import cli; "
        f"exit_code = cli(['models', 'list', '--url', '{url}', '--token', 'sdd_x'], standalone_mode=False); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'sdd_core', 'service', 'api'}); "
        "print(exit_code, heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "3 []", done.stdout + done.stderr
    assert done.stderr.startswith("error [unreachable]")
