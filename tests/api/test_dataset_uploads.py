"""Resumable uploads through the API (the local store): parts in any order, resumed, completed;
every refusal named; abort and expiry delete the parts; the storage quota.

The object-store flavour (presigned part URLs) is ``test_dataset_uploads_s3.py``.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from service.artifact_stores import get_artifact_store
from service.artifacts import dataset_upload_key
from service.db.models import DatasetUpload
from tests.api.conftest import TEST_UPLOAD_LIMIT, Api, assert_error, make_api, sqlite_settings
from tests.api.test_datasets import image_folder

PART = 256 << 10  # 256 KiB parts: a 1 MiB-limited service takes a 1.3 MiB archive in 6


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def big_archive(noise_bytes: int = TEST_UPLOAD_LIMIT + 300_000) -> bytes:
    """An image-folder zip padded past the single-request limit with a member that is no image."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in image_folder().items():
            archive.writestr(name, data)
        archive.writestr("notes/noise.bin", os.urandom(noise_bytes))  # not an image: skipped by the ingestion
    return buffer.getvalue()


def begin(api: Api, data: bytes, token: str | None = None, **body: Any) -> httpx.Response:
    fields = {"filename": "pets.zip", "size": len(data), "sha256": sha(data), "part_size": PART} | body
    return api.post("/v1/datasets/uploads", token, json=fields)


def part_of(data: bytes, number: int, part_size: int = PART) -> bytes:
    return data[(number - 1) * part_size : number * part_size]


def put(api: Api, upload_id: str, number: int, data: bytes, token: str | None = None, **headers: str) -> httpx.Response:
    sent = {"X-Content-SHA256": sha(data), "Content-Type": "application/octet-stream"} | headers
    return api.client.put(
        f"/v1/datasets/uploads/{upload_id}/parts/{number}", content=data, headers=api.auth(token) | sent
    )


def parts_folder(api: Api) -> Path:
    return api.settings.artifact_dir / ".multipart"


def test_an_archive_past_the_upload_limit_goes_in_parts_resumes_and_completes(api: Api) -> None:
    data = big_archive()
    assert len(data) > TEST_UPLOAD_LIMIT
    one_request = api.post("/v1/datasets", files={"file": ("pets.zip", data)})
    assert_error(one_request, 413, "payload_too_large", "file")  # SDD_MAX_UPLOAD_BYTES still caps that route

    created = begin(api, data, name="pets")
    assert created.status_code == 201, created.text
    upload = created.json()
    parts = -(-len(data) // PART)
    assert (upload["status"], upload["parts"], upload["part_size"], upload["direct"]) == ("open", parts, PART, False)
    assert upload["missing"] == list(range(1, parts + 1)) and upload["received"] == []
    target = upload["targets"][0]
    assert target == {"number": 1, "url": f"/v1/datasets/uploads/{upload['id']}/parts/1", "through_api": True,
                      "expires_at": None}  # fmt: skip

    for number in (3, 1):  # then the connection drops
        answer = put(api, upload["id"], number, part_of(data, number))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"number": number, "size_bytes": PART, "etag": sha(part_of(data, number))}
    resumed = api.get(f"/v1/datasets/uploads/{upload['id']}").json()
    assert [p["number"] for p in resumed["received"]] == [1, 3]
    assert resumed["missing"] == [2, *range(4, parts + 1)]
    assert [t["number"] for t in resumed["targets"]] == resumed["missing"]

    early = assert_error(api.post(f"/v1/datasets/uploads/{upload['id']}/complete"), 409, "upload_incomplete")
    assert "(2, 4, 5, 6)" in early["message"]

    for number in resumed["missing"]:
        assert put(api, upload["id"], number, part_of(data, number)).status_code == 200
    done = api.post(f"/v1/datasets/uploads/{upload['id']}/complete", json={})
    assert done.status_code == 202, done.text
    dataset = done.json()
    assert (dataset["id"], dataset["name"], dataset["status"]) == (upload["dataset_id"], "pets", "ingesting")
    key = dataset_upload_key(dataset["id"], "zip")
    assert dataset["source"] == f"upload:{key}" and dataset["layout"] == "imagefolder"
    assert (dataset["size_bytes"], dataset["sha256"], dataset["storage_bytes"]) == (len(data), sha(data), len(data))
    assert get_artifact_store(api.settings).path(key).read_bytes() == data  # stored as received, not extracted
    assert not any(parts_folder(api).iterdir())  # the parts went once joined
    events = api.get(f"/v1/datasets/{dataset['id']}/events").json()["data"]
    assert events[0]["type"] == "registered" and events[0]["data"]["upload"] == upload["id"]

    finished = api.get(f"/v1/datasets/uploads/{upload['id']}").json()
    assert (finished["status"], finished["missing"], finished["targets"]) == ("completed", [], [])
    again = assert_error(api.post(f"/v1/datasets/uploads/{upload['id']}/complete"), 409, "upload_completed")
    assert dataset["id"] in again["message"]
    assert_error(put(api, upload["id"], 1, part_of(data, 1)), 409, "upload_completed")


