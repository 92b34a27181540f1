"""A dataset several times larger than the service's one-request upload limit, end to end: sent in
parts through the resumable protocol (interrupted and resumed), ingested by a real worker serving
the ingestion queue, then trained by a job submitted through REST.

The service here runs with ``SDD_MAX_UPLOAD_BYTES`` of 32 KiB (the embedded backend: SQLite and
the file broker), so the archive cannot go in one request.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sdd_client import SDDClient
from sdd_client.errors import ServiceUnreachable
from sdd_client.models import PartTarget
from tests.e2e.service_processes import RunningService, running_service, submit, tiny_job

pytestmark = pytest.mark.slow

UPLOAD_LIMIT = 32 << 10
PART = 64 << 10  # the smallest part the API takes
CLASSES = 4
TRAIN_PER_CLASS, VAL_PER_CLASS = 32, 8
SIDE = 20


@pytest.fixture(scope="module")
def small_uploads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    root = tmp_path_factory.mktemp("e2e_small_uploads")
    with running_service(root, extra_env={"SDD_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}) as service:
        yield service


def noisy_png(label: int, rng: random.Random) -> bytes:
    """A 20x20 PNG: a colour per class under noise (noise keeps PNG from compressing it away)."""
    base = (60 * label, 255 - 60 * label, 128)
    image = Image.new("RGB", (SIDE, SIDE))
    image.putdata([tuple(min(255, max(0, c + rng.randint(-40, 40))) for c in base) for _ in range(SIDE * SIDE)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def archive_of_images(path: Path) -> Path:
    rng = random.Random(7)
    with zipfile.ZipFile(path, "w") as archive:
        for label in range(CLASSES):
            for split, count in (("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS)):
                for index in range(count):
                    archive.writestr(f"shapes/{split}/class_{label}/{index}.png", noisy_png(label, rng))
    return path


class DroppingClient(SDDClient):
    """Loses its connection after two parts, as a laptop leaving the Wi-Fi would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[int] = []

    def put_part(self, target: PartTarget, data: bytes) -> str:
        if len(self.sent) == 2:
            raise ServiceUnreachable(self.url, "network is unreachable")
        self.sent.append(target.number)
        return super().put_part(target, data)


def test_a_dataset_past_the_upload_limit_goes_in_parts_is_ingested_and_trains(
    small_uploads: RunningService, tmp_path: Path
) -> None:
    service = small_uploads
    archive = archive_of_images(tmp_path / "shapes.zip")
    size = archive.stat().st_size
    assert size > 5 * UPLOAD_LIMIT, size

    with service.client("t1") as http:
        whole = http.post("/v1/datasets", files={"file": ("shapes.zip", archive.read_bytes(), "application/zip")})
        assert whole.status_code == 413 and whole.json()["error"]["code"] == "payload_too_large", whole.text

    token = service.tokens["t1"]
    dropping = DroppingClient(service.url, token)
    dropping._sleep = lambda seconds: None
    with dropping, pytest.raises(ServiceUnreachable):
        dropping.upload_dataset(archive, name="shapes", part_size=PART)

    with SDDClient(service.url, token) as sdd:
        [unfinished] = sdd.open_uploads()
        assert [part.number for part in unfinished.received] == [1, 2]
        dataset = sdd.upload_dataset(archive, name="shapes", part_size=PART)  # resumes with parts 3, 4, ...
        assert sdd.get_upload(unfinished.id).status == "completed"
        assert (dataset.status, dataset.size_bytes, dataset.name) == ("ingesting", size, "shapes")

        ready = sdd.wait_dataset(dataset.id, poll=0.5, timeout=180)  # the worker takes it from its queue
        assert ready.status == "ready", ready.error
        assert ready.classes == [f"class_{label}" for label in range(CLASSES)]
        assert (ready.train_count, ready.val_count, ready.image_size) == (
            CLASSES * TRAIN_PER_CLASS,
            CLASSES * VAL_PER_CLASS,
            SIDE,
        )
        events = [event.type for event in sdd.dataset_events(dataset.id)]
        assert events[0] == "registered" and "ingesting" in events and events[-1] == "ready", events
        assert sdd.dataset_samples(dataset.id).startswith(b"\x89PNG")

    with service.client("t1") as http:
        job = submit(http, tiny_job(dataset=dataset.id, hyperparameters={"batch_size": 32}))
        done = service.wait_for_job(http, job["id"], {"succeeded"})
        assert done["spec"]["dataset"] == dataset.id
        card = http.get(f"/v1/jobs/{job['id']}/student/card").json()
        assert card["num_classes"] == CLASSES and card["classes"] == ready.classes
