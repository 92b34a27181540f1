"""Uploaded teachers and datasets, and jobs that fail in the worker, against a running service.

A job the API accepts can still fail once the worker runs it: its teacher's weights went missing
from the artifact store, or a shard of its dataset rotted in the store after the ingestion wrote
it. Either way it must end ``failed`` with an error code the user can act on, never stay
``running``, and the worker must carry on. An upload is ingested by the worker (files that are no
images are named and left out).
"""

from __future__ import annotations

import io
import random
import time
import zipfile
from typing import Any

import httpx
import pytest
from PIL import Image
from safetensors.torch import save as save_safetensors

from sdd_core.models import create_model
from service.artifact_stores import get_artifact_store
from service.artifacts import job_student_key
from tests.e2e.service_processes import RunningService, event_types, submit, tiny_job

pytestmark = pytest.mark.slow

NUM_CLASSES = 10
TRAIN_PER_CLASS = 6
VAL_PER_CLASS = 2
IMAGE_SIDE = 8


def png(label: int, rng: random.Random) -> bytes:
    """An 8x8 RGB PNG: a colour per class plus noise."""
    base = (25 * label, 255 - 25 * label, (80 * label) % 256)
    pixels = [tuple(min(255, max(0, c + rng.randint(-20, 20))) for c in base) for _ in range(IMAGE_SIDE**2)]
    image = Image.new("RGB", (IMAGE_SIDE, IMAGE_SIDE))
    image.putdata(pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def image_folder_zip(corrupt_val_image: bool = False) -> bytes:
    """A zip of ``train/<class>/*.png`` and ``val/<class>/*.png``; optionally one val file is not an image."""
    rng = random.Random(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label in range(NUM_CLASSES):
            for split, count in (("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS)):
                for index in range(count):
                    archive.writestr(f"{split}/class_{label}/{index}.png", png(label, rng))
        if corrupt_val_image:
            archive.writestr("val/class_3/broken.png", b"this is not a PNG file")
    return buffer.getvalue()


def resnet8_weights() -> bytes:
    return save_safetensors(create_model("resnet8", NUM_CLASSES).state_dict())


def upload_dataset(client: httpx.Client, archive: bytes, status: str = "ready") -> dict[str, Any]:
    """Upload ``archive`` in one request (202, ingesting) and wait until the worker has ingested it."""
    response = client.post("/v1/datasets", files={"file": ("digits-like.zip", archive, "application/zip")})
    assert response.status_code == 202, response.text
    return wait_for_dataset(client, response.json()["id"], status)


def wait_for_dataset(client: httpx.Client, dataset_id: str, status: str, timeout: float = 180.0) -> dict[str, Any]:
    """Poll the dataset until its ingestion ended; it must have ended ``status``."""
    deadline = time.monotonic() + timeout
    while True:
        dataset = client.get(f"/v1/datasets/{dataset_id}").json()
        if dataset["status"] != "ingesting":
            assert dataset["status"] == status, dataset
            return dataset
        assert time.monotonic() < deadline, f"dataset {dataset_id} still ingesting after {timeout:.0f}s: {dataset}"
        time.sleep(0.25)


def test_uploaded_teacher_and_dataset_train_a_student(service: RunningService) -> None:
    with service.client("t1") as client:
        response = client.post(
            "/v1/models",
            files={"file": ("teacher.safetensors", resnet8_weights(), "application/octet-stream")},
            data={"arch": "resnet8", "num_classes": str(NUM_CLASSES)},
        )
        assert response.status_code == 201, response.text
        model = response.json()
        assert (model["arch"], model["num_classes"]) == ("resnet8", NUM_CLASSES)

        dataset = upload_dataset(client, image_folder_zip())
        assert dataset["num_classes"] == NUM_CLASSES
        assert dataset["image_size"] == IMAGE_SIDE
        assert (dataset["train_count"], dataset["val_count"]) == (
            NUM_CLASSES * TRAIN_PER_CLASS,
            NUM_CLASSES * VAL_PER_CLASS,
        )

        job = submit(
            client,
            tiny_job(
                dataset=dataset["id"],
                method="sd-kd",
                teacher={"model": model["id"]},
                scales=[1, 2, 4],
                hyperparameters={"batch_size": 32},
            ),
        )
        job = service.wait_for_job(client, job["id"], {"succeeded"})
        card = client.get(f"/v1/jobs/{job['id']}/student/card").json()
        assert card["num_classes"] == NUM_CLASSES
        assert card["classes"] == dataset["classes"]
        assert card["teacher"]["arch"] == "resnet8"


def test_teacher_with_missing_weights_fails_with_teacher_error(service: RunningService) -> None:
    with service.client("t1") as client:
        teacher = submit(client, tiny_job())
        service.wait_for_job(client, teacher["id"], {"succeeded"})
        # The artifact store loses the student file after the job succeeded (disk trouble, a bad cleanup).
        get_artifact_store(service.settings()).path(job_student_key(teacher["id"])).unlink()
        missing = client.get(f"/v1/jobs/{teacher['id']}/student")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "artifact_missing"

        student = submit(client, tiny_job(method="kd", teacher={"job": teacher["id"]}))
        failed = service.wait_for_job(client, student["id"], {"failed"})
        assert failed["error"]["code"] == "teacher_error", failed["error"]
        assert teacher["id"] in failed["error"]["message"]
        assert failed["finished_at"] is not None and failed["result"] is None
        events = event_types(client, student["id"])
        assert events[0] == "queued" and events[-1] == "failed", events

        # The worker carries on with the next job.
        service.wait_for_job(client, submit(client, tiny_job(seed=3))["id"], {"succeeded"})


def test_a_corrupt_image_is_left_out_at_ingestion_and_a_shard_corrupted_later_fails_the_job(
    service: RunningService,
) -> None:
    """A file that is not an image is named and left out when the worker ingests the upload; a shard
    that rots in the store afterwards fails the job with dataset_error, naming it."""
    with service.client("t1") as client:
        dataset = upload_dataset(client, image_folder_zip(corrupt_val_image=True))
        assert dataset["bad_files_count"] == 1 and dataset["bad_files"][0]["path"].endswith("class_3/broken.png")
        assert dataset["val_count"] == NUM_CLASSES * VAL_PER_CLASS
        assert str(service.home) not in str(dataset["bad_files"])

        shards = sorted((service.home / "artifacts" / "datasets" / dataset["id"] / "shards").glob("val*.tar"))
        shards[0].write_bytes(b"this is not a tar file any more")
        job = submit(client, tiny_job(dataset=dataset["id"], hyperparameters={"batch_size": 32}))
        failed = service.wait_for_job(client, job["id"], {"failed"})
        assert failed["error"]["code"] == "dataset_error", failed["error"]
        assert shards[0].name in failed["error"]["message"]
        assert str(service.home) not in failed["error"]["message"]  # no server paths in what users see
        assert failed["progress"]["epoch"] == 0

        service.wait_for_job(client, submit(client, tiny_job(seed=4))["id"], {"succeeded"})
