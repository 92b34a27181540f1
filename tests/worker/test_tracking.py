"""Jobs logged to experiment trackers by the runner: a real ``mlflow server`` on loopback, W&B offline.

Real tiny trainings (digits at 8 px, resnet8, two epochs of six batches), run in-process with
``run_job``. A resumed job is the killed attempt of ``test_recovery_runner``: ``Killed`` ends the
first attempt right after its first checkpoint, the reaper re-queues the job, and the second
attempt must continue the same run without sending an epoch twice. A tracker that is down (a
closed port) or never answers (a socket that accepts and stays silent) costs the job at most its
time limits and leaves one ``tracking_unavailable`` event; the job succeeds.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from sqlalchemy import select
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from api.schemas.jobs import JobPublic
from service.artifact_stores import get_artifact_store
from service.db.models import Artifact, Job, JobMetric, JobTag, utcnow
from service.db.session import session_scope
from tests.fixtures.job_rows import job_events, job_row
from tests.fixtures.mlflow import MlflowServer, running_mlflow
from tests.fixtures.servers import ServerUnavailable, free_port
from tests.worker.test_recovery_runner import SPEC, Killed, _after_checkpoint
from worker import runner
from worker.reaper import reap_and_reconcile
from worker.shutdown import clear_shutdown_request

TRACKED = {**SPEC, "tracking": ["mlflow"]}


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    clear_shutdown_request()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mlflow_server() -> Iterator[MlflowServer]:
    try:
        with running_mlflow() as server:
            yield server
    except ServerUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(autouse=True)
def _mlflow_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's own tracking timeout reaches the MLflow client (not an earlier test's)."""
    for name in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)


def _tracked_job(make_job, spec=TRACKED) -> str:
    return make_job(spec, name="digits tracked", tag_rows=[JobTag(tag="digits"), JobTag(tag="tracking-test")])


def _experiment_runs(server: MlflowServer, experiment: str, job_id: str) -> list:
    client = server.client()
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    return client.search_runs([found.experiment_id], filter_string=f"tags.`sdd.job_id` = '{job_id}'")


def _steps(server: MlflowServer, run_id: str, key: str) -> list[int]:
    return [metric.step for metric in server.client().get_metric_history(run_id, key)]


@pytest.mark.slow
def test_a_tracked_job_is_an_mlflow_run_with_params_metrics_tags_and_the_student(
    embedded, sdd_env, make_job, mlflow_server
):
    settings = sdd_env(mlflow_tracking_uri=mlflow_server.url, tracking_flush_s=60)
    job_id = _tracked_job(make_job)
    assert runner.run_job(job_id, settings) == "succeeded"

    job = job_row(settings, job_id)
    stored = job.tracking["mlflow"]
    (run,) = _experiment_runs(mlflow_server, "sdd-jobs/acme", job_id)  # {tenant}: the tenant's name
    assert stored["run_id"] == run.info.run_id and stored["epoch"] == 2
    assert stored["url"] == f"{mlflow_server.url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    public = JobPublic.from_row(job).tracking
    assert public is not None and public.mlflow is not None and public.mlflow.url == stored["url"]
    assert run.info.status == "FINISHED" and run.info.run_name == "digits tracked"

    params = run.data.params
    assert (params["method"], params["student"], params["dataset"]) == ("ce", "resnet8", "digits")
    assert (params["hyperparameters.epochs"], params["hyperparameters.batch_size"]) == ("2", "256")
    assert "scales" not in params and "beta" not in params and "tracking" not in params  # a ce job has neither
    tags = run.data.tags
    assert (tags["sdd.job_id"], tags["sdd.tenant"], tags["sdd.method"], tags["sdd.student"]) == (
        job_id, "acme", "ce", "resnet8"
    )  # fmt: skip
    assert (tags["sdd.teacher"], tags["sdd.dataset"]) == ("none", "digits")
    assert (tags["sdd.job_name"], tags["sdd.tags"]) == ("digits tracked", "digits,tracking-test")

    for key in ("val_top1", "train_loss", "lr", "epoch"):  # one point per epoch, step = epoch
        assert _steps(mlflow_server, run.info.run_id, key) == [1, 2], key
    assert run.data.metrics["val_top1"] == pytest.approx(_last_epoch(settings, job_id)["val_top1"])

    files = {entry.path for entry in mlflow_server.client().list_artifacts(run.info.run_id, "student")}
    suffixes = {"safetensors": "safetensors", "onnx": "onnx", "torchscript": "pt"}  # every format the job kept
    kept = {f"student/student.{suffixes[fmt]}" for fmt in job.result["student_formats"]}
    assert "student/student.safetensors" in kept and files == kept | {"student/card.json"}
    card = json.loads(Path(mlflow_server.client().download_artifacts(run.info.run_id, "student/card.json")).read_text())
    assert card["arch"] == "resnet8"
    assert "tracking_unavailable" not in [event.type for event in job_events(settings, job_id)]


