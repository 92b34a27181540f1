"""Datasets uploaded in one request: stored as received (202, ``ingesting``), then ingested into
shards (``ready``) or failed naming why; the reads (one, the list by status, events, the sample
grid); what the API still refuses at once; tenant isolation.

The ingestion runs in this process, as a worker runs it (``worker.ingestion.ingest_dataset``);
``tests/e2e`` has a real worker take it from the queue.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tarfile
import zipfile
import zlib
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from service.artifact_stores import get_artifact_store
from service.artifacts import dataset_upload_key
from service.db.models import Dataset
from tests.api.conftest import TEST_UPLOAD_LIMIT, Api, assert_error
from worker.ingestion import ingest_dataset


def png(shade: int, side: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (shade, 255 - shade, 64)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_folder(prefix: str = "", splits: tuple[str, ...] = ("train", "val")) -> dict[str, bytes]:
    """Two classes; two training and one validation image each, 8x8 PNGs."""
    files = {}
    for split in splits:
        for label, cls in enumerate(("cat", "dog")):
            for i in range(2 if split == "train" else 1):
                files[f"{prefix}{split}/{cls}/{i}.png"] = png(40 * label + 10 * i + (5 if split == "val" else 0))
    return files


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


def tar_gz_bytes(files: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    """A .tar.gz of ``files``; ``links`` maps member names to (tar type, target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
    return buffer.getvalue()


def upload(api: Api, data: bytes, filename: str = "data.zip", token: str | None = None, **fields: str):
    return api.post("/v1/datasets", token, files={"file": (filename, data)}, data=fields)


def ingest(api: Api, dataset_id: str, token: str | None = None) -> dict[str, Any]:
    """Ingest the dataset as a worker would, then read it back."""
    ingest_dataset(dataset_id, api.settings)
    response = api.get(f"/v1/datasets/{dataset_id}", token)
    assert response.status_code == 200, response.text
    return response.json()


def uploaded(api: Api, data: bytes, filename: str = "data.zip", **fields: str) -> dict[str, Any]:
    """Upload an archive (202) and ingest it; the dataset as it ended."""
    response = upload(api, data, filename, **fields)
    assert response.status_code == 202, response.text
    return ingest(api, response.json()["id"])


def assert_nothing_left(api: Api) -> None:
    """No row, no stored file, no temp file after an upload refused at once."""
    with api.session() as session:
        assert session.scalars(select(Dataset)).all() == []
    datasets_dir = api.settings.artifact_dir / "datasets"
    assert not datasets_dir.exists() or not any(datasets_dir.iterdir())
    assert list(api.settings.work_dir.iterdir()) == []


def stored_names(api: Api, dataset_id: str) -> list[str]:
    folder = api.settings.artifact_dir / "datasets" / dataset_id
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_an_upload_is_stored_as_received_then_ingested_into_shards(api: Api) -> None:
    archive = zip_bytes(image_folder())
    response = upload(api, archive, name="pets")
    assert response.status_code == 202, response.text
    dataset = response.json()
    assert dataset["id"].startswith("ds_") and dataset["name"] == "pets"
    assert (dataset["status"], dataset["layout"], dataset["classes"], dataset["train_count"]) == (
        "ingesting",
        "imagefolder",
        None,
        None,
    )
    key = dataset_upload_key(dataset["id"], "zip")
    assert dataset["source"] == f"upload:{key}"
    assert (dataset["size_bytes"], dataset["sha256"]) == (len(archive), hashlib.sha256(archive).hexdigest())
    assert get_artifact_store(api.settings).path(key).read_bytes() == archive  # not extracted by the API
    assert stored_names(api, dataset["id"]) == ["upload.zip"]
    assert list(api.settings.work_dir.iterdir()) == []  # the temp file went
    assert api.get(f"/v1/datasets/{dataset['id']}").json() == dataset
    not_yet = assert_error(api.get(f"/v1/datasets/{dataset['id']}/samples.png"), 404, "no_sample_grid")
    assert "still being ingested" in not_yet["message"]

    ready = ingest(api, dataset["id"])
    assert ready["status"] == "ready" and ready["error"] is None and ready["progress"] is None
    assert ready["classes"] == ["cat", "dog"] and ready["num_classes"] == 2 and ready["image_size"] == 8
    assert (ready["train_count"], ready["val_count"]) == (4, 2)
    assert ready["class_counts"] == {"train": {"cat": 2, "dog": 2}, "val": {"cat": 1, "dog": 1}}
    assert len(ready["statistics"]["mean"]) == 3 and len(ready["statistics"]["std"]) == 3
    assert (ready["bad_files"], ready["bad_files_count"]) == ([], 0)
    assert ready["storage_bytes"] > 0 and "index.json" in stored_names(api, dataset["id"])
    assert any(name.startswith("shards/") for name in stored_names(api, dataset["id"]))
    events = [event["type"] for event in api.get(f"/v1/datasets/{dataset['id']}/events").json()["data"]]
    assert events[0] == "registered" and events[-1] == "ready"

    grid = api.get(f"/v1/datasets/{dataset['id']}/samples.png")
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/png"
    assert grid.content.startswith(b"\x89PNG")
    assert api.get("/v1/datasets").json() == {"data": [ready], "has_more": False}
    assert api.get("/v1/datasets", params={"status": "ready"}).json()["data"] == [ready]
    assert api.get("/v1/datasets", params={"status": "failed"}).json()["data"] == []


def test_upload_tar_gz_inside_a_top_level_folder(api: Api) -> None:
    dataset = uploaded(api, tar_gz_bytes(image_folder("flowers/")), filename="flowers.tar.gz")
    assert dataset["name"] == "flowers" and dataset["status"] == "ready" and dataset["train_count"] == 4


def test_a_dataset_trains_once_ready_and_stays_its_tenants(api: Api) -> None:
    response = upload(api, zip_bytes(image_folder()))
    dataset = response.json()
    assert_error(api.post_job(dataset=dataset["id"]), 409, "dataset_not_ready", "dataset")
    ingest(api, dataset["id"])
    job = api.create_job(dataset=dataset["id"])
    assert job["spec"]["dataset"] == dataset["id"] and job["spec"]["image_size"] == 8
    job16 = api.create_job(dataset=dataset["id"], image_size=16)
    assert job16["spec"]["image_size"] == 16

    assert_error(api.get(f"/v1/datasets/{dataset['id']}", token=api.other_token), 404, "not_found")
    assert_error(api.get(f"/v1/datasets/{dataset['id']}/events", token=api.other_token), 404, "not_found")
    assert_error(api.get(f"/v1/datasets/{dataset['id']}/samples.png", token=api.other_token), 404, "not_found")
    assert api.get("/v1/datasets", token=api.other_token).json()["data"] == []
    assert_error(api.post_job(token=api.other_token, dataset=dataset["id"]), 404, "not_found", "dataset")


@pytest.mark.parametrize(
    ("archive", "fragment"),
    [
        (zip_bytes({**image_folder(), "../evil.png": b"x"}), "outside the archive"),
        (zip_bytes({**image_folder(), "train/cat/../../../evil.png": b"x"}), "outside the archive"),
        (zip_bytes({**image_folder(), "/etc/evil.png": b"x"}), "absolute path"),
        (tar_gz_bytes({**image_folder(), "/tmp/evil.png": b"x"}), "absolute path"),
        (
            tar_gz_bytes(image_folder(), links={"train/cat/link.png": (tarfile.SYMTYPE, "/etc/passwd")}),
            "link",
        ),
        (
            tar_gz_bytes(image_folder(), links={"train/cat/hard.png": (tarfile.LNKTYPE, "train/cat/0.png")}),
            "link",
        ),
        (tar_gz_bytes(image_folder(), links={"train/cat/dev": (tarfile.CHRTYPE, "")}), "device"),
    ],
    ids=[
        "zip-slip",
        "zip-slip-nested",
        "zip-absolute",
        "tar-absolute",
        "tar-symlink",
        "tar-hardlink",
        "tar-device",
    ],
)
def test_unsafe_archives_fail_their_ingestion_before_extraction(api: Api, archive: bytes, fragment: str) -> None:
    dataset = uploaded(api, archive)
    assert dataset["status"] == "failed" and dataset["error"]["code"] == "invalid_archive", dataset
    assert fragment in dataset["error"]["message"]
    assert str(api.settings.home) not in dataset["error"]["message"]
    assert [name for name in stored_names(api, dataset["id"]) if not name.startswith("upload.")] == []
    assert not (api.settings.work_dir.parent / "evil.png").exists()
    assert list((api.settings.work_dir / "ingestions").rglob("*.png")) == []


def test_a_missing_val_folder_fails_the_ingestion_naming_it(api: Api) -> None:
    dataset = uploaded(api, zip_bytes(image_folder(splits=("train",))))
    assert dataset["status"] == "failed", dataset
    assert "val" in dataset["error"]["message"] and str(api.settings.home) not in dataset["error"]["message"]
    error = assert_error(api.post_job(dataset=dataset["id"]), 409, "dataset_not_ready", "dataset")
    assert "failed" in error["message"]


def test_not_an_archive_is_refused_at_once(api: Api) -> None:
    error = assert_error(upload(api, b"just some text, not an archive"), 422, "invalid_archive", "file")
    assert ".zip" in error["message"]
    assert_nothing_left(api)


def test_over_the_size_limit(api: Api) -> None:
    # Just over the limit: caught while streaming (Content-Length is within the framing slack).
    response = upload(api, os.urandom(TEST_UPLOAD_LIMIT + 1000))
    assert_error(response, 413, "payload_too_large", "file")
    # Far over: refused on Content-Length before reading the body.
    assert_error(upload(api, b"\0" * (3 * TEST_UPLOAD_LIMIT)), 413, "payload_too_large", "file")
    assert_nothing_left(api)


def test_malformed_forms(api: Api) -> None:
    assert_error(api.post("/v1/datasets", data={"name": "x"}), 415)  # urlencoded, no file
    assert_error(api.post("/v1/datasets", files={"other": ("a.zip", b"x")}), 422, "validation_error", "other")
    assert_error(api.post("/v1/datasets", files={"name": (None, "only a name")}), 422, "validation_error", "file")
    bad_name = upload(api, zip_bytes(image_folder()), name="tab\there")
    assert_error(bad_name, 422, "validation_error", "name")
    assert_nothing_left(api)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels and that holds no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("bad_image", "says"),
    [
        (png_header_only(10_000, 5_000), "too large"),  # over MAX_IMAGE_PIXELS
        (png(50)[:40], "cannot"),  # truncated
    ],
)
def test_images_that_cannot_train_are_skipped_and_named(api: Api, bad_image: bytes, says: str) -> None:
    """A file that cannot train is left out of the shards and listed, with its reason."""
    dataset = uploaded(api, zip_bytes(image_folder() | {"val/dog/9.png": bad_image, "train/cat/9.png": bad_image}))
    assert dataset["status"] == "ready", dataset
    assert (dataset["train_count"], dataset["val_count"], dataset["bad_files_count"]) == (4, 2, 2)
    paths = sorted(item["path"] for item in dataset["bad_files"])
    assert paths == ["train/cat/9.png", "val/dog/9.png"], dataset["bad_files"]
    assert all(says in item["reason"] for item in dataset["bad_files"]), dataset["bad_files"]


def test_an_unreadable_zip_member_fails_the_ingestion_naming_it(api: Api) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in image_folder().items():
            archive.writestr(zipfile.ZipInfo(name), data)
    data = bytearray(buffer.getvalue())
    central = data.find(b"PK\x01\x02")
    data[central + 10 : central + 12] = (99).to_bytes(2, "little")  # AES, which zipfile cannot read
    dataset = uploaded(api, bytes(data))
    assert dataset["status"] == "failed" and dataset["error"]["code"] == "invalid_archive", dataset
    assert "compression method 99" in dataset["error"]["message"]
