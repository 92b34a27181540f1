"""The ``sdd`` client commands through click's runner, against the real API app.

Most tests route the commands' client through a ``TestClient`` (``cli_support.make_client`` is
swapped); ``watch``, ``submit --wait`` and ``login`` also run against uvicorn on a real socket.
"""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result
from safetensors.torch import save
from sqlalchemy.orm import make_transient

from domain.jobs.transitions import finish
from sdd_cli.main import cli
from sdd_client import SDDClient, cli_support
from sdd_client.config import write_config_file
from sdd_client.models import Job
from sdd_client.submit_flags import clone_body
from sdd_core.models import create_model
from service.artifact_stores import get_artifact_store
from service.db.models import Job as JobRow
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
    succeed_running,
    trained_job,
)
from worker.training_callbacks import JobCallbacks

Run = Callable[..., Result]
NOT_FOUND = (
    "error [not_found] no job matches 'job_nope': not a job id (job_ and 24 hex digits); not an id prefix "
    "either (job_ and at least 6 hex digits); none of your jobs is named so (`sdd jobs list` shows them)"
)


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
    assert plain.exit_code == 2 and plain.stderr.startswith("error [not_found]") and "(--teacher-job)" in plain.stderr

    keyed = [
        sdd(
            "jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "ce", "--idempotency-key", "k1"
        )
        for _ in range(2)
    ]
    assert keyed[0].stdout == keyed[1].stdout and keyed[0].stdout.startswith("job_")
    assert "submitted " in keyed[0].stderr


