"""Multipart uploads in both stores: parts in any order, a part sent again, completion, abort.

The S3 store runs against moto's standalone server on loopback, its parts PUT with plain HTTP to
presigned URLs as a client does; the local store takes them through ``put_part``.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
from collections.abc import Iterator

import httpx
import pytest

from service.artifact_cache import ArtifactCache
from service.artifacts import ChecksumMismatch, PartMismatch, StoredPart, dataset_upload_key
from service.local_store import LocalArtifactStore
from service.s3_store import S3ArtifactStore, s3_client
from tests.fixtures.servers import S3Server

MIB = 1 << 20
PART = 5 * MIB  # the smallest part S3 takes (but the last)
KEY = dataset_upload_key("ds_0123456789abcdef01234567", "zip")
_buckets = itertools.count(1)


@pytest.fixture
def s3_store(s3_server: S3Server, monkeypatch, tmp_path) -> Iterator[S3ArtifactStore]:
    for name, value in s3_server.environment().items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.create_bucket(f"multipart-{os.getpid()}-{next(_buckets)}")
    store = S3ArtifactStore(
        s3_client(s3_server.endpoint_url), bucket, "sdd", ArtifactCache(tmp_path / "cache", max_bytes=64 * MIB)
    )
    yield store
    store.close()


def split(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def send_part(store: LocalArtifactStore | S3ArtifactStore, upload_id: str, number: int, data: bytes) -> StoredPart:
    """A part as a client sends it: a plain PUT to the presigned URL, or through ``put_part``."""
    url = store.part_upload_url(KEY, upload_id, number, 60)
    if url is None:
        return store.put_part(KEY, upload_id, number, io.BytesIO(data), len(data), sha(data))
    response = httpx.put(url, content=data)  # no credentials: the URL is the permission
    assert response.status_code == 200, response.text
    return StoredPart(number, len(data), response.headers["etag"].strip('"'))


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_parts_in_any_order_resent_and_completed(kind: str, request, tmp_path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts") if kind == "local" else request.getfixturevalue("s3_store")
    data = os.urandom(2 * PART + 1234)
    pieces = split(data, PART)
    upload_id = store.start_multipart(KEY, sha(data))
    assert store.list_parts(KEY, upload_id) == []

    send_part(store, upload_id, 3, pieces[2])
    send_part(store, upload_id, 1, b"x" * PART)  # a wrong part 1, sent again below: the last copy counts
    send_part(store, upload_id, 1, pieces[0])
    received = store.list_parts(KEY, upload_id)
    assert [(p.number, p.size_bytes) for p in received] == [(1, PART), (3, 1234)]  # part 2 missing: resume with it
    assert not store.exists(KEY)

    second = send_part(store, upload_id, 2, pieces[1])
    parts = store.list_parts(KEY, upload_id)
    assert parts[1] == second
    stored = store.complete_multipart(KEY, upload_id, parts, sha(data))
    assert (stored.size_bytes, stored.sha256) == (len(data), sha(data))
    with store.open(KEY) as handle:
        assert handle.read() == data
    with pytest.raises(FileNotFoundError):
        store.list_parts(KEY, upload_id)  # the upload ended with its completion


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_abort_deletes_the_parts(kind: str, request, tmp_path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts") if kind == "local" else request.getfixturevalue("s3_store")
    upload_id = store.start_multipart(KEY, "0" * 64)
    send_part(store, upload_id, 1, os.urandom(PART))
    store.abort_multipart(KEY, upload_id)
    with pytest.raises(FileNotFoundError):
        store.list_parts(KEY, upload_id)
    store.abort_multipart(KEY, upload_id)  # twice: nothing left to do
    if isinstance(store, S3ArtifactStore):
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        assert uploads == []
    else:
        assert not any((store.root / ".multipart").iterdir())
    assert not store.exists(KEY)


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_part_of_the_wrong_size_or_digest_is_not_kept(kind: str, request, tmp_path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts") if kind == "local" else request.getfixturevalue("s3_store")
    upload_id = store.start_multipart(KEY, "0" * 64)
    with pytest.raises(PartMismatch, match="size") as short:
        store.put_part(KEY, upload_id, 1, io.BytesIO(b"abc"), 4, sha(b"abcd"))
    assert (short.value.number, short.value.what) == (1, "size")
    with pytest.raises(PartMismatch, match="more than 2 bytes"):
        store.put_part(KEY, upload_id, 1, io.BytesIO(b"abc"), 2, sha(b"ab"))
    with pytest.raises(PartMismatch) as digest:
        store.put_part(KEY, upload_id, 1, io.BytesIO(b"abc"), 3, sha(b"abd"))
    assert digest.value.what == "sha256" and digest.value.actual == sha(b"abc")
    assert store.list_parts(KEY, upload_id) == []
    store.abort_multipart(KEY, upload_id)


def test_the_local_store_checks_the_whole_file_and_keeps_the_parts_when_it_does_not_match(tmp_path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    upload_id = store.start_multipart(KEY, sha(b"what was announced"))
    send_part(store, upload_id, 1, b"what was sent")
    with pytest.raises(ChecksumMismatch):
        store.complete_multipart(KEY, upload_id, store.list_parts(KEY, upload_id), sha(b"what was announced"))
    assert not store.exists(KEY) and len(store.list_parts(KEY, upload_id)) == 1
    assert not list(store.path(KEY).parent.glob(".tmp-*"))
    for bad in ("../../etc", "0" * 31, "Z" * 32):
        with pytest.raises(FileNotFoundError):
            store.list_parts(KEY, bad)
