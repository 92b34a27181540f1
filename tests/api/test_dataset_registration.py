"""Registering a dataset by reference: ``POST /v1/datasets`` with JSON, every refusal named.

No worker runs here: a registered dataset stays ``ingesting`` (its message waits in the file
broker), which is what a job naming it must be refused for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.db.models import Dataset, DatasetEvent
from tests.api.conftest import Api, assert_error, make_api, sqlite_settings

SOURCES = "s3://corpus/public/=*;s3://corpus/acme/=alice;s3://corpus/bob/=bob"


@pytest.fixture
def api(sdd_env: Any, sqlite_template: Path) -> Iterator[Api]:
    """The API with an allow-list: a prefix open to all, one to alice's tenant, one to bob's."""
    yield from make_api(sqlite_settings(sdd_env, sqlite_template, dataset_sources=SOURCES))


def register(api: Api, token: str | None = None, **body: Any):
    return api.post("/v1/datasets", token, json={"name": "birds", "source": "s3://corpus/public/cub/"} | body)


def test_a_registered_dataset_is_ingesting_with_its_registration_as_an_event(api: Api) -> None:
    response = register(api, source="s3://corpus/acme/cub", layout="cub200", crop_to_boxes=True)
    assert response.status_code == 202, response.text
    dataset = response.json()
    assert dataset["id"].startswith("ds_") and dataset["name"] == "birds"
    assert (dataset["status"], dataset["source"], dataset["layout"]) == ("ingesting", "s3://corpus/acme/cub/", "cub200")
    assert dataset["progress"] == {"stage": "queued", "done": 0, "total": None}
    assert dataset["classes"] is None and dataset["num_classes"] is None and dataset["error"] is None
    assert (dataset["bad_files"], dataset["bad_files_count"], dataset["size_bytes"], dataset["sha256"]) == (
        [],
        0,
        0,
        None,
    )

    events = api.get(f"/v1/datasets/{dataset['id']}/events").json()["data"]
    assert [event["type"] for event in events] == ["registered"]
    assert events[0]["data"] == {"source": "s3://corpus/acme/cub/", "layout": "cub200", "crop_to_boxes": True}

    detected = register(api).json()
    assert detected["layout"] is None  # left to the ingestion to detect
    assert api.get(f"/v1/datasets/{detected['id']}").json()["status"] == "ingesting"
    listed = api.get("/v1/datasets", params={"status": "ingesting"}).json()["data"]
    assert [d["id"] for d in listed] == [detected["id"], dataset["id"]]
    assert api.get("/v1/datasets", params={"status": "ready"}).json()["data"] == []
    assert_error(api.get("/v1/datasets", params={"status": "done"}), 422, "validation_error", "status")


def test_a_job_naming_a_dataset_still_ingesting_is_refused(api: Api) -> None:
    dataset = register(api).json()
    error = assert_error(api.post_job(dataset=dataset["id"]), 409, "dataset_not_ready", "dataset")
    assert "ingesting" in error["message"] and "sdd datasets wait" in error["message"]


@pytest.mark.parametrize(
    ("body", "status", "code", "param", "says"),
    [
        ({"layout": "coco"}, 422, "validation_error", "layout", "imagefolder"),
        ({"crop_to_boxes": True, "layout": "imagenet"}, 422, "validation_error", "crop_to_boxes", "cub200"),
        ({"source": "s3://corpus/private/x/"}, 422, "source_not_allowed", "source", "s3://corpus/private/x/"),
        ({"source": "s3://corpus/public-evil/"}, 422, "source_not_allowed", "source", "public-evil"),
        ({"source": "s3://corpus/public/../acme/"}, 422, "invalid_source", "source", "'..'"),
        ({"source": "https://corpus.example.com/public/"}, 422, "invalid_source", "source", "s3://"),
        ({"source": "/etc/passwd"}, 422, "invalid_source", "source", "s3://"),
        ({"name": "  "}, 422, "validation_error", "name", "1 to 200"),
        ({"name": "evil\x1b[2J"}, 422, "validation_error", "name", "printable"),
        ({"endpoint_url": "http://169.254.169.254/"}, 422, "validation_error", "endpoint_url", "unknown field"),
        ({"aws_secret_access_key": "x"}, 422, "validation_error", "aws_secret_access_key", "unknown field"),
    ],
    ids=[
        "unknown-layout",
        "boxes-without-cub",
        "outside-the-allow-list",
        "a-sibling-prefix",
        "dot-dot",
        "not-s3",
        "a-server-path",
        "blank-name",
        "escape-in-name",
        "an-endpoint",
        "credentials",
    ],
)
def test_refusals_name_the_field(api: Api, body: dict, status: int, code: str, param: str, says: str) -> None:
    error = assert_error(register(api, **body), status, code, param)
    assert says in error["message"], error
    with api.session() as session:
        assert session.scalars(select(Dataset)).all() == []  # nothing stored


def test_another_tenants_prefix_is_refused_to_a_confused_deputy(api: Api) -> None:
    """The workers can read every listed prefix with their own credentials; a tenant must still not
    make them read another tenant's for it."""
    theirs = assert_error(register(api, source="s3://corpus/bob/private/"), 422, "source_not_allowed", "source")
    assert "'alice'" in theirs["message"]
    assert register(api, api.other_token, source="s3://corpus/bob/private/").status_code == 202
    assert_error(register(api, api.other_token, source="s3://corpus/acme/"), 422, "source_not_allowed", "source")
    with api.session() as session:
        assert len(session.scalars(select(Dataset)).all()) == 1
        assert len(session.scalars(select(DatasetEvent)).all()) == 1


def test_bodies_that_are_neither_json_nor_a_form(api: Api) -> None:
    assert_error(
        api.post("/v1/datasets", content=b"name=x", headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert_error(api.post("/v1/datasets", content=b"{not json", headers={"Content-Type": "application/json"}), 422)
    big = json.dumps({"name": "x" * (2 << 20), "source": "s3://corpus/public/"})
    assert_error(
        api.post("/v1/datasets", content=big, headers={"Content-Type": "application/json"}), 413, "payload_too_large"
    )
    missing = assert_error(api.post("/v1/datasets", json={"name": "x"}), 422, "validation_error", "source")
    assert "required" in missing["message"]


def test_without_an_allow_list_nothing_can_be_registered(sdd_env: Any, sqlite_template: Path) -> None:
    for closed in make_api(sqlite_settings(sdd_env, sqlite_template)):
        error = assert_error(register(closed), 422, "source_not_allowed", "source")
        assert "SDD_DATASET_SOURCES" in error["message"]
