"""The dataset upload in a real headless Chromium: our JS hashes the file, sends its parts and
completes the upload (a new one, and one an earlier session left unfinished), then the dataset page
refreshes until the ingestion (run here as a worker runs it) is done and shows the classes and the
sample grid. Against a real uvicorn server on the embedded default (local store: parts through the
dashboard's routes, each checked for its size and SHA-256).

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package, as
``test_dashboard.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.settings import Settings
from tests.api.test_dataset_uploads import big_archive
from tests.api.test_datasets import image_folder, zip_bytes
from tests.browser.browser_site import (
    chromium,
    dashboard_server,
    needs_chromium,
    screenshot,
    sign_in,
    text_of,
    wait_for,
)
from worker.ingestion import ingest_dataset

pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

pytestmark = needs_chromium


@dataclass
class Site:
    url: str
    settings: Settings
    token: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with dashboard_server(tmp_path_factory.mktemp("dataset-upload"), "dataset-upload") as (url, settings, token):
        yield Site(url, settings, token)


@pytest.fixture(scope="module")
def browser(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with chromium(tmp_path_factory.mktemp("chromium-dataset-upload"), window="1366,900") as driver:
        sign_in(driver, site.url, site.token, page="/ui/datasets", ready="upload-form")
        yield driver


def upload_in_the_browser(driver: WebDriver, site: Site, archive: Path, name: str = "") -> str:
    """Choose the file, send the form, wait for the dataset's page; its id."""
    driver.get(site.url + "/ui/datasets")
    driver.find_element(By.ID, "upload-file").send_keys(str(archive))
    if name:
        driver.find_element(By.ID, "upload-name").send_keys(name)
    driver.find_element(By.ID, "upload-button").click()
    wait_for(driver, lambda d: "/ui/datasets/ds_" in d.current_url, "the dataset page after the upload", 60)
    return driver.current_url.rsplit("/", 1)[1]


def test_upload_from_the_browser_then_the_page_follows_the_ingestion(browser: WebDriver, site: Site, tmp_path) -> None:
    archive = tmp_path / "pets.zip"
    archive.write_bytes(zip_bytes(image_folder()))
    dataset_id = upload_in_the_browser(browser, site, archive, name="pets")
    assert text_of(browser, "#dataset-status") == "ingesting"
    screenshot(browser, "datasets-01-ingesting")

    ingest_dataset(dataset_id, site.settings)  # a worker takes it
    wait_for(browser, lambda d: text_of(d, "#dataset-status") == "ready", "the page to show the dataset ready")
    assert "cat" in (text_of(browser, "#classes-table") or "") and "dog" in (text_of(browser, "#classes-table") or "")
    wait_for(
        browser,
        lambda d: d.execute_script("const i = document.querySelector('#sample-grid'); return i && i.naturalWidth > 0;"),
        "the sample grid to load",
    )
    screenshot(browser, "datasets-02-ready")
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {site.token}"}) as client:
        dataset = client.get(f"/v1/datasets/{dataset_id}").json()
    assert dataset["name"] == "pets" and dataset["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()


def test_the_browser_resumes_an_unfinished_upload_of_the_same_file(browser: WebDriver, site: Site, tmp_path) -> None:
    archive = tmp_path / "big.zip"
    archive.write_bytes(big_archive())
    data = archive.read_bytes()
    part = 64 << 10
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {site.token}"}) as client:
        body = {"filename": "big.zip", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "part_size": part}
        upload = client.post("/v1/datasets/uploads", json=body).json()
        for number in (1, 2, 3):  # an earlier session sent three parts
            chunk = data[(number - 1) * part : number * part]
            headers = {"X-Content-SHA256": hashlib.sha256(chunk).hexdigest()}
            assert (
                client.put(
                    f"/v1/datasets/uploads/{upload['id']}/parts/{number}", content=chunk, headers=headers
                ).status_code
                == 200
            )

        dataset_id = upload_in_the_browser(browser, site, archive)
        assert dataset_id == upload["dataset_id"]  # the same upload, completed
        assert client.get(f"/v1/datasets/uploads/{upload['id']}").json()["status"] == "completed"
        assert client.get(f"/v1/datasets/{dataset_id}").json()["size_bytes"] == len(data)