def _last_epoch(settings, job_id: str) -> dict:
    with session_scope(settings) as session:
        return session.scalar(
            select(JobMetric.data).where(JobMetric.job_id == job_id).order_by(JobMetric.epoch.desc()).limit(1)
        )


@pytest.mark.slow
def test_a_resumed_job_continues_its_run_without_sending_an_epoch_twice(
    embedded, sdd_env, make_job, mlflow_server, monkeypatch
):
    settings = sdd_env(mlflow_tracking_uri=mlflow_server.url, mlflow_experiment="resumed-{tenant}", tracking_flush_s=60)
    job_id = _tracked_job(make_job)

    def die(_callbacks):
        raise Killed

    with monkeypatch.context() as patch:  # the first attempt dies right after epoch 1's checkpoint
        _after_checkpoint(patch, 1, die)
        with pytest.raises(Killed):
            runner.run_job(job_id, settings)
    first = job_row(settings, job_id).tracking["mlflow"]
    assert first["epoch"] == 1
    (run,) = _experiment_runs(mlflow_server, "resumed-acme", job_id)
    assert run.info.status == "RUNNING" and _steps(mlflow_server, first["run_id"], "val_top1") == [1]

    with session_scope(settings) as session:
        row = session.get(Job, job_id)
        row.lease_expires_at = utcnow() - timedelta(seconds=1)
        # as if the attempt died between sending epoch 1 and storing that it did: the tracker is asked
        row.tracking = {"mlflow": {**first, "epoch": 0}}
    assert reap_and_reconcile(settings, send=lambda *_: None).requeued == [job_id]
    assert runner.run_job(job_id, settings) == "succeeded"

    second = job_row(settings, job_id).tracking["mlflow"]
    assert (second["run_id"], second["url"], second["epoch"]) == (first["run_id"], first["url"], 2)
    (run,) = _experiment_runs(mlflow_server, "resumed-acme", job_id)  # still one run for the job
    assert run.info.status == "FINISHED"
    for key in ("val_top1", "train_loss", "epoch"):
        assert _steps(mlflow_server, run.info.run_id, key) == [1, 2], key


def test_a_tracking_server_that_is_down_leaves_an_event_and_the_job_succeeds(embedded, sdd_env, make_job):
    closed = free_port()  # nothing listens there
    settings = sdd_env(mlflow_tracking_uri=f"http://tracker:s3cret-password@127.0.0.1:{closed}", tracking_timeout_s=2)
    job_id = make_job(TRACKED)
    assert runner.run_job(job_id, settings) == "succeeded"

    unavailable = [event for event in job_events(settings, job_id) if event.type == "tracking_unavailable"]
    assert len(unavailable) == 1  # once per attempt, however many epochs found it down
    event = unavailable[0]
    assert event.data["tracker"] == "mlflow" and event.message.startswith("MLflow tracking unavailable: ")
    assert "training goes on" in event.message
    assert f"127.0.0.1:{closed}" in event.data["error"]
    assert "s3cret" not in event.message + json.dumps(event.data) and "tracker:" not in event.data["error"]
    assert job_row(settings, job_id).tracking is None  # no run was ever opened


def test_a_tracking_server_that_never_answers_costs_the_job_at_most_its_time_limits(embedded, sdd_env, make_job):
    silent = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        untracked = make_job(SPEC)
        started = time.monotonic()
        assert runner.run_job(untracked, embedded) == "succeeded"
        baseline = time.monotonic() - started

        port = silent.getsockname()[1]
        settings = sdd_env(mlflow_tracking_uri=f"http://127.0.0.1:{port}", tracking_timeout_s=1, tracking_flush_s=2)
        job_id = make_job(TRACKED)
        started = time.monotonic()
        assert runner.run_job(job_id, settings) == "succeeded"
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    # training never waits for the tracker; the ended job waits at most tracking_flush_s (plus loading mlflow)
    assert elapsed < baseline + 2 + 10, (elapsed, baseline)
    (event,) = [event for event in job_events(settings, job_id) if event.type == "tracking_unavailable"]
    assert event.data["tracker"] == "mlflow"


