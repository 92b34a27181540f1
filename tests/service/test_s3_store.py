"""The S3 store against a real S3-protocol server (moto's standalone server on loopback).

The same interface as the local store (``service.artifacts``), plus what only an object store
does: multipart uploads, fetches into the node's cache checked against the recorded SHA-256,
presigned download URLs, and keeping an uploaded archive that each node unpacks once.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.artifact_cache import ArtifactCache
from service.artifact_stores import get_artifact_store
from service.artifacts import (
    ChecksumMismatch,
    InvalidKey,
    TooLarge,
    dataset_key,
    job_card_key,
    job_checkpoint_key,
    job_student_key,
    model_weights_key,
)
from service.s3_store import S3ArtifactStore, s3_client
from service.settings import Settings
from tests.fixtures.servers import S3Server

MIB = 1 << 20
_buckets = itertools.count(1)


@pytest.fixture
def aws_env(s3_server: S3Server, monkeypatch) -> dict[str, str]:
    """Region and credentials the standard AWS way, as a deployment sets them."""
    env = s3_server.environment()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket(f"test-bucket-{os.getpid()}-{next(_buckets)}")


@pytest.fixture
def store(s3_server: S3Server, aws_env, bucket: str, tmp_path) -> Iterator[S3ArtifactStore]:
    store = S3ArtifactStore(
        s3_client(s3_server.endpoint_url),
        bucket,
        "sdd/prod",
        ArtifactCache(tmp_path / "cache", max_bytes=64 * MIB),
        multipart_bytes=5 * MIB,  # the smallest part S3 accepts, so a 12 MiB file goes in 3 parts
    )
    yield store
    store.close()


def test_put_file_goes_up_in_parts_with_its_sha256(store, s3_server, bucket, tmp_path) -> None:
    src = tmp_path / "checkpoint.pt"
    src.write_bytes(os.urandom(12 * MIB))
    key = job_checkpoint_key("job_abc", 3)
    stored = store.put_file(key, src)

    assert (stored.key, stored.size_bytes) == (key, 12 * MIB)
    assert stored.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    head = s3_server.client().head_object(Bucket=bucket, Key=f"sdd/prod/{key}")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload of three parts
    assert head["Metadata"]["sha256"] == stored.sha256
    with store.open(key) as handle:
        assert handle.read() == src.read_bytes()
    assert store.exists(key) and not store.exists(job_checkpoint_key("job_abc", 4))


def test_put_bytes_and_put_stream_overwrite(store) -> None:
    key = job_card_key("job_abc")
    store.put_bytes(key, b"x" * 10_000)
    stored = store.put_stream(key, io.BytesIO(b"short"))
    assert stored.size_bytes == 5 and stored.sha256 == hashlib.sha256(b"short").hexdigest()
    with store.open(key) as handle:
        assert handle.read() == b"short"


def test_put_stream_over_the_limit_uploads_nothing(store, s3_server, bucket) -> None:
    with pytest.raises(TooLarge):
        store.put_stream(model_weights_key("mdl_x"), io.BytesIO(b"y" * 5000), max_bytes=4096)
    assert s3_server.object_names(bucket) == []
    assert list((store.cache.root / "tmp").iterdir()) == []  # the spool file went too


def test_missing_objects_and_bad_keys(store) -> None:
    with pytest.raises(FileNotFoundError):
        store.open(job_student_key("job_nope"))
    with pytest.raises(FileNotFoundError):
        store.fetch(job_student_key("job_nope"), "0" * 64)
    assert store.delete(job_student_key("job_nope")) is False
    for key in ("../etc/passwd", "/abs", "Foo Bar"):
        with pytest.raises(InvalidKey):
            store.put_bytes(key, b"")


def test_delete_and_delete_prefix(store, s3_server, bucket) -> None:
    for name in ("student.safetensors", "card.json", "checkpoints/epoch_0001.pt"):
        store.put_bytes(f"jobs/job_a/{name}", b"1")
    store.put_bytes("jobs/job_ab/card.json", b"1")  # same leading characters, another job
    store.put_bytes(dataset_key("ds_a"), b"archive")
    assert store.delete("jobs/job_a/card.json") is True
    assert store.delete_prefix("jobs/job_a") == 2
    assert store.delete_prefix(dataset_key("ds_a")) == 1  # the object at the key itself
    assert s3_server.object_names(bucket) == ["sdd/prod/jobs/job_ab/card.json"]


def test_fetch_downloads_once_per_node(store, s3_server, bucket) -> None:
    stored = store.put_bytes(model_weights_key("mdl_t"), b"teacher weights")
    path = store.fetch(stored.key, stored.sha256)
    assert path.read_bytes() == b"teacher weights"
    assert path.parent == store.cache.root / "files"
    s3_server.client().delete_object(Bucket=bucket, Key=store.object_name(stored.key))
    assert store.fetch(stored.key, stored.sha256) == path  # from the cache: no second download


def test_fetch_refuses_bytes_that_do_not_match_the_recorded_sha256(store, s3_server, bucket) -> None:
    stored = store.put_bytes(job_student_key("job_c"), b"good weights")
    s3_server.client().put_object(Bucket=bucket, Key=store.object_name(stored.key), Body=b"evil weights")
    with pytest.raises(ChecksumMismatch):
        store.fetch(stored.key, stored.sha256)
    assert store.cache.entries() == []  # nothing kept
    with pytest.raises(FileNotFoundError):
        store.fetch(stored.key, None)  # never fetched without a checksum to check


def test_an_uploaded_archive_is_kept_whole_and_unpacked_once_per_node(store, tmp_path) -> None:
    folder = tmp_path / "unpacked"
    (folder / "train" / "cat").mkdir(parents=True)
    (folder / "train" / "cat" / "0.png").write_bytes(b"png")
    archive = tmp_path / "upload.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(folder, arcname=".")
    stored = store.put_unpacked(dataset_key("ds_x"), archive, folder, move=True)
    assert stored.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()  # the upload's own digest

    unpacked: list[Path] = []

    def unpack(src: Path, dest: Path) -> None:
        unpacked.append(src)
        with tarfile.open(src) as tar:
            tar.extractall(dest, filter="data")

    first = store.fetch_unpacked(stored.key, stored.sha256, unpack)
    second = store.fetch_unpacked(stored.key, stored.sha256, unpack)
    assert first == second and (first / "train" / "cat" / "0.png").read_bytes() == b"png"
    assert len(unpacked) == 1 and not unpacked[0].exists()  # the downloaded archive is not kept


def test_presigned_download_urls(store, tmp_path) -> None:
    stored = store.put_bytes(job_student_key("job_p"), b"student weights")
    assert store.download_url(stored.key, filename="s.safetensors", media_type="application/octet-stream") is None
    store.presigned_downloads = True
    url = store.download_url(stored.key, filename="s.safetensors", media_type="application/octet-stream")
    assert url is not None and "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    response = httpx.get(url)  # no credentials: the URL is the permission
    assert response.status_code == 200 and response.content == b"student weights"
    assert response.headers["content-disposition"] == 'attachment; filename="s.safetensors"'
    with pytest.raises(FileNotFoundError):
        store.download_url(job_student_key("job_q"), filename=None, media_type="application/octet-stream")


def test_settings_select_the_s3_store(s3_server, aws_env, bucket, tmp_path) -> None:
    settings = Settings(
        home=tmp_path,
        artifact_url=f"s3://{bucket}/some/prefix/",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_presigned_downloads=True,
        cache_max_bytes=123,
    )
    store = get_artifact_store(settings)
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix, store.presigned_downloads) == (bucket, "some/prefix", True)
    assert (store.cache.root, store.cache.max_bytes) == (tmp_path / "cache", 123)
    store.put_bytes(job_card_key("job_s"), b"{}")
    assert s3_server.object_names(bucket) == ["some/prefix/jobs/job_s/card.json"]
    with pytest.raises(ValueError, match="s3://bucket"):
        Settings(home=tmp_path, artifact_url="https://example.com/bucket")


def test_the_embedded_default_never_imports_boto3(tmp_path) -> None:
    code = (
        "import sys\n"
        "from service.artifact_stores import get_artifact_store\n"
        "from service.settings import Settings\n"
        "import api.app, worker.runner, worker.tasks\n"
        f"get_artifact_store(Settings(home={str(tmp_path)!r}))\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDD_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