def test_part_refusals_are_named_and_keep_nothing(api: Api) -> None:
    data = big_archive()
    upload = begin(api, data).json()
    first = part_of(data, 1)
    last_number = upload["parts"]

    assert_error(put(api, upload["id"], 0, first), 422, "validation_error", "number")
    beyond = assert_error(put(api, upload["id"], last_number + 1, first), 422, "invalid_part_number", "part_number")
    assert f"parts 1 to {last_number}" in beyond["message"]
    short = assert_error(put(api, upload["id"], 1, first[:1000]), 422, "part_size_mismatch", "Content-Length")
    assert f"holds {PART} bytes, not 1000" in short["message"]
    last = part_of(data, last_number)
    assert_error(put(api, upload["id"], last_number, first), 422, "part_size_mismatch", "Content-Length")
    assert put(api, upload["id"], last_number, last).json()["size_bytes"] == len(data) - PART * (last_number - 1)

    wrong = assert_error(
        put(api, upload["id"], 1, first, **{"X-Content-SHA256": sha(b"other")}), 422, "checksum_mismatch"
    )
    assert wrong["param"] == "X-Content-SHA256" and "send the part again" in wrong["message"]
    assert_error(put(api, upload["id"], 1, first, **{"X-Content-SHA256": "abc"}), 422, param="X-Content-SHA256")
    headers = api.auth() | {"Content-Type": "application/octet-stream"}
    no_digest = api.client.put(f"/v1/datasets/uploads/{upload['id']}/parts/1", content=first, headers=headers)
    assert_error(no_digest, 422, "validation_error", "X-Content-SHA256")

    state = api.get(f"/v1/datasets/uploads/{upload['id']}").json()
    assert [p["number"] for p in state["received"]] == [last_number]  # nothing of the refused parts
    leftovers = [p.name for p in parts_folder(api).rglob("*") if p.is_file()]
    assert len(leftovers) == 1 and not any(name.startswith(".tmp-") for name in leftovers)


def test_creation_refusals(api: Api) -> None:
    data = b"PK\x03\x04 pretend zip"
    assert_error(begin(api, data, filename="pets.rar"), 422, "invalid_archive", "filename")
    assert_error(begin(api, data, sha256="xyz"), 422, "validation_error", "sha256")
    assert_error(begin(api, data, size=0), 422, "validation_error", "size")
    assert_error(begin(api, data, part_size=1000), 422, "validation_error", "part_size")
    too_many = assert_error(begin(api, data, size=20_000 * PART), 422, "validation_error", "part_size")
    assert "more than 10000 parts" in too_many["message"]
    assert_error(begin(api, data, name="bad\nname"), 422, "validation_error", "name")
    assert_error(begin(api, data, endpoint="http://elsewhere"), 422, "validation_error", "endpoint")


def test_the_whole_file_must_be_the_announced_one_and_an_archive(api: Api) -> None:
    data = big_archive()
    announced = bytearray(data)
    announced[-1] ^= 1  # a different last byte: the parts each match their own digest, the whole does not
    upload = begin(api, data, sha256=sha(bytes(announced))).json()
    for number in range(1, upload["parts"] + 1):
        assert put(api, upload["id"], number, part_of(data, number)).status_code == 200
    mismatch = assert_error(api.post(f"/v1/datasets/uploads/{upload['id']}/complete"), 422, "checksum_mismatch")
    assert mismatch["param"] == "sha256" and sha(data) in mismatch["message"]
    assert api.get(f"/v1/datasets/uploads/{upload['id']}").json()["status"] == "open"  # still resumable
    assert api.get("/v1/datasets").json()["data"] == []

    noise = os.urandom(3 * PART)
    junk = begin(api, noise, filename="junk.zip").json()
    for number in range(1, 4):
        put(api, junk["id"], number, part_of(noise, number))
    refused = assert_error(api.post(f"/v1/datasets/uploads/{junk['id']}/complete"), 422, "invalid_archive")
    assert "not an archive" in refused["message"]
    assert api.get(f"/v1/datasets/uploads/{junk['id']}").json()["status"] == "aborted"
    assert not get_artifact_store(api.settings).exists(dataset_upload_key(junk["dataset_id"], "zip"))
    assert api.get("/v1/datasets").json()["data"] == []


