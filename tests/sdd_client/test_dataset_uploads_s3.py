"""The client's resumable upload with an object store: the API on a real socket names presigned
URLs on moto's S3 server, the client PUTs the parts there itself (no token), is cut off, resumes
with what is missing and completes with the ETags it was answered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sdd_client import SDDClient
from sdd_client.errors import ServiceUnreachable
from sdd_client.models import PartTarget
from tests.api.conftest import Api, make_api, sqlite_settings
from tests.api.test_dataset_uploads import big_archive
from tests.api.test_dataset_uploads_s3 import PREFIX, bucket, multipart_uploads  # noqa: F401  (fixtures)
from tests.fixtures.servers import S3Server

MIB = 1 << 20


@pytest.fixture
def api(sdd_env: Any, sqlite_template: Path, s3_server: S3Server, bucket: str, monkeypatch) -> Iterator[Api]:  # noqa: F811
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    settings = sqlite_settings(
        sdd_env, sqlite_template, artifact_url=f"s3://{bucket}/{PREFIX}", s3_endpoint_url=s3_server.endpoint_url
    )
    yield from make_api(settings)


class CutOff(SDDClient):
    """Stops after one part: the process was killed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.targets: list[PartTarget] = []

    def put_part(self, target: PartTarget, data: bytes) -> str:
        if self.targets:
            raise ServiceUnreachable(self.url, "killed")
        self.targets.append(target)
        return super().put_part(target, data)


def test_parts_go_straight_to_the_bucket_and_an_upload_resumes(
    api: Api,
    live_url: str,
    s3_server: S3Server,  # noqa: F811
    bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    archive = tmp_path / "birds.zip"
    archive.write_bytes(big_archive(11 * MIB))  # three parts of 5 MiB, the last one short
    cut = CutOff(live_url, api.token)
    cut._sleep = lambda seconds: None
    with cut, pytest.raises(ServiceUnreachable):
        cut.upload_dataset(archive, part_size=5 * MIB)
    assert cut.targets[0].url.startswith(s3_server.endpoint_url) and not cut.targets[0].through_api

    with SDDClient(live_url, api.token) as sdd:
        [open_upload] = sdd.open_uploads()
        assert [part.number for part in open_upload.received] == [1] and open_upload.missing == [2, 3]
        dataset = sdd.upload_dataset(archive, part_size=5 * MIB)
    assert (dataset.status, dataset.name, dataset.size_bytes) == ("ingesting", "birds", archive.stat().st_size)
    stored = s3_server.client().get_object(Bucket=bucket, Key=f"{PREFIX}/datasets/{dataset.id}/upload.zip")
    assert stored["Body"].read() == archive.read_bytes()
    assert multipart_uploads(s3_server, bucket) == []
