"""The dashboard's dataset pages through a test client: the list with its register form, a dataset
while ingesting and once ready (classes, sample grid, statistics, bad files, events), the upload
routes our JS speaks (cookie and CSRF header), tenant isolation and escaping.

The browser itself (our JS hashing and sending the parts) is ``tests/browser/test_dataset_upload.py``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.db.models import Dataset
from tests.api.conftest import Api, make_api, sqlite_settings
from tests.api.test_datasets import image_folder, upload, zip_bytes
from tests.api.ui.test_pages import Browser, browser_for
from worker.ingestion import ingest_dataset

XSS = "<script>window.pwned = 1</script>"


@pytest.fixture
def api(sdd_env: Any, sqlite_template: Path) -> Iterator[Api]:
    yield from make_api(sqlite_settings(sdd_env, sqlite_template, dataset_sources="s3://corpus/open/=*"))


def ready_dataset(api: Api, **fields: str) -> str:
    files = image_folder() | {"train/dog/broken.png": b"not a png"}
    dataset_id = upload(api, zip_bytes(files), "pets.zip", **fields).json()["id"]
    ingest_dataset(dataset_id, api.settings)
    return str(dataset_id)


def test_the_list_is_a_page_with_its_forms(api: Api, alice: Browser) -> None:
    assert browser_for(api, None).get("/ui/datasets").headers["location"] == "/ui/login?next=/ui/datasets"
    empty = alice.get("/ui/datasets")
    assert empty.status_code == 200 and empty.headers["content-type"].startswith("text/html")
    assert "No datasets yet." in empty.text and 'id="register-form"' in empty.text
    assert 'id="upload-form"' in empty.text and "/ui/static/datasets.js" in empty.text
    assert "connect-src 'self';" in empty.headers["content-security-policy"]  # parts go to this server
    assert '<a href="/ui/datasets">Datasets</a>' in empty.text

    dataset_id = ready_dataset(api, name=XSS)
    listed = alice.get("/ui/datasets")
    assert dataset_id in listed.text and XSS not in listed.text and "&lt;script&gt;" in listed.text
    assert 'class="badge status-ready"' in listed.text


def test_register_through_the_form_and_its_refusals(api: Api, alice: Browser) -> None:
    refused = alice.post("/ui/datasets/register", {"name": "birds", "source": "s3://corpus/closed/", "layout": ""})
    assert refused.status_code == 422
    assert re.search(r'id="f-source"[^>]*aria-invalid="true"', refused.text), refused.text
    assert "source_not_allowed" not in refused.text and "is not under a prefix" in refused.text
    assert 'value="s3://corpus/closed/"' in refused.text  # what was typed stays
    assert (
        alice.post("/ui/datasets/register", {"name": "x", "source": "s3://corpus/open/"}, csrf=False).status_code == 403
    )
    with api.session() as session:
        assert session.scalars(select(Dataset)).all() == []

    done = alice.post(
        "/ui/datasets/register",
        {"name": "birds", "source": "s3://corpus/open/cub/", "layout": "cub200", "crop_to_boxes": "on"},
    )
    assert done.status_code == 303
    page = alice.get(done.headers["location"])
    assert page.status_code == 200 and "s3://corpus/open/cub/" in page.text
    assert 'class="badge status-ingesting"' in page.text and 'data-terminal="false"' in page.text
    assert "queued" in page.text and "registered from s3://corpus/open/cub/" in page.text
    dataset_id = done.headers["location"].rsplit("/", 1)[1]
    live = alice.get(f"/ui/datasets/{dataset_id}/live")
    assert live.status_code == 200 and 'id="dataset-live"' in live.text and "<html" not in live.text
    assert browser_for(api, None).get(f"/ui/datasets/{dataset_id}/live").status_code == 401
    not_yet = alice.get(f"/ui/datasets/{dataset_id}/samples.png")
    assert not_yet.status_code == 404 and "still being ingested" in not_yet.text


def test_a_ready_dataset_shows_its_classes_grid_statistics_bad_files_and_events(
    api: Api, alice: Browser, bob: Browser
) -> None:
    dataset_id = ready_dataset(api)
    page = alice.get(f"/ui/datasets/{dataset_id}")
    assert page.status_code == 200 and 'data-terminal="true"' in page.text
    classes = re.search(r'<table class="hyper" id="classes-table">.*?</table>', page.text, re.S)
    assert classes is not None and ">cat</th>" in classes.group(0) and ">dog</th>" in classes.group(0)
    assert f'src="/ui/datasets/{dataset_id}/samples.png"' in page.text
    assert 'id="statistics-table"' in page.text and "mean" in page.text
    assert "train/dog/broken.png" in page.text and 'id="bad-files-count">1<' in page.text
    assert ">registered<" in page.text and ">ready<" in page.text
    grid = alice.get(f"/ui/datasets/{dataset_id}/samples.png")
    assert grid.status_code == 200 and grid.content.startswith(b"\x89PNG")

    assert bob.get(f"/ui/datasets/{dataset_id}").status_code == 404
    assert bob.get(f"/ui/datasets/{dataset_id}/samples.png").status_code == 404
    assert dataset_id not in bob.get("/ui/datasets").text
    assert f'value="{dataset_id}"' in alice.get("/ui/submit").text  # ready: a job may name it


def test_the_submit_form_offers_only_ready_datasets(api: Api, alice: Browser) -> None:
    alice.post("/ui/datasets/register", {"name": "birds", "source": "s3://corpus/open/cub/"})
    with api.session() as session:
        ingesting = session.scalars(select(Dataset.id)).one()
    assert ingesting not in alice.get("/ui/submit").text


def test_the_upload_routes_our_js_speaks(api: Api, alice: Browser, bob: Browser) -> None:
    data = zip_bytes(image_folder())
    digest = hashlib.sha256(data).hexdigest()
    headers = {"X-CSRF-Token": alice.csrf}
    body = {"filename": "pets.zip", "size": len(data), "sha256": digest, "part_size": 64 << 10}
    assert alice.client.post("/ui/datasets/uploads", json=body).status_code == 403  # no CSRF header
    created = alice.client.post("/ui/datasets/uploads", json=body, headers=headers)
    assert created.status_code == 201, created.text
    upload_id = created.json()["id"]
    target = created.json()["targets"][0]
    assert target["url"] == f"/ui/datasets/uploads/{upload_id}/parts/1" and target["through_api"]

    query = {"filename": "pets.zip", "size": len(data), "sha256": digest}
    assert [u["id"] for u in alice.client.get("/ui/datasets/uploads", params=query).json()["data"]] == [upload_id]
    assert bob.client.get("/ui/datasets/uploads", params=query).json()["data"] == []
    part_headers = headers | {"X-Content-SHA256": digest, "Content-Type": "application/octet-stream"}
    assert alice.client.put(target["url"], content=data, headers={"X-Content-SHA256": digest}).status_code == 403
    assert (
        bob.client.put(target["url"], content=data, headers=part_headers | {"X-CSRF-Token": bob.csrf}).status_code
        == 404
    )
    sent = alice.client.put(target["url"], content=data, headers=part_headers)
    assert sent.status_code == 200 and sent.json()["etag"] == digest
    done = alice.client.post(f"/ui/datasets/uploads/{upload_id}/complete", json={}, headers=headers)
    assert done.status_code == 202, done.text
    assert done.json()["url"] == f"/ui/datasets/{done.json()['id']}"
    assert "status-ingesting" in alice.get(done.json()["url"]).text