def test_abort_deletes_the_parts_and_other_tenants_see_nothing(api: Api) -> None:
    data = big_archive()
    upload = begin(api, data).json()
    put(api, upload["id"], 2, part_of(data, 2))
    for answer in (
        api.get(f"/v1/datasets/uploads/{upload['id']}", token=api.other_token),
        put(api, upload["id"], 1, part_of(data, 1), token=api.other_token),
        api.post(f"/v1/datasets/uploads/{upload['id']}/complete", token=api.other_token),
        api.client.delete(f"/v1/datasets/uploads/{upload['id']}", headers=api.auth(api.other_token)),
    ):
        assert_error(answer, 404, "not_found")
    assert api.get("/v1/datasets/uploads", token=api.other_token).json()["data"] == []

    listed = api.get("/v1/datasets/uploads", params={"status": "open"}).json()["data"]
    assert [u["id"] for u in listed] == [upload["id"]] and listed[0]["targets"] == []
    aborted = api.client.delete(f"/v1/datasets/uploads/{upload['id']}", headers=api.auth())
    assert aborted.status_code == 200 and aborted.json()["status"] == "aborted"
    assert not any(parts_folder(api).iterdir())
    assert_error(put(api, upload["id"], 1, part_of(data, 1)), 409, "upload_aborted")
    assert_error(api.post(f"/v1/datasets/uploads/{upload['id']}/complete"), 409, "upload_aborted")
    assert api.get("/v1/datasets/uploads", params={"status": "open"}).json()["data"] == []


def test_an_abandoned_upload_is_expired_by_the_next_upload_or_when_asked_about(api: Api) -> None:
    data = big_archive()
    abandoned = begin(api, data).json()
    put(api, abandoned["id"], 1, part_of(data, 1))
    with api.session() as session:  # a day without a request about it
        session.execute(
            update(DatasetUpload)
            .where(DatasetUpload.id == abandoned["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    assert any(parts_folder(api).iterdir())

    idle = begin(api, data).json()  # and one asked about after its time is expired then
    with api.session() as session:
        session.execute(
            update(DatasetUpload)
            .where(DatasetUpload.id == idle["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    assert api.get(f"/v1/datasets/uploads/{idle['id']}").json()["status"] == "expired"

    newer = begin(api, data, token=api.other_token)  # any tenant's new upload reaps the abandoned one
    assert newer.status_code == 201
    assert [p.name for p in parts_folder(api).iterdir()] != [] and len(list(parts_folder(api).iterdir())) == 1
    expired = api.get(f"/v1/datasets/uploads/{abandoned['id']}").json()
    assert (expired["status"], expired["received"]) == ("expired", [])
    error = assert_error(put(api, abandoned["id"], 2, part_of(data, 2)), 409, "upload_expired")
    assert "start a new upload" in error["message"]


@pytest.fixture
def quota_api(sdd_env: Any, sqlite_template: Path) -> Iterator[Api]:
    yield from make_api(sqlite_settings(sdd_env, sqlite_template, tenant_storage_quota_bytes=3 * PART))


def test_an_upload_past_the_storage_quota_is_refused_at_creation(quota_api: Api) -> None:
    api = quota_api
    data = os.urandom(2 * PART)
    refused = assert_error(begin(api, data + data), 422, "quota_exceeded", "size")
    assert f"storage quota of {3 * PART} bytes (0 bytes used" in refused["message"]

    first = begin(api, data)  # fits; holds its share of the quota while it is open
    assert first.status_code == 201
    second = assert_error(begin(api, data), 422, "quota_exceeded", "size")
    assert f"({2 * PART} bytes used, {PART} left)" in second["message"]
    assert begin(api, data, token=api.other_token).status_code == 201  # a quota per tenant

    api.client.delete(f"/v1/datasets/uploads/{first.json()['id']}", headers=api.auth())
    assert begin(api, data).status_code == 201  # aborting gave the share back

    one_request = api.post("/v1/datasets", files={"file": ("pets.zip", big_archive(3 * PART))})
    assert_error(one_request, 422, "quota_exceeded", "file")  # the one-request route counts too


def test_a_configured_origin_may_send_parts_cross_origin(sdd_env: Any, sqlite_template: Path) -> None:
    origin = "https://app.example"
    for api in make_api(sqlite_settings(sdd_env, sqlite_template, cors_origins=f'["{origin}"]')):
        preflight = api.client.options(
            "/v1/datasets/uploads/upl_0/parts/1",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "authorization, x-content-sha256",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert "PUT" in preflight.headers["access-control-allow-methods"]
        assert "x-content-sha256" in preflight.headers["access-control-allow-headers"].lower()
