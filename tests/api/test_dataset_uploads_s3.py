"""Resumable uploads with an object store: the client PUTs parts straight to presigned URLs of a
real S3-protocol server (moto's, on loopback) with plain HTTP, resumes after an interruption, and
completes through the API; an abort deletes the parts. The API never sees a part's bytes."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.artifacts import dataset_upload_key
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings
from tests.api.test_dataset_uploads import big_archive, part_of, put
from tests.api.ui.test_pages import browser_for
from tests.fixtures.servers import S3Server

MIB = 1 << 20
PART = 5 * MIB  # S3's smallest part
PREFIX = "fleet"
_buckets = itertools.count(1)


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket(f"uploads-{os.getpid()}-{next(_buckets)}")


@pytest.fixture
def api(sdd_env: Any, sqlite_template: Path, s3_server: S3Server, bucket: str, monkeypatch) -> Iterator[Api]:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    settings = sqlite_settings(
        sdd_env, sqlite_template, artifact_url=f"s3://{bucket}/{PREFIX}", s3_endpoint_url=s3_server.endpoint_url
    )
    yield from make_api(settings)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_direct(url: str, data: bytes) -> str:
    """A part PUT as a client does: plain HTTP to the presigned URL, no token; its ETag."""
    response = httpx.put(url, content=data)
    assert response.status_code == 200, response.text
    return response.headers["etag"].strip('"')


def multipart_uploads(s3_server: S3Server, bucket: str) -> list[dict]:
    return s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_parts_go_straight_to_the_object_store_and_resume(api: Api, s3_server: S3Server, bucket: str) -> None:
    data = big_archive(2 * PART)  # three parts, the last one short
    body = {"filename": "birds.zip", "size": len(data), "sha256": sha(data), "part_size": PART}
    created = api.post("/v1/datasets/uploads", json=body)
    assert created.status_code == 201, created.text
    upload = created.json()
    assert (upload["direct"], upload["parts"], upload["missing"]) == (True, 3, [1, 2, 3])
    targets = {target["number"]: target for target in upload["targets"]}
    assert all(not t["through_api"] and "X-Amz-Signature=" in t["url"] and t["expires_at"] for t in targets.values())
    assert len(multipart_uploads(s3_server, bucket)) == 1

    etags = {number: put_direct(targets[number]["url"], part_of(data, number, PART)) for number in (1, 3)}
    # ... the client stops here; later (a fresh process) it asks what arrived
    resumed = api.get(f"/v1/datasets/uploads/{upload['id']}").json()
    assert [(p["number"], p["etag"]) for p in resumed["received"]] == [(1, etags[1]), (3, etags[3])]
    assert resumed["missing"] == [2]
    assert_error(put(api, upload["id"], 2, part_of(data, 2, PART)), 409, "parts_go_direct")  # never through the API

    fresh = api.post(f"/v1/datasets/uploads/{upload['id']}/parts", json={"numbers": [2]})
    assert fresh.status_code == 200, fresh.text
    etags[2] = put_direct(fresh.json()["data"][0]["url"], part_of(data, 2, PART))
    assert_error(
        api.post(f"/v1/datasets/uploads/{upload['id']}/parts", json={"numbers": [4]}),
        422,
        "invalid_part_number",
        "numbers[0]",
    )

    wrong = [{"number": n, "etag": etags[n] if n != 2 else "0" * 32} for n in (1, 2, 3)]
    mismatch = api.post(f"/v1/datasets/uploads/{upload['id']}/complete", json={"parts": wrong})
    assert_error(mismatch, 422, "etag_mismatch", "parts[1].etag")

    parts = [{"number": n, "etag": etag} for n, etag in sorted(etags.items())]
    done = api.post(f"/v1/datasets/uploads/{upload['id']}/complete", json={"parts": parts})
    assert done.status_code == 202, done.text
    dataset = done.json()
    key = dataset_upload_key(dataset["id"], "zip")
    assert (dataset["status"], dataset["source"], dataset["sha256"]) == ("ingesting", f"upload:{key}", sha(data))
    stored = s3_server.client().get_object(Bucket=bucket, Key=f"{PREFIX}/{key}")
    assert stored["Body"].read() == data and stored["Metadata"]["sha256"] == sha(data)
    assert multipart_uploads(s3_server, bucket) == []


def test_abort_deletes_the_parts_in_the_object_store(api: Api, s3_server: S3Server, bucket: str) -> None:
    data = big_archive(PART)
    upload = api.post(
        "/v1/datasets/uploads", json={"filename": "x.zip", "size": len(data), "sha256": sha(data), "part_size": PART}
    ).json()
    put_direct(upload["targets"][0]["url"], part_of(data, 1, PART))
    assert len(multipart_uploads(s3_server, bucket)) == 1
    aborted = api.client.delete(f"/v1/datasets/uploads/{upload['id']}", headers=api.auth())
    assert aborted.status_code == 200 and aborted.json()["status"] == "aborted"
    assert multipart_uploads(s3_server, bucket) == []
    assert s3_server.object_names(bucket) == []
    assert_error(
        api.post("/v1/datasets/uploads", json={"filename": "x.zip", "size": 10, "sha256": sha(b"x"), "part_size": MIB}),
        422,
        "validation_error",
        "part_size",
    )  # an object store's parts are at least 5 MiB


def test_the_datasets_page_lets_the_browser_reach_the_object_store(api: Api, s3_server: S3Server) -> None:
    """Its JS PUTs parts to presigned URLs: the page's connect-src names the store's origin, no other."""
    browser = browser_for(api, api.token)
    page = browser.get("/ui/datasets")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert f"connect-src 'self' {s3_server.endpoint_url};" in policy
    assert "script-src 'self';" in policy  # the rest of the page's policy as ever
