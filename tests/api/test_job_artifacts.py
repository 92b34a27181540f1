"""A job's records: metrics, events, checkpoints, the student download and its card."""

from __future__ import annotations

import hashlib

from domain.jobs.transitions import claim, record_epoch
from service.artifact_stores import get_artifact_store
from service.artifacts import job_checkpoint_key
from service.db.models import Artifact
from tests.api.conftest import Api, assert_error


def test_metrics_events_and_checkpoints(api: Api) -> None:
    job = api.create_job(hyperparameters={"epochs": 2})
    assert api.get(f"/v1/jobs/{job['id']}/metrics").json() == {"data": []}
    assert api.get(f"/v1/jobs/{job['id']}/checkpoints").json() == {"data": []}

    store = get_artifact_store(api.settings)
    with api.session() as session:
        assert claim(session, job["id"], "w1", 60)
        for epoch in (2, 1):  # stored out of order, listed by epoch
            record_epoch(session, job["id"], {"epoch": epoch, "epochs": 2, "val_top1": 10.0 * epoch})
            stored = store.put_bytes(job_checkpoint_key(job["id"], epoch), b"ckpt%d" % epoch)
            session.add(
                Artifact(
                    job_id=job["id"],
                    kind="checkpoint",
                    epoch=epoch,
                    key=stored.key,
                    size_bytes=stored.size_bytes,
                    sha256=stored.sha256,
                )
            )
        session.commit()

    metrics = api.get(f"/v1/jobs/{job['id']}/metrics").json()["data"]
    assert [m["epoch"] for m in metrics] == [1, 2] and metrics[0]["val_top1"] == 10.0
    events = api.get(f"/v1/jobs/{job['id']}/events").json()["data"]
    assert [e["type"] for e in events] == ["queued", "started", "epoch", "epoch"]
    assert set(events[0]) == {"type", "message", "data", "created_at"}
    checkpoints = api.get(f"/v1/jobs/{job['id']}/checkpoints").json()["data"]
    assert [c["epoch"] for c in checkpoints] == [1, 2]
    assert checkpoints[0]["sha256"] == hashlib.sha256(b"ckpt1").hexdigest() and checkpoints[0]["size_bytes"] == 5
    assert api.get(f"/v1/jobs/{job['id']}").json()["progress"] == {
        "epoch": 1,
        "epochs": 2,
        "batch": None,
        "batches": None,
    }


def test_student_409_before_success(api: Api) -> None:
    job = api.create_job()
    assert_error(api.get(f"/v1/jobs/{job['id']}/student"), 409, "job_not_succeeded")
    assert_error(api.get(f"/v1/jobs/{job['id']}/student/card"), 409, "job_not_succeeded")


def test_student_download_after_success(api: Api) -> None:
    job = api.create_job()
    weights = b"\x00safetensors bytes" * 100
    api.succeed_job(job["id"], student=weights)

    response = api.get(f"/v1/jobs/{job['id']}/student")
    assert response.status_code == 200
    assert response.content == weights
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["X-Content-SHA256"] == hashlib.sha256(weights).hexdigest()
    assert f"{job['id']}-resnet8.safetensors" in response.headers["content-disposition"]

    card = api.get(f"/v1/jobs/{job['id']}/student/card")
    assert card.status_code == 200 and card.json() == {"arch": "resnet8"}

    done = api.get(f"/v1/jobs/{job['id']}").json()
    assert done["status"] == "succeeded"
    assert done["result"] == {
        "val_top1": 91.5,
        "val_top5": 99.0,
        "best_val_top1": 92.0,
        "exported_epoch": None,
        "stopped_early_at_epoch": None,
        "student_formats": None,
        "cost": None,  # recorded by a real worker (tests/worker/test_student_cost_runner.py)
        "teacher_val_top1": None,
        "test_top1": None,  # a held_out job's, recorded by a real worker (tests/sdd_core/trainer/test_protocol.py)
        "teacher_test_top1": None,
        "protocol": None,
    }
    assert done["started_at"] and done["finished_at"]


def test_student_in_each_exported_format(api: Api) -> None:
    job = api.create_job()
    onnx = b"onnx model bytes" * 50
    api.succeed_job(
        job["id"],
        exports={"onnx": onnx},
        result={"refused_exports": {"torchscript": "the torchscript export failed: RuntimeError: no trace"}},
    )
    response = api.get(f"/v1/jobs/{job['id']}/student", params={"format": "onnx"})
    assert response.status_code == 200 and response.content == onnx
    assert response.headers["X-Content-SHA256"] == hashlib.sha256(onnx).hexdigest()
    assert f"{job['id']}-resnet8.onnx" in response.headers["content-disposition"]
    assert api.get(f"/v1/jobs/{job['id']}/student", params={"format": "safetensors"}).content == b"student weights"

    # A format the worker did not keep says why, and what to download instead.
    missing = assert_error(
        api.get(f"/v1/jobs/{job['id']}/student", params={"format": "torchscript"}), 404, "export_missing"
    )
    assert "no torchscript student: the torchscript export failed: RuntimeError: no trace" in missing["message"]
    assert "format=safetensors" in missing["message"]
    refused = assert_error(
        api.get(f"/v1/jobs/{job['id']}/student", params={"format": "tflite"}), 422, "validation_error"
    )
    assert "safetensors" in refused["message"] and "onnx" in refused["message"]


def test_unknown_job_records_are_404(api: Api) -> None:
    for suffix in ("", "/metrics", "/events", "/checkpoints", "/student", "/student/card"):
        assert_error(api.get(f"/v1/jobs/job_missing{suffix}"), 404, "not_found")


def test_ranges_of_a_student_and_their_refusals_in_the_error_shape(api: Api) -> None:
    job = api.create_job()
    api.succeed_job(job["id"], student=b"0123456789")
    url = f"/v1/jobs/{job['id']}/student"
    part = api.get(url, headers={"Range": "bytes=2-5"})
    assert part.status_code == 206 and part.content == b"2345"
    outside = api.get(url, headers={"Range": "bytes=50-60"})
    assert outside.headers["Content-Range"] == "bytes */10"
    assert_error(outside, 416, "range_not_satisfiable", "Range")  # was text/plain
    assert_error(api.get(url, headers={"Range": "bytes=9-2"}), 400, "invalid_range", "Range")
