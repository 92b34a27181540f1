"""A job's life through the REST API of a running service (API + Celery worker processes).

A teacher trained and an SD-KD student distilled from it, with everything a job records along
the way; a queued and a running job cancelled.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import onnxruntime
import pytest
import torch
from safetensors.torch import load as load_safetensors

from sdd_core.models import create_model
from tests.e2e.service_processes import RunningService, assert_error, event_types, submit, tiny_job

pytestmark = pytest.mark.slow

SHA256_HEX_LENGTH = 64
CANCEL_WITHIN_S = 15.0  # cancel request -> cancelled: the next batch, the 1 s cancel poll, finishing


def test_teacher_then_sd_kd_student(service: RunningService, tmp_path: Path) -> None:
    epochs = 2
    with service.client("t1") as client:
        created = submit(client, tiny_job(hyperparameters={"epochs": epochs}))
        assert created["status"] == "queued"
        assert created["progress"] == {"epoch": 0, "epochs": epochs, "batch": None, "batches": None}
        teacher = service.wait_for_job(client, created["id"], {"succeeded"})

        # The worker reported batches while it trained; a finished job shows none.
        assert teacher["progress"] == {"epoch": epochs, "epochs": epochs, "batch": None, "batches": None}
        assert teacher["error"] is None
        assert teacher["started_at"] and teacher["finished_at"]
        for name in ("val_top1", "val_top5", "best_val_top1"):
            assert 0.0 <= teacher["result"][name] <= 100.0, teacher["result"]
        assert teacher["result"]["val_top5"] >= teacher["result"]["val_top1"]

        metrics = client.get(f"/v1/jobs/{teacher['id']}/metrics").json()["data"]
        assert [row["epoch"] for row in metrics] == list(range(1, epochs + 1))
        assert all("val_top1" in row and "train_loss" in row for row in metrics)

        events = event_types(client, teacher["id"])
        assert events[:2] == ["queued", "started"] and events[-1] == "succeeded", events
        # Each epoch's metrics are recorded before its checkpoint: a job resumed from that
        # checkpoint skips the epoch, so its row must already be there.
        per_epoch = [event for event in events[2:-1] if event in ("epoch", "checkpoint")]
        assert per_epoch == ["epoch", "checkpoint"] * epochs, events

        checkpoints = client.get(f"/v1/jobs/{teacher['id']}/checkpoints").json()["data"]
        assert [c["epoch"] for c in checkpoints] == list(range(1, epochs + 1))
        for checkpoint in checkpoints:
            assert checkpoint["size_bytes"] > 0
            assert len(checkpoint["sha256"]) == SHA256_HEX_LENGTH

        teacher_weights = client.get(f"/v1/jobs/{teacher['id']}/student")
        assert teacher_weights.status_code == 200, teacher_weights.text

        student = submit(
            client,
            tiny_job(
                method="sd-kd",
                teacher={"job": teacher["id"]},
                scales=[1, 2, 4],
                beta=2.0,
                seed=1,
            ),
        )
        assert student["spec"]["teacher"] == {"job": teacher["id"]}
        student = service.wait_for_job(client, student["id"], {"succeeded"})

        download = client.get(f"/v1/jobs/{student['id']}/student")
        assert download.status_code == 200, download.text
        digest = hashlib.sha256(download.content).hexdigest()
        assert digest == download.headers["X-Content-SHA256"]
        model = create_model("resnet8", 10)
        model.load_state_dict(load_safetensors(download.content), strict=True)
        _check_exports(client, student["id"], model.eval(), student["spec"]["image_size"], tmp_path)

        card_response = client.get(f"/v1/jobs/{student['id']}/student/card")
        assert card_response.status_code == 200, card_response.text
        card = card_response.json()
        assert card["method"] == "sd-kd"
        assert card["scales"] == [1, 2, 4]
        assert card["beta"] == 2.0
        assert card["arch"] == "resnet8" and card["num_classes"] == 10
        assert card["weights_sha256"] == digest
        assert card["teacher"]["arch"] == "resnet8"
        assert card["teacher"]["weights_sha256"] == hashlib.sha256(teacher_weights.content).hexdigest()
        assert set(card["exports"]) == {"onnx", "torchscript"}, card["exports"]
        assert student["result"]["student_formats"] == ["safetensors", "onnx", "torchscript"]


def _check_exports(client: Any, job_id: str, model: torch.nn.Module, size: int, folder: Path) -> None:
    """The ONNX and TorchScript students download with their SHA-256 and give the PyTorch student's logits."""
    images = torch.randn(3, 3, size, size)  # (B, 3, H, W), a batch size the export was not traced with
    with torch.no_grad():
        want = model(images)  # (3, 10)
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")):
        response = client.get(f"/v1/jobs/{job_id}/student", params={"format": fmt})
        assert response.status_code == 200, response.text
        assert hashlib.sha256(response.content).hexdigest() == response.headers["X-Content-SHA256"]
        path = folder / f"student{suffix}"
        path.write_bytes(response.content)
        if fmt == "onnx":
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = torch.from_numpy(session.run(["logits"], {"images": images.numpy()})[0])
        else:
            got = torch.jit.load(str(path))(images)
        assert torch.allclose(got, want, atol=1e-3), (fmt, float((got - want).abs().max()))


def test_cancel_a_queued_and_a_running_job(service: RunningService) -> None:
    with service.client("t1") as client:
        long_job = submit(client, tiny_job(hyperparameters={"epochs": 50, "batch_size": 64}))
        service.wait_for_job(client, long_job["id"], {"running"})

        waiting = submit(client, tiny_job(seed=7))  # the one worker is busy: it stays queued
        cancelled = client.post(f"/v1/jobs/{waiting['id']}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert_error(client.post(f"/v1/jobs/{waiting['id']}/cancel"), 409, "job_finished", None)

        stopping = client.post(f"/v1/jobs/{long_job['id']}/cancel")
        asked_at = time.monotonic()
        assert stopping.status_code == 202, stopping.text
        assert stopping.json()["status"] == "cancelling"
        stopped = service.wait_for_job(client, long_job["id"], {"cancelled"}, timeout=CANCEL_WITHIN_S)
        assert time.monotonic() - asked_at < CANCEL_WITHIN_S
        assert stopped["progress"]["epoch"] < stopped["progress"]["epochs"]
        assert stopped["finished_at"] is not None
        assert event_types(client, long_job["id"])[-1] == "cancelled"

        # The worker is free again, and it never ran the job cancelled while queued.
        service.wait_for_job(client, submit(client, tiny_job(seed=8))["id"], {"succeeded"})
        waiting = client.get(f"/v1/jobs/{waiting['id']}").json()
        assert waiting["status"] == "cancelled" and waiting["started_at"] is None
        assert "started" not in event_types(client, waiting["id"])