def test_submit_names_the_protocol_and_the_trackers(sdd: Run) -> None:
    base = ("jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "ce")
    job = _json(sdd(*base, "--protocol", "literature", "--json"))
    assert job["spec"]["protocol"] == "literature"
    untracked = sdd(*base, "--track", "mlflow")  # this test server configures no tracker
    assert untracked.exit_code == 2 and "[tracking_not_configured]" in untracked.stderr
    assert "SDD_MLFLOW_TRACKING_URI" in untracked.stderr
    assert sdd(*base, "--track", "comet").exit_code == 2  # only the trackers the service knows


def test_submit_from_clones_a_job_with_the_flags_on_top(api: Api, sdd: Run, tmp_path: Path) -> None:
    teacher = trained_job(api, (50.0, 70.0))
    chosen = {"epochs": 3, "lr": 0.1, "batch_size": 32}
    source = api.create_job(
        method="kd",
        teacher={"job": teacher["id"]},
        seed=5,
        hyperparameters=chosen,
        metadata={"experiment": "a"},
    )

    def clone(*flags: str) -> dict[str, Any]:
        """The clone as the server stored it (the CLI's --json goes through the client's models)."""
        job = _json(sdd("jobs", "submit", "--from", source["id"], *flags, "--json"))
        assert isinstance(job, dict) and job["id"] != source["id"] and job["status"] == "queued"
        stored: dict[str, Any] = api.get(f"/v1/jobs/{job['id']}").json()
        return stored

    same = clone()
    assert same["spec"] == source["spec"] and same["metadata"] == {"experiment": "a"}

    # beta shapes the SD methods only: on the kd source it is refused, naming the field; with sd-kd it is kept
    no_beta = sdd("jobs", "submit", "--from", source["id"], "--beta", "4")
    assert no_beta.exit_code == 2
    assert no_beta.stderr.startswith("error [validation_error] beta: shapes only the scale-decoupled methods")
    beta = clone("--method", "sd-kd", "--beta", "4", "--metadata", "run=2")
    fresh = api.create_job(method="sd-kd", teacher={"job": teacher["id"]}, seed=5, hyperparameters=chosen, beta=4)
    assert beta["spec"] == fresh["spec"] and beta["spec"]["beta"] == 4.0
    assert beta["metadata"] == {"experiment": "a", "run": 2}

    # A new method takes its own defaults where the source had kd's (ce/kd weights, warm-up);
    # what the source chose is kept: the same spec as submitting the new method with those choices.
    for method in ("sd-dkd", "ce"):
        changed = clone("--method", method)
        fresh = api.create_job(
            method=method,
            seed=5,
            hyperparameters=chosen,
            **({"teacher": {"job": teacher["id"]}} if method != "ce" else {}),
        )
        assert changed["spec"] == fresh["spec"], method
    assert changed["spec"]["teacher"] is None  # ce takes no teacher

    # The source's decay milestones were its default's, fitted to 3 epochs: a longer copy gets them refitted.
    longer = clone("--epochs", "12")
    fresh = api.create_job(
        method="kd", teacher={"job": teacher["id"]}, seed=5, hyperparameters={**chosen, "epochs": 12}
    )
    assert longer["spec"] == fresh["spec"] and longer["spec"]["hyperparameters"]["lr_decay_epochs"] == [8, 9, 10]
    stated = api.create_job(
        method="kd", teacher={"job": teacher["id"]}, hyperparameters={"epochs": 3, "lr_decay_epochs": [1]}
    )
    kept = _json(sdd("jobs", "submit", "--from", stated["id"], "--epochs", "12", "--json"))
    assert isinstance(kept, dict) and kept["spec"]["hyperparameters"]["lr_decay_epochs"] == [1]  # stated: kept

    student = clone("--student", "resnet20", "--seed", "6")
    fresh = api.create_job(
        student="resnet20", method="kd", teacher={"job": teacher["id"]}, seed=6, hyperparameters=chosen
    )
    assert student["spec"] == fresh["spec"]

    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump({"dataset": "digits", "student": "resnet8", "method": "ce"}))
    both = sdd("jobs", "submit", "--from", source["id"], "--file", str(spec))
    assert both.exit_code == 2 and "give --from (clone a job) or --file (a spec file), not both" in both.stderr
    missing = sdd("jobs", "submit", "--from", "job_nope", "--beta", "4")
    assert missing.exit_code == 2 and missing.stderr.strip() == NOT_FOUND
    refused = sdd("jobs", "submit", "--from", source["id"], "--beta", "-1")
    assert refused.exit_code == 2 and refused.stderr.startswith("error [validation_error] beta:")
    help_text = " ".join(sdd("jobs", "submit", "--help").stdout.split())
    assert "--from JOB Clone this job" in help_text and "(flags win; not with --file)" in help_text


def test_a_clone_for_another_dataset_leaves_its_image_size_and_flip_to_it(api: Api) -> None:
    source = Job.model_validate(api.create_job(image_size=16, hyperparameters={"flip": False, "epochs": 4}))
    assert source.request["image_size"] == 16 and source.request["hyperparameters"] == {"flip": False, "epochs": 4}
    body = clone_body(source, {"dataset": "ds_0123"}, ())
    assert body["dataset"] == "ds_0123" and "image_size" not in body
    assert body["hyperparameters"] == {"epochs": 4}
    assert clone_body(source, {}, ())["image_size"] == 16  # the same dataset: what the source stated


def test_a_clone_to_a_method_that_is_not_scale_decoupled_leaves_the_sources_scales_and_beta(api: Api) -> None:
    teacher = trained_job(api, (50.0,))
    sd = api.create_job(method="sd-kd", teacher={"job": teacher["id"]}, scales=[1, 2], beta=4.0)
    source = Job.model_validate(sd)
    assert not {"scales", "beta"} & set(clone_body(source, {"method": "kd"}, ()))
    assert clone_body(source, {"method": "sd-dkd"}, ())["scales"] == [1, 2]  # another SD method keeps them
    assert clone_body(source, {"method": "kd", "beta": 3.0}, ())["beta"] == 3.0  # given: for the server to refuse


