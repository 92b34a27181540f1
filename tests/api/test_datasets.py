"""Dataset uploads: good archives, every malformed case, listing and tenant isolation."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile

import pytest
from PIL import Image
from sqlalchemy import select

from service.artifact_stores import get_artifact_store
from service.artifacts import dataset_key
from service.db.models import Dataset
from tests.api.conftest import TEST_UPLOAD_LIMIT, Api, assert_error


def png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 255 - shade, 64)).save(buffer, format="PNG")
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


def assert_nothing_left(api: Api) -> None:
    """No row, no stored tree, no temp file after a refused upload."""
    with api.session() as session:
        assert session.scalars(select(Dataset)).all() == []
    datasets_dir = api.settings.artifact_dir / "datasets"
    assert not datasets_dir.exists() or not any(datasets_dir.iterdir())
    assert list(api.settings.work_dir.iterdir()) == []


def test_upload_zip(api: Api) -> None:
    archive = zip_bytes(image_folder())
    response = upload(api, archive, name="pets")
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["id"].startswith("ds_") and dataset["name"] == "pets"
    assert dataset["classes"] == ["cat", "dog"] and dataset["num_classes"] == 2
    assert dataset["image_size"] == 8
    assert (dataset["train_count"], dataset["val_count"]) == (4, 2)
    assert dataset["class_counts"] == {"train": {"cat": 2, "dog": 2}, "val": {"cat": 1, "dog": 1}}
    assert dataset["size_bytes"] == len(archive)
    assert dataset["sha256"] == hashlib.sha256(archive).hexdigest()

    stored = get_artifact_store(api.settings).path(dataset_key(dataset["id"]))
    assert (stored / "train" / "cat" / "0.png").is_file() and (stored / "val" / "dog" / "0.png").is_file()
    assert list(api.settings.work_dir.iterdir()) == []  # temp files gone

    assert api.get(f"/v1/datasets/{dataset['id']}").json() == dataset
    listed = api.get("/v1/datasets").json()
    assert listed == {"data": [dataset], "has_more": False}


def test_upload_tar_gz_inside_a_top_level_folder(api: Api) -> None:
    response = upload(api, tar_gz_bytes(image_folder("flowers/")), filename="flowers.tar.gz")
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "flowers" and response.json()["train_count"] == 4


def test_uploaded_dataset_in_a_job_and_tenant_isolation(api: Api) -> None:
    dataset = upload(api, zip_bytes(image_folder())).json()
    job = api.create_job(dataset=dataset["id"], scales=[1])
    assert job["spec"]["dataset"] == dataset["id"] and job["spec"]["image_size"] == 8
    job16 = api.create_job(dataset=dataset["id"], image_size=16)
    assert job16["spec"]["image_size"] == 16

    assert_error(api.get(f"/v1/datasets/{dataset['id']}", token=api.other_token), 404, "not_found")
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
def test_unsafe_archives_are_refused_before_extraction(api: Api, archive: bytes, fragment: str) -> None:
    error = assert_error(upload(api, archive), 422, "invalid_archive", "file")
    assert fragment in error["message"]
    assert_nothing_left(api)
    assert not (api.settings.work_dir.parent / "evil.png").exists()


def test_missing_val_folder(api: Api) -> None:
    error = assert_error(upload(api, zip_bytes(image_folder(splits=("train",)))), 422, "dataset_error", "file")
    assert "val/" in error["message"] and str(api.settings.work_dir) not in error["message"]
    assert_nothing_left(api)


def test_not_an_archive(api: Api) -> None:
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
    assert_nothing_left(api)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels and that holds no pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("val_image", "says"),
    [
        (png_header_only(10_000, 5_000), "too large to decode safely"),  # over MAX_IMAGE_PIXELS
        (png_header_only(100_000, 100_000), "could be decompression bomb"),  # over PIL's own limit
        (png(50)[:40], "cannot read image"),  # truncated
    ],
)
def test_validation_images_that_cannot_train_are_refused_at_upload(api: Api, val_image: bytes, says: str) -> None:
    """Once accepted, and the job failed later: every header is read and the val images decoded."""
    files = image_folder() | {"val/dog/0.png": val_image}
    error = assert_error(upload(api, zip_bytes(files)), 422, param="file")
    assert says in error["message"] and "val/dog/0.png" in error["message"], error
    assert_nothing_left(api)


def test_an_unreadable_zip_member_is_a_422_naming_it(api: Api) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in image_folder().items():
            archive.writestr(zipfile.ZipInfo(name), data)
    data = bytearray(buffer.getvalue())
    central = data.find(b"PK\x01\x02")
    data[central + 10 : central + 12] = (99).to_bytes(2, "little")  # AES, which zipfile cannot read
    error = assert_error(upload(api, bytes(data)), 422, param="file")
    assert "compression method 99" in error["message"], error
