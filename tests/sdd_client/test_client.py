"""``SDDClient`` against the real API app: every call, its errors, paging, downloads, config."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from safetensors.torch import save
from sqlalchemy import select

from sdd_client import (
    APIError,
    ChecksumMismatch,
    ConfigError,
    JobSubmission,
    SDDClient,
    ServiceUnreachable,
    WaitTimeout,
    models,
)
from sdd_client.config import resolve_config, write_config_file
from sdd_client.retries import RetryPolicy
from sdd_core.models import create_model
from service.artifact_stores import get_artifact_store
from service.artifacts import job_checkpoint_key
from service.db.models import Artifact
from tests.api.conftest import Api
from tests.api.test_datasets import image_folder, zip_bytes
from tests.fixtures.servers import free_port
from tests.sdd_client.conftest import TEST_URL, epoch, fail_job, metrics_row, start_job, trained_job
from worker.ingestion import ingest_dataset

CE = {"dataset": "digits", "student": "resnet8", "method": "ce"}


def test_importing_the_client_loads_neither_torch_nor_the_service() -> None:
    code = (
        "import sys, sdd_client, sdd_client.models, sdd_client.config; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'sdd_core', 'service', 'api', 'worker', 'fastapi', 'sqlalchemy', 'celery'}); "
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


# ---------------------------------------------------------------- jobs


def test_submit_get_and_idempotency(sdd: SDDClient) -> None:
    job = sdd.submit({**CE, "hyperparameters": {"epochs": 3}, "metadata": {"run": "a"}})
    assert job.id.startswith("job_") and job.status == "queued" and not job.is_terminal
    assert job.spec.hyperparameters.epochs == 3 and job.spec.hyperparameters.lr == 0.05  # defaults filled
    assert job.progress.epochs == 3 and job.metadata == {"run": "a"}
    assert sdd.get(job.id) == job

    typed = JobSubmission(
        dataset="digits",
        student="resnet8",
        method="sd-kd",
        teacher={"job": job.id},
        scales=[1, 2],
        hyperparameters=models.Hyperparameters(epochs=1),
    )
    with pytest.raises(APIError) as refused:  # the teacher job has not succeeded
        sdd.submit(typed)
    assert refused.value.status == 409 and refused.value.param == "teacher.job"

    first = sdd.submit(CE, idempotency_key="key-1")
    assert sdd.submit(CE, idempotency_key="key-1").id == first.id
    assert sdd.submit(CE, idempotency_key="key-2").id != first.id


def test_errors_carry_the_envelope(api: Api, sdd: SDDClient) -> None:
    with pytest.raises(APIError) as invalid:
        sdd.submit({**CE, "method": "sd-xyz"})
    error = invalid.value
    assert (error.status, error.code, error.param) == (422, "validation_error", "method")
    assert "sd-kd" in error.message and error.is_client_error
    assert str(error).startswith("[validation_error]")

    with pytest.raises(APIError) as missing:
        sdd.get("job_nope")
    assert (missing.value.status, missing.value.code) == (404, "not_found")

    with pytest.raises(APIError) as unauthorized:
        SDDClient(TEST_URL, "sdd_wrong", client=api.client).catalog()
    assert (unauthorized.value.status, unauthorized.value.code) == (401, "unauthorized")

    done = trained_job(api, (50.0,))
    with pytest.raises(APIError) as finished:
        sdd.cancel(done["id"])
    assert (finished.value.status, finished.value.code) == (409, "job_finished")


def test_list_pages_and_iterates(api: Api, sdd: SDDClient) -> None:
    ids = [sdd.submit({**CE, "seed": seed}).id for seed in range(5)]
    page = sdd.list_jobs(limit=2)
    assert [job.id for job in page.data] == ids[::-1][:2] and page.has_more
    rest = sdd.list_jobs(limit=10, after=page.data[-1].id)
    assert [job.id for job in rest.data] == ids[::-1][2:] and not rest.has_more
    assert [job.id for job in sdd.iter_jobs(page_size=2)] == ids[::-1]

    sdd.cancel(ids[0])
    assert [job.id for job in sdd.iter_jobs("cancelled")] == [ids[0]]
    assert sdd.list_jobs(status="running").data == []
    with pytest.raises(APIError) as bad_cursor:
        sdd.list_jobs(after="job_unknown")
    assert bad_cursor.value.param == "after"


def test_records_and_cancel(api: Api, sdd: SDDClient) -> None:
    job = sdd.submit({**CE, "hyperparameters": {"epochs": 2}})
    start_job(api, job.id)
    epoch(api, job.id, metrics_row(1, 2, 40.0, lab_only_field=7))
    rows = sdd.metrics(job.id)
    assert [row.epoch for row in rows] == [1] and rows[0].val_top1 == 40.0 and rows[0].seconds == 1.5
    assert rows[0].model_extra == {"lab_only_field": 7}  # fields the client does not know are kept
    assert [event.type for event in sdd.events(job.id)] == ["queued", "started", "epoch"]
    assert sdd.checkpoints(job.id) == []
    stored = get_artifact_store(api.settings).put_bytes(job_checkpoint_key(job.id, 1), b"ckpt")
    with api.session() as session:
        session.add(
            Artifact(
                job_id=job.id,
                kind="checkpoint",
                epoch=1,
                key=stored.key,
                size_bytes=stored.size_bytes,
                sha256=stored.sha256,
            )
        )
        session.commit()
    [checkpoint] = sdd.checkpoints(job.id)
    assert (checkpoint.epoch, checkpoint.size_bytes, checkpoint.sha256) == (1, 4, hashlib.sha256(b"ckpt").hexdigest())

    cancelling = sdd.cancel(job.id)
    assert cancelling.status == "cancelling" and not cancelling.is_terminal
    assert sdd.cancel(sdd.submit(CE).id).status == "cancelled"


def test_wait_calls_back_on_every_change(api: Api, sdd: SDDClient) -> None:
    job = sdd.submit({**CE, "hyperparameters": {"epochs": 2}})
    seen: list[tuple[str, int, list[int]]] = []

    def worker_steps(current: models.Job, new_rows: list[models.EpochRow]) -> None:
        """Each poll's callback plays the next step of a worker."""
        seen.append((current.status, current.progress.epoch, [row.epoch for row in new_rows]))
        if current.status == "queued":
            start_job(api, job.id)
            epoch(api, job.id, metrics_row(1, 2, 40.0))
        elif current.progress.epoch == 1:
            epoch(api, job.id, metrics_row(2, 2, 60.0))
            fail_job(api, job.id)

    final = sdd.wait(job.id, poll=0.0, callback=worker_steps)
    assert final.status == "failed" and final.error and final.error.code == "non_finite"
    assert seen == [("queued", 0, []), ("running", 1, [1]), ("failed", 2, [2])]

    with pytest.raises(WaitTimeout) as timeout:
        sdd.wait(sdd.submit(CE).id, poll=0.01, timeout=0.05)
    assert timeout.value.job.status == "queued"