def test_refused_requests_print_the_server_error_without_traceback(sdd: Run) -> None:
    invalid = sdd("jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "sd-xyz")
    assert invalid.exit_code == 2
    assert invalid.stderr.startswith("error [validation_error] method:")
    assert invalid.stderr.rstrip().endswith("(method)")

    missing = sdd("jobs", "show", "job_nope")
    assert missing.exit_code == 2 and missing.stderr.strip() == NOT_FOUND

    usage = sdd("jobs", "submit", "--dataset", "digits")
    assert usage.exit_code == 2 and "--student, --method" in usage.stderr


def test_a_teacher_refusal_names_the_flags_to_use(sdd: Run) -> None:
    base = ("jobs", "submit", "--dataset", "digits", "--student", "resnet8")
    missing = sdd(*base, "--method", "kd")
    assert missing.exit_code == 2
    assert missing.stderr.strip() == (
        "error [validation_error] teacher: method 'kd' distils from a teacher: "
        "give --teacher-job JOB_ID, --teacher-model MODEL or --teacher-pretrained ARCH"
    )
    extra = sdd(*base, "--method", "ce", "--teacher-model", "mdl_x")
    assert extra.exit_code == 2 and "drop --teacher-job/--teacher-model" in extra.stderr
    unknown = sdd(*base, "--method", "kd", "--teacher-job", "job_nope")
    assert unknown.exit_code == 2 and unknown.stderr.rstrip().endswith("(--teacher-job)"), unknown.stderr


def test_connection_problems(api: Api, cli_env: Path, sdd_live: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    nothing = sdd_live("jobs", "list")
    assert nothing.exit_code == 2 and nothing.stderr.startswith("error [config] no server URL and no token")

    url = f"http://127.0.0.1:{free_port()}"
    down = sdd_live("jobs", "list", "--url", url, "--token", "sdd_x")
    assert down.exit_code == 3 and down.stderr.count("\n") == 1, down.stderr
    assert down.stderr.startswith(f"error [unreachable] cannot reach the sdd-jobs server at {url}: ")
    assert down.stderr.rstrip().endswith(". Check --url (or SDD_URL / `sdd login`), or start one with `sdd up`.")
    assert "Connection refused" in down.stderr

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


def test_names_and_tags_from_submit_to_list(api: Api, sdd: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "ce"]
    named = _json(sdd(*base, "--name", "baseline lr 0.1", "--tag", "digits", "--tag", "lr", "--json"))
    assert (named["name"], named["tags"]) == ("baseline lr 0.1", ["digits", "lr"])
    other = sdd(*base, "--tag", "digits").stdout.strip()
    clone = _json(sdd("jobs", "submit", "--from", named["id"], "--seed", "3", "--tag", "seeds", "--json"))
    assert (clone["name"], clone["tags"]) == (None, ["digits", "lr", "seeds"])  # tags kept, the name is its own

    assert sdd("jobs", "list", "--tag", "digits", "--quiet").stdout.split() == [clone["id"], other, named["id"]]
    assert sdd("jobs", "list", "--tag", "digits", "--tag", "seeds", "-q").stdout.split() == [clone["id"]]
    assert sdd("jobs", "list", "--name", "BASELINE", "-q").stdout.split() == [named["id"]]
    nothing = sdd("jobs", "list", "--tag", "nope")
    assert nothing.exit_code == 0 and nothing.stderr.strip() == "no jobs tagged nope"

    # A narrow terminal squeezes the other columns, never the ids users copy.
    monkeypatch.setenv("COLUMNS", "80")
    table = sdd("jobs", "list").stdout
    assert all(job_id in table for job_id in (named["id"], other, clone["id"])), table
    monkeypatch.setenv("COLUMNS", "120")
    assert "baseline lr 0.1" in sdd("jobs", "list").stdout


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
    epochs = _json(sdd("jobs", "show", ids[1], "--json"))["progress"]["epochs"]
    assert "running" in shown.stdout and f"1/{epochs} done" in shown.stdout and "val top-1 42.50%" in shown.stdout
    assert "complementary 20.0%" in shown.stdout  # a percent, as on the dashboard and in the plots
    assert "started (attempt 1)" in shown.stdout and "test-worker" not in shown.stdout
    detail = _json(sdd("jobs", "show", ids[1], "--json", "--events"))
    assert detail["id"] == ids[1] and [e["type"] for e in detail["events"]] == ["queued", "started", "epoch"]


def test_resume_a_cancelled_job(api: Api, sdd: Run) -> None:
    job_id = api.create_job(hyperparameters={"epochs": 3})["id"]
    start_job(api, job_id)
    epoch(api, job_id, metrics_row(1, 3, 42.5))
    assert sdd("jobs", "cancel", job_id).stdout.strip() == f"{job_id} cancelling"
    with api.session() as session:
        assert finish(session, job_id, "cancelled")
    resumed = sdd("jobs", "resume", job_id)
    assert resumed.exit_code == 0 and resumed.stdout.strip() == f"{job_id} queued (after epoch 1 of 3)"
    assert _json(sdd("jobs", "show", job_id, "--json"))["status"] == "queued"
    again = sdd("jobs", "resume", job_id)
    assert again.exit_code != 0 and again.stderr.startswith("error [job_active]")


def test_events_and_checkpoints_as_the_worker_records_them(api: Api, sdd: Run, tmp_path: Path) -> None:
    job_id = api.create_job(hyperparameters={"epochs": 3})["id"]
    start_job(api, job_id)  # claimed by "test-worker"
    worker = JobCallbacks(
        job_id,
        api.settings.model_copy(update={"keep_checkpoints": 2}),
        get_artifact_store(api.settings),
        worker="test-worker",
    )
    weights = tmp_path / "checkpoint.pt"
    for index in (1, 2, 3):
        worker.on_epoch_end(metrics_row(index, 3, 30.0 + 10 * index))
        weights.write_bytes(b"weights of epoch %d" % index * 100)
        worker.on_checkpoint(index, weights)  # keeps the newest two
    succeed_running(api, job_id, (40.0, 50.0, 60.0))

    events = _json(sdd("jobs", "events", job_id, "--json"))
    assert isinstance(events, list)
    kinds = ["queued", "started"] + ["epoch", "checkpoint"] * 3 + ["succeeded"]
    assert [event["type"] for event in events] == kinds  # oldest first
    assert events[3]["message"] == "checkpoint of epoch 1 stored"
    table = sdd("jobs", "events", job_id)
    assert table.exit_code == 0, table.output
    assert f"events of {job_id}" in table.stdout and "started (attempt 1)" in table.stdout
    rows = [line for line in table.stdout.splitlines() if line[:4].isdigit()]  # time, type, message
    assert [line.split()[2] for line in rows] == kinds
    assert "test-worker" not in table.stdout
    shown = sdd("jobs", "show", job_id, "--events")  # the same table, under the job
    assert all(line in shown.stdout for line in rows)

    checkpoints = _json(sdd("jobs", "checkpoints", job_id, "--json"))
    assert isinstance(checkpoints, list)
    assert [c["epoch"] for c in checkpoints] == [2, 3]
    assert [c["size_bytes"] for c in checkpoints] == [1800, 1800]
    sha = checkpoints[1]["sha256"]
    assert sha == hashlib.sha256(b"weights of epoch 3" * 100).hexdigest()
    listed = sdd("jobs", "checkpoints", job_id)
    assert listed.exit_code == 0, listed.output
    line = next(line for line in listed.stdout.splitlines() if line.split()[:1] == ["3"])
    assert "1.8 KiB" in line and f"{sha[:12]}…" in line and sha not in line

    queued = api.create_job()["id"]
    none = sdd("jobs", "checkpoints", queued)
    assert none.exit_code == 0 and none.stdout == "" and f"no checkpoints stored for {queued}" in none.stderr
    assert _json(sdd("jobs", "checkpoints", queued, "--json")) == []
    for command in ("events", "checkpoints"):
        for extra in ((), ("--json",)):
            missing = sdd("jobs", command, "job_nope", *extra)
            assert missing.exit_code == 2 and missing.stdout == ""
            assert missing.stderr.strip() == NOT_FOUND
    other = sdd("jobs", "events", job_id, "--token", api.other_token)  # another tenant's job is not found
    assert other.exit_code == 2 and other.stderr.startswith("error [not_found]")


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


def test_download_in_another_format(api: Api, sdd: Run, tmp_path: Path) -> None:
    job = api.create_job()
    api.succeed_job(job["id"], exports={"onnx": b"an onnx graph"})
    done = sdd("jobs", "download", job["id"], "-o", str(tmp_path), "--format", "onnx")
    assert done.exit_code == 0, done.output
    assert Path(done.stdout.strip()) == tmp_path / f"{job['id']}-resnet8.onnx"
    assert (tmp_path / f"{job['id']}-resnet8.onnx").read_bytes() == b"an onnx graph"

    missing = sdd("jobs", "download", job["id"], "-o", str(tmp_path), "--format", "torchscript")
    assert missing.exit_code == 2 and missing.stderr.startswith("error [export_missing]"), missing.stderr
    assert not list(tmp_path.glob("*.pt*")), "nothing half-written"
    unknown = sdd("jobs", "download", job["id"], "--format", "tflite")
    assert unknown.exit_code == 2 and "'tflite' is not one of 'safetensors', 'onnx', 'torchscript'" in unknown.output


# ---------------------------------------------------------------- watch


def test_watch_exit_codes(api: Api, sdd: Run) -> None:
    good = trained_job(api, (40.0, 60.0))
    bad = api.create_job()
    start_job(api, bad["id"])
    fail_job(api, bad["id"], "non_finite", "loss was NaN in most steps")

    ok = sdd("jobs", "watch", good["id"], "--poll", "0.01")
    assert ok.exit_code == 0 and "succeeded" in ok.stdout and "2/2 done" in ok.stdout
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
    assert f"{job['id']} epoch 1/2 done: val top-1 40.00%  loss 1.000 (ce 0.400, kd 0.600)" in watched.stdout
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
    assert "1/1 done" in waited.stderr  # the live view goes to stderr with --json


# ---------------------------------------------------------------- names and id prefixes


def _copy_job(api: Api, job_id: str, new_id: str) -> None:
    """The job's row again under ``new_id``: two jobs whose ids share a prefix (ids are random)."""
    with api.session() as session:
        row = session.get(JobRow, job_id)
        assert row is not None
        session.expunge(row)
        make_transient(row)
        row.id = new_id
        session.add(row)
        session.commit()


def test_a_job_is_named_by_its_id_a_prefix_or_its_name_wherever_an_id_is(api: Api, sdd: Run, tmp_path: Path) -> None:
    named = trained_job(api, (40.0, 60.0), name="kd baseline")
    other = api.create_job(name="sd-kd β=2")
    prefix = named["id"][:10]  # job_ and 6 hex digits
    for ref in (named["id"], prefix, "kd baseline"):
        assert _json(sdd("jobs", "show", ref, "--json"))["id"] == named["id"], ref
    assert named["id"] in sdd("jobs", "events", prefix).stdout
    assert named["id"] in sdd("jobs", "checkpoints", "kd baseline").stderr  # none stored, named by id
    downloaded = sdd("jobs", "download", "kd baseline", "-o", str(tmp_path))
    assert downloaded.exit_code == 0 and Path(downloaded.stdout.strip()).name.startswith(named["id"])
    compared = _json(sdd("jobs", "compare", "kd baseline", other["id"][:12], "--json"))
    assert [job["id"] for job in compared["jobs"]] == [named["id"], other["id"]]
    watched = sdd("jobs", "watch", "kd baseline", "--poll", "0.01")
    assert watched.exit_code == 0 and "kd baseline" in watched.stdout and named["id"] in watched.stdout
    assert sdd("jobs", "cancel", "sd-kd β=2").stdout.strip() == f"{other['id']} cancelled"
    assert sdd("jobs", "resume", other["id"][:10]).stdout.startswith(f"{other['id']} queued")
    clone = _json(sdd("jobs", "submit", "--from", "kd baseline", "--seed", "5", "--json"))
    assert clone["spec"]["seed"] == 5 and clone["id"] != named["id"]
    base = ("jobs", "submit", "--dataset", "digits", "--student", "resnet8", "--method", "kd", "--json")
    student = _json(sdd(*base, "--teacher-job", "kd baseline"))
    assert student["spec"]["teacher"]["job"] == named["id"]

    twin = api.create_job(name="kd baseline")
    ambiguous = sdd("jobs", "show", "kd baseline")
    assert ambiguous.exit_code == 2 and ambiguous.stdout == ""
    assert ambiguous.stderr.strip() == (
        f"error [ambiguous] 2 jobs are named 'kd baseline': {twin['id']} (kd baseline), "
        f"{named['id']} (kd baseline); give the id"
    )
    assert sdd(*base, "--teacher-job", "kd baseline").stderr.startswith("error [ambiguous] 2 jobs are named")

    lookalike = prefix + ("e" if named["id"][10] == "f" else "f") + "0" * 13
    _copy_job(api, other["id"], lookalike)
    short = sdd("jobs", "show", prefix)
    assert short.exit_code == 2 and short.stderr.startswith(f"error [ambiguous] 2 jobs start with '{prefix}': ")
    assert f"{lookalike} (sd-kd β=2)" in short.stderr and f"{named['id']} (kd baseline)" in short.stderr
    assert _json(sdd("jobs", "show", named["id"][:11], "--json"))["id"] == named["id"]  # one digit more: unique

    too_short = sdd("jobs", "show", named["id"][:9])
    assert too_short.exit_code == 2 and too_short.stderr.strip() == (
        f"error [not_found] no job matches '{named['id'][:9]}': not a job id (job_ and 24 hex digits); not an id "
        "prefix either (job_ and at least 6 hex digits); none of your jobs is named so (`sdd jobs list` shows them)"
    )
    unknown = sdd("jobs", "watch", "job_abcdef", "--poll", "0.01")
    assert unknown.exit_code == 2 and "no job id of yours starts with it" in unknown.stderr


# ---------------------------------------------------------------- compare


def test_compare_table_json_and_plot(api: Api, sdd: Run, tmp_path: Path) -> None:
    teacher = trained_job(api, (50.0, 70.0, 80.0))
    student = trained_job(
        api, (20.0, 45.0, 61.25), method="sd-kd", teacher={"job": teacher["id"]}, scales=[1, 2, 4], beta=2.0
    )
    table = sdd("jobs", "compare", teacher["id"], student["id"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    teacher_line = next(line for line in lines if line.split()[:2] == ["#1", teacher["id"]])
    student_line = next(line for line in lines if line.split()[:2] == ["#2", student["id"]])
    assert "80.00" in teacher_line and "3/3 done" in teacher_line and "-" in teacher_line
    assert "61.25" in student_line and "1,2,4" in student_line and "2.0" in student_line
    assert f"job:{teacher['id']}" in student_line
    per_epoch = next(line for line in lines if line.split()[:1] == ["2"])
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


def test_compare_names_the_jobs_and_a_running_job_s_top1_is_so_far(api: Api, sdd: Run, tmp_path: Path) -> None:
    done = trained_job(api, (50.0, 70.0), name="kd baseline")
    running = api.create_job(name="sd-kd β=2", hyperparameters={"epochs": 3})
    start_job(api, running["id"])
    epoch(api, running["id"], metrics_row(1, 3, 45.0))
    plot = tmp_path / "curves.svg"
    table = sdd("jobs", "compare", "kd baseline", "sd-kd β=2", "--plot", str(plot))
    assert table.exit_code == 0, table.output
    rows = {line.split()[0]: line for line in table.stdout.splitlines() if line.startswith("#")}
    assert done["id"] in rows["#1"] and "kd baseline" in rows["#1"] and "70.00 " in rows["#1"]
    assert "so far" not in rows["#1"] and "2/2 done" in rows["#1"]
    assert running["id"] in rows["#2"] and "sd-kd β=2" in rows["#2"] and "running" in rows["#2"]
    assert "45.00 so far" in rows["#2"] and "1/3 done" in rows["#2"] and "final" not in table.stdout
    assert "#1" in table.stdout.split("val top-1 per epoch")[1]  # the per-epoch columns are keyed by #
    svg = plot.read_text()
    assert f"kd baseline ({done['id']})" in svg and f"sd-kd β=2 ({running['id']})" in svg  # the legend


# ---------------------------------------------------------------- uploads, catalog, models, login


def test_uploads_catalog_and_the_model_zoo(sdd: Run, tmp_path: Path) -> None:
    archive = tmp_path / "pets.zip"
    archive.write_bytes(zip_bytes(image_folder()))
    uploaded = sdd("datasets", "upload", str(archive), "--name", "pets")
    assert uploaded.exit_code == 0, uploaded.output
    dataset_id = uploaded.stdout.strip()
    assert dataset_id.startswith("ds_") and "pets is ingesting" in uploaded.stderr
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
    assert "`sdd token create`" in refused.stderr
    assert not cli_env.exists()

    logged_in = sdd_live("login", "--url", live_url + "/", input=api.token + "\n")  # token prompted
    assert logged_in.exit_code == 0, logged_in.output
    assert stat.S_IMODE(cli_env.stat().st_mode) == 0o600
    assert json.loads(cli_env.read_text()) == {"url": live_url, "token": api.token}

    job = api.create_job()
    assert [j["id"] for j in _json(sdd_live("jobs", "list", "--json"))] == [job["id"]]


def test_a_refused_token_says_to_log_in_again_and_where_it_came_from(
    api: Api, cli_env: Path, sdd_live: Run, live_url: str
) -> None:
    write_config_file(live_url, "sdd_expired", cli_env)
    stored = sdd_live("jobs", "list")
    assert stored.exit_code == 2
    assert stored.stderr.strip() == (
        "error [unauthorized] the server refused the token (401): run `sdd login` to store a new one "
        f"(this one came from {cli_env})"
    )
    flag = sdd_live("catalog", "--token", "sdd_expired")
    assert flag.exit_code == 2 and flag.stderr.rstrip().endswith("(this one came from --token)")
    write_config_file(live_url, api.token, cli_env)  # a good saved token, which SDD_TOKEN hides
    env = _runner({"SDD_TOKEN": "sdd_expired"})("jobs", "list")
    assert env.exit_code == 2 and env.stderr.strip() == (
        "error [unauthorized] the server refused the token (401): it came from $SDD_TOKEN, which wins over the "
        "token `sdd login` saved: unset SDD_TOKEN to use the saved one, or set it to a valid token"
    )


def test_login_says_where_the_token_is_kept_and_when_sdd_token_hides_it(api: Api, cli_env: Path, live_url: str) -> None:
    shown = _runner()("login", "--help")
    assert "mode 0600" in shown.stdout and "~/.config/sdd/config.json" in shown.stdout
    assert "$SDD_CONFIG" in shown.stdout and "SDD_TOKEN" in shown.stdout
    hidden = _runner({"SDD_TOKEN": "sdd_other"})("login", "--url", live_url, "--token", api.token)
    assert hidden.exit_code == 0 and f"saved to {cli_env}" in hidden.stdout
    assert "note: $SDD_TOKEN is set in this shell and wins over the saved token" in hidden.stderr


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
