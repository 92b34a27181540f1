"""Datasets from the client and the ``sdd datasets`` commands: a resumable upload interrupted and
resumed, registration, following an ingestion to ready or failed, show and list.

The ingestion runs in this process as a worker runs it (``worker.ingestion.ingest_dataset``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sdd_cli.main import cli
from sdd_client import SDDClient, cli_support
from sdd_client.errors import ServiceUnreachable
from sdd_client.models import PartTarget
from tests.api.conftest import Api, make_api, sqlite_settings
from tests.api.test_dataset_uploads import big_archive
from tests.api.test_datasets import image_folder, zip_bytes
from tests.sdd_client.conftest import TEST_URL
from worker.ingestion import ingest_dataset

PART = 64 << 10  # the smallest part the API takes: a 1.3 MiB archive in 21 parts


@pytest.fixture
def api(sdd_env: Any, sqlite_template: Path) -> Iterator[Api]:
    yield from make_api(sqlite_settings(sdd_env, sqlite_template, dataset_sources="s3://corpus/shared/=*"))


class FlakyClient(SDDClient):
    """A client whose connection drops after ``parts_before_drop`` parts were sent."""

    def __init__(self, *args: Any, parts_before_drop: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parts_before_drop = parts_before_drop
        self.sent: list[int] = []

    def put_part(self, target: PartTarget, data: bytes) -> str:
        if self.parts_before_drop is not None and len(self.sent) >= self.parts_before_drop:
            raise ServiceUnreachable(self.url, "connection reset by peer")
        self.sent.append(target.number)
        return super().put_part(target, data)


def test_an_interrupted_upload_resumes_with_the_missing_parts(api: Api, tmp_path: Path) -> None:
    archive = tmp_path / "pets.zip"
    archive.write_bytes(big_archive())
    parts = -(-archive.stat().st_size // PART)
    flaky = FlakyClient(TEST_URL, api.token, client=api.client, parts_before_drop=5)
    flaky._sleep = lambda seconds: None
    with pytest.raises(ServiceUnreachable):
        flaky.upload_dataset(archive, name="pets", part_size=PART)
    assert flaky.sent == [1, 2, 3, 4, 5]

    heard: list[tuple[str, int, int]] = []
    again = FlakyClient(TEST_URL, api.token, client=api.client)
    dataset = again.upload_dataset(archive, name="pets", part_size=PART, progress=lambda *seen: heard.append(seen))
    assert again.sent == list(range(6, parts + 1))  # only what the first run did not send
    assert dataset.status == "ingesting" and dataset.size_bytes == archive.stat().st_size
    size = archive.stat().st_size
    assert heard[0][0] == "hashing" and heard[-1] == ("uploading", size, size)
    assert ("uploading", 5 * PART, size) in heard  # the resumed run starts from what was received
    assert again.open_uploads() == []

    ingest_dataset(dataset.id, api.settings)
    ready = again.wait_dataset(dataset.id, poll=0.05, timeout=30)
    assert ready.status == "ready" and ready.classes == ["cat", "dog"]
    assert [event.type for event in again.dataset_events(dataset.id)][-1] == "ready"
    assert again.dataset_samples(dataset.id).startswith(b"\x89PNG")


# ---------------------------------------------------------------- the commands


@pytest.fixture
def sdd(api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``sdd …`` talking to the app through its TestClient."""
    monkeypatch.setenv("SDD_CONFIG", str(tmp_path / "config" / "sdd.json"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(
        cli_support, "make_client", lambda config: SDDClient(config.url, config.token, client=api.client)
    )
    runner = CliRunner(env={"SDD_URL": TEST_URL, "SDD_TOKEN": api.token})

    def run(*args: str) -> Result:
        result = runner.invoke(cli, list(args))
        assert "Traceback" not in result.output, result.output
        return result

    return run


def test_upload_follow_show_and_list(sdd, api: Api, tmp_path: Path) -> None:
    archive = tmp_path / "pets.zip"
    archive.write_bytes(zip_bytes(image_folder() | {"train/cat/broken.png": b"not a png"}))
    uploaded = sdd("datasets", "upload", str(archive), "--name", "pets", "--part-size", str(PART))
    assert uploaded.exit_code == 0, uploaded.output
    dataset_id = uploaded.stdout.strip()
    assert dataset_id.startswith("ds_") and "pets is ingesting" in uploaded.stderr

    ingest_dataset(dataset_id, api.settings)
    waited = sdd("datasets", "wait", "pets", "--poll", "0.05")
    assert waited.exit_code == 0, waited.output
    assert waited.stdout.strip() == dataset_id
    assert "pets is ready: 2 classes, 4 train / 2 val images at 8 px, 1 bad files left out" in waited.stderr

    shown = sdd("datasets", "show", "pets", "--events")
    assert shown.exit_code == 0, shown.output
    for text in ("ready", "imagefolder", "cat", "dog", "train/cat/broken.png", "bad files (first 1 of 1", "registered"):
        assert text in shown.stdout, text
    as_json = json.loads(sdd("datasets", "show", dataset_id, "--json").stdout)
    assert as_json["class_counts"] == {"train": {"cat": 2, "dog": 2}, "val": {"cat": 1, "dog": 1}}
    listed = sdd("datasets", "list", "--status", "ready")
    assert dataset_id in listed.stdout and "pets" in listed.stdout
    assert json.loads(sdd("datasets", "list", "--status", "failed", "--json").stdout) == []
    missing = sdd("datasets", "show", "cats")
    assert missing.exit_code == 2 and missing.stderr.startswith("error [not_found] no dataset matches 'cats': ")
    assert "none of your datasets is named so (`sdd datasets list` shows them)" in missing.stderr
    assert sdd("datasets", "show", dataset_id[:9], "--json").exit_code == 0  # ds_ and 6 hex digits


def test_a_failed_ingestion_exits_1_naming_why(sdd, api: Api, tmp_path: Path) -> None:
    archive = tmp_path / "train-only.zip"
    archive.write_bytes(zip_bytes(image_folder(splits=("train",))))
    dataset_id = sdd("datasets", "upload", str(archive)).stdout.strip()
    ingest_dataset(dataset_id, api.settings)
    waited = sdd("datasets", "wait", dataset_id, "--poll", "0.05")
    assert waited.exit_code == 1 and "train-only failed: [" in waited.stderr and "val" in waited.stderr


def test_register_and_its_refusals(sdd) -> None:
    registered = sdd("datasets", "register", "birds", "s3://corpus/shared/cub/", "--layout", "cub200",
                     "--crop-to-boxes", "--json")  # fmt: skip
    assert registered.exit_code == 0, registered.output
    dataset = json.loads(registered.stdout)
    assert (dataset["status"], dataset["source"], dataset["layout"]) == (
        "ingesting",
        "s3://corpus/shared/cub/",
        "cub200",
    )
    shown = sdd("datasets", "show", "birds")
    assert "ingesting (queued)" in shown.stdout or "queued" in shown.stdout

    outside = sdd("datasets", "register", "birds", "s3://corpus/private/")
    assert outside.exit_code == 2 and outside.stderr.startswith("error [source_not_allowed]")
    assert "(source)" in outside.stderr
    wrong = sdd("datasets", "register", "birds", "s3://corpus/shared/", "--layout", "coco")
    assert wrong.exit_code == 2 and "coco" in wrong.output
    timeout = sdd("datasets", "wait", "birds", "--poll", "0.05", "--timeout", "0.2")
    assert timeout.exit_code == 1 and "still ingesting" in timeout.stderr