# ---------------------------------------------------------------- results


def test_download_student_verifies_and_refuses_to_overwrite(api: Api, sdd: SDDClient, tmp_path: Path) -> None:
    tmp_path = tmp_path / "downloads"
    tmp_path.mkdir()
    job = trained_job(api, (30.0, 50.0))
    expected = b"weights of " + job["id"].encode()

    dest = sdd.download_student(job["id"], tmp_path / "student.safetensors")
    assert dest.read_bytes() == expected
    in_folder = sdd.download_student(job["id"], tmp_path)
    assert in_folder == tmp_path / f"{job['id']}-resnet8.safetensors" and in_folder.read_bytes() == expected

    dest.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        sdd.download_student(job["id"], dest)
    assert dest.read_bytes() == b"mine"
    sdd.download_student(job["id"], dest, overwrite=True)
    assert dest.read_bytes() == expected
    assert sdd.card(job["id"]) == {"arch": "resnet8"}

    with pytest.raises(APIError) as not_yet:
        sdd.download_student(sdd.submit(CE).id, tmp_path / "early.safetensors")
    assert (not_yet.value.status, not_yet.value.code) == (409, "job_not_succeeded")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([dest.name, in_folder.name])


def test_download_with_a_wrong_checksum_leaves_no_file(api: Api, sdd: SDDClient, tmp_path: Path) -> None:
    tmp_path = tmp_path / "downloads"
    tmp_path.mkdir()
    job = trained_job(api, (30.0,))
    with api.session() as session:
        student = session.scalar(select(Artifact).where(Artifact.job_id == job["id"], Artifact.kind == "student"))
        get_artifact_store(api.settings).path(student.key).write_bytes(b"bit rot")
    with pytest.raises(ChecksumMismatch) as mismatch:
        sdd.download_student(job["id"], tmp_path / "student.safetensors")
    assert mismatch.value.actual == hashlib.sha256(b"bit rot").hexdigest()
    assert list(tmp_path.iterdir()) == []


def test_plot_and_catalog(api: Api, sdd: SDDClient) -> None:
    job = trained_job(api, (30.0, 50.0))
    svg = sdd.plot(job["id"], "svg")
    assert b"<svg" in svg[:500]
    assert sdd.plot(job["id"], "png").startswith(b"\x89PNG")
    with pytest.raises(ValueError):
        sdd.plot(job["id"], "gif")

    catalog = sdd.catalog()
    assert "resnet8" in {arch.name for arch in catalog.architectures}
    assert {"ce", "sd-kd"} <= {method.name for method in catalog.methods}
    assert catalog.defaults.scales == [1, 2, 4] and catalog.limits.max_epochs
    assert sdd.ready() is True


# ---------------------------------------------------------------- uploads