def test_a_tracker_turned_off_after_the_job_was_accepted_is_named_in_an_event(embedded, make_job):
    job_id = make_job({**SPEC, "tracking": ["wandb"]})  # accepted while W&B was configured; now it is not
    assert runner.run_job(job_id, embedded) == "succeeded"
    (event,) = [event for event in job_events(embedded, job_id) if event.type == "tracking_unavailable"]
    assert event.data == {"tracker": "wandb"} and "no longer configured" in event.message
    assert job_row(embedded, job_id).tracking is None


# ---------------------------------------------------------------- Weights & Biases, offline


def wandb_records(path: Path) -> list:
    """The records of a W&B run file (``run-<id>.wandb``): a 7-byte header (``:W&B``, magic,
    version), then LevelDB-log records in 32 KiB blocks (CRC, length, type; a record may span blocks)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:8]
    block, records, pending, offset = 32768, [], b"", 7
    while offset + 7 <= len(data):
        if block - offset % block < 7:  # the block's tail is padding
            offset += block - offset % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[offset : offset + 7])
        if length == 0 and kind == 0:
            break
        pending += data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind in (1, 4):  # FULL or LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


@pytest.mark.slow
def test_a_wandb_run_kept_offline_is_written_under_the_wandb_folder(embedded, sdd_env, make_job, tmp_path):
    pytest.importorskip("wandb")
    settings = sdd_env(  # generous limits: a busy machine may take seconds to start W&B's service process
        wandb_mode="offline", wandb_dir=tmp_path / "wandb-runs", tracking_timeout_s=60, tracking_flush_s=60
    )
    job_id = make_job({**SPEC, "tracking": ["wandb"]}, name="digits offline")
    assert runner.run_job(job_id, settings) == "succeeded"

    stored = job_row(settings, job_id).tracking["wandb"]
    assert stored == {"run_id": job_id, "url": None, "epoch": 2}  # no link until the operator syncs it
    (run_file,) = (tmp_path / "wandb-runs").glob(f"wandb/offline-run-*-{job_id}/run-{job_id}.wandb")
    records = wandb_records(run_file)
    history = {
        record.history.step.num: {
            item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item
        }
        for record in records
        if record.WhichOneof("record_type") == "history"
    }
    assert sorted(history) == [1, 2]  # step = epoch
    history = [history[step] for step in sorted(history)]
    assert [row["epoch"] for row in history] == [1, 2] and all("val_top1" in row for row in history)
    (run,) = [record.run for record in records if record.WhichOneof("record_type") == "run"]
    assert (run.run_id, run.display_name) == (job_id, "digits offline")
    assert "sdd.tenant=acme" in run.tags
    artifacts = [record.artifact for record in records if record.WhichOneof("record_type") == "artifact"]
    assert [artifact.name for artifact in artifacts] == [f"{job_id}-student"]
    (exit_record,) = [record.exit for record in records if record.WhichOneof("record_type") == "exit"]
    assert exit_record.exit_code == 0


def test_every_job_stores_its_metrics_as_a_tensorboard_event_file(embedded, make_job):
    job_id = make_job(SPEC)
    assert runner.run_job(job_id, embedded) == "succeeded"
    with session_scope(embedded) as session:
        artifact = session.scalar(select(Artifact).where(Artifact.job_id == job_id, Artifact.kind == "tensorboard"))
        assert artifact is not None
        key = artifact.key
    assert key == f"jobs/{job_id}/tensorboard/events.out.tfevents.{job_id}"
    events = EventAccumulator(str(get_artifact_store(embedded).path(key)))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"train/loss", "val/top1", "val/top5", "lr", "images_per_s"} <= set(scalars)
    assert "epoch" not in scalars and "data_path" not in scalars
    assert [event.step for event in events.Scalars("val/top1")] == [1, 2]
    assert events.Scalars("val/top1")[-1].value == pytest.approx(_last_epoch(embedded, job_id)["val_top1"])
