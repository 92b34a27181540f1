"""Request bodies are capped (413) before they are buffered, except the streamed uploads."""

from __future__ import annotations

import json
import os

from api.security import REQUEST_BODY_MAX_BYTES
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings


def big_job_body() -> bytes:
    return json.dumps(
        {"dataset": "digits", "student": "resnet8", "method": "ce", "metadata": {"x": "y" * REQUEST_BODY_MAX_BYTES}}
    ).encode()


def test_a_declared_oversized_body_is_refused_unread(api: Api) -> None:
    response = api.post("/v1/jobs", content=big_job_body(), headers={"Content-Type": "application/json"})
    error = assert_error(response, 413, "payload_too_large", None)
    assert str(REQUEST_BODY_MAX_BYTES) in error["message"]


def test_a_streamed_oversized_body_is_cut_off(api: Api) -> None:
    body = big_job_body()
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))  # no Content-Length: chunked
    response = api.post("/v1/jobs", content=chunks, headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "payload_too_large", None)


def test_dashboard_forms_are_capped_too(api: Api) -> None:
    response = api.client.post("/ui/login", data={"token": "x" * (REQUEST_BODY_MAX_BYTES + 1)})
    assert response.status_code == 413


def test_uploads_are_streamed_under_their_own_limit(sdd_env, sqlite_template) -> None:
    sqlite_settings(sdd_env, sqlite_template)  # a migrated database (with the small test upload limit)
    settings = sdd_env(max_upload_bytes=3 * REQUEST_BODY_MAX_BYTES)  # ... raised for this test
    for api in make_api(settings):
        junk = os.urandom(2 * REQUEST_BODY_MAX_BYTES)  # over the body cap, under the upload limit
        response = api.post("/v1/datasets", files={"file": ("data.zip", junk)})
        assert_error(response, 422, "invalid_archive", "file")  # read, then judged: not a 413