def test_upload_and_list_datasets_and_models(sdd: SDDClient, api: Api, tmp_path: Path) -> None:
    archive = tmp_path / "pets.zip"
    archive.write_bytes(zip_bytes(image_folder()))
    uploaded = sdd.upload_dataset(archive, name="pets")
    assert uploaded.id.startswith("ds_") and uploaded.status == "ingesting" and uploaded.classes is None
    ingest_dataset(uploaded.id, api.settings)  # as a worker does
    dataset = sdd.wait_dataset(uploaded.id, poll=0.1, timeout=30)
    assert dataset.status == "ready" and dataset.classes == ["cat", "dog"] and dataset.train_count == 4
    assert sdd.get_dataset(dataset.id) == dataset
    assert [d.id for d in sdd.list_datasets().data] == [dataset.id] == [d.id for d in sdd.iter_datasets()]

    weights = tmp_path / "teacher.safetensors"
    weights.write_bytes(save(create_model("resnet8", 2).state_dict()))
    model = sdd.upload_model(weights, "resnet8", 2)
    assert (model.arch, model.num_classes, model.name) == ("resnet8", 2, "teacher.safetensors")
    assert sdd.get_model(model.id) == model and [m.id for m in sdd.iter_models()] == [model.id]
    with pytest.raises(APIError) as wrong_arch:
        sdd.upload_model(weights, "resnet20", 2)
    assert wrong_arch.value.status in (400, 422) and wrong_arch.value.message

    job = sdd.submit({"dataset": dataset.id, "student": "resnet8", "method": "kd", "teacher": {"model": model.id}})
    assert job.spec.dataset == dataset.id and job.teacher_label == f"model:{model.id}"


# ---------------------------------------------------------------- transport failures


def test_unreachable_server_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with SDDClient(url, "sdd_x", timeout=2.0) as client, pytest.raises(ServiceUnreachable) as unreachable:
        client.get("job_1")
    assert unreachable.value.url == url and url in str(unreachable.value)
    assert isinstance(unreachable.value, ConnectionError)


def test_answers_without_an_envelope_still_raise_api_error() -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer sdd_t"
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    client = SDDClient("http://sdd.example", "sdd_t", transport=httpx.MockTransport(proxy), retry=RetryPolicy(0))
    with client, pytest.raises(APIError) as bad_gateway:
        client.catalog()
    assert (bad_gateway.value.status, bad_gateway.value.code) == (502, "http_502")
    assert "Bad Gateway" in bad_gateway.value.message and not bad_gateway.value.is_client_error


def test_newer_server_fields_do_not_break_the_client(api: Api, sdd: SDDClient) -> None:
    job = sdd.submit(CE).model_dump(mode="json")
    job["progress"]["eta_seconds"], job["brand_new"] = 3, {"x": 1}
    parsed = models.Job.model_validate(job)
    assert parsed.progress.model_extra == {"eta_seconds": 3} and parsed.model_extra == {"brand_new": {"x": 1}}


# ---------------------------------------------------------------- configuration


def test_config_resolution_order(tmp_path: Path) -> None:
    config = tmp_path / "sdd" / "config.json"
    env = {"SDD_CONFIG": str(config)}
    with pytest.raises(ConfigError) as nothing:
        resolve_config(env=env)
    assert "sdd login" in str(nothing.value) and "SDD_URL" in str(nothing.value)

    assert write_config_file("http://file:1", "sdd_file", config) == config
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text()) == {"url": "http://file:1", "token": "sdd_file"}
    assert resolve_config(env=env) == resolve_config(None, None, env=env)
    assert (resolve_config(env=env).url, resolve_config(env=env).token) == ("http://file:1", "sdd_file")

    env |= {"SDD_URL": "http://env:2/", "SDD_TOKEN": "sdd_env"}
    assert (resolve_config(env=env).url, resolve_config(env=env).token) == ("http://env:2", "sdd_env")
    explicit = resolve_config("http://arg:3", "sdd_arg", env=env)
    assert (explicit.url, explicit.token) == ("http://arg:3", "sdd_arg") and "sdd_arg" not in repr(explicit)
    mixed = resolve_config(token="sdd_arg", env={"SDD_CONFIG": str(config)})  # per value: arg, then file
    assert (mixed.url, mixed.token) == ("http://file:1", "sdd_arg")

    write_config_file("http://file:4", "sdd_new", config)  # rewriting keeps 0600
    assert stat.S_IMODE(config.stat().st_mode) == 0o600


def test_client_without_arguments_uses_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SDD_CONFIG", str(tmp_path / "absent.json"))
    monkeypatch.setenv("SDD_URL", "http://from-env:9")
    monkeypatch.setenv("SDD_TOKEN", "sdd_env")
    with SDDClient() as client:
        assert client.url == "http://from-env:9" and "sdd_env" not in repr(client)
    monkeypatch.delenv("SDD_TOKEN")
    with pytest.raises(ConfigError):
        SDDClient()
    assert os.environ["SDD_URL"] == "http://from-env:9"
