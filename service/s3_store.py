"""Artifacts in an S3-compatible object store (AWS S3, MinIO, Ceph, ...), through boto3.

Selected by ``SDD_ARTIFACT_URL=s3://bucket/prefix``; ``SDD_S3_ENDPOINT_URL`` names a non-AWS
endpoint, and region and credentials are boto3's own (``AWS_*`` variables, ``~/.aws``, instance
and container roles). A key ``jobs/<id>/student.safetensors`` is the object
``<prefix>/jobs/<id>/student.safetensors``; keys are built from ids only (``service.artifacts``).

* Writes: a file is hashed, then uploaded by boto3's managed transfer, in parallel parts above
  ``multipart_bytes`` (S3 shows a multipart object only once its last part is in: atomic like a
  single PUT). A stream is spooled to a temp file first, counting its bytes against the limit, so
  nothing is uploaded past it. The SHA-256 goes into the object's metadata (``x-amz-meta-sha256``)
  for people looking at the bucket; the copy the service trusts is the one in SQL.
* Reads for a job (``fetch``, ``fetch_unpacked``): into the node's cache
  (``service.artifact_cache``), keyed by the SHA-256 the row records and checked against it, so an
  object is downloaded once per node whatever the number of jobs reading it; entries stay pinned
  until the store is closed.
* Downloads (``open``, ``download_url``): a stream of the object for the API to pass on, or, with
  ``SDD_S3_PRESIGNED_DOWNLOADS=true``, a presigned GET URL valid ``SDD_S3_PRESIGNED_EXPIRY_SECONDS``
  signed for ``SDD_S3_PUBLIC_ENDPOINT_URL`` (the address clients reach, when the API reaches the
  store by another).

* Multipart uploads of datasets (``start_multipart`` ... ``complete_multipart``): S3's own, the
  client PUTting each part straight to a presigned ``UploadPart`` URL, so the API never holds the
  bytes; ``ListParts`` says what arrived, ``AbortMultipartUpload`` deletes the parts.

The bucket must exist; the service never creates or deletes buckets.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from service.artifact_cache import ArtifactCache, CachePins
from service.artifacts import (
    CHUNK_SIZE,
    ChecksumMismatch,
    PartMismatch,
    StoredObject,
    StoredPart,
    TooLarge,
    Unpack,
    sha256_file,
    validate_key,
)
from service.settings import Settings, parse_artifact_url

log = logging.getLogger(__name__)

MULTIPART_BYTES = 16 << 20  # parts of this size above this size (S3 wants at least 5 MiB per part)
TRANSFER_THREADS = 8
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
SHA256_METADATA = "sha256"
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchUpload"})

_clients: dict[tuple[int, str | None], Any] = {}
_clients_lock = threading.Lock()


def s3_client(endpoint_url: str | None) -> Any:
    """This process's boto3 S3 client for ``endpoint_url`` (made once; clients are thread-safe,
    but not fork-safe, hence one per process id)."""
    key = (os.getpid(), endpoint_url)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            config = Config(
                signature_version="s3v4",
                retries={"max_attempts": 5, "mode": "standard"},
                # Custom endpoints (MinIO, a loopback test server) are addressed by path, not by bucket host name.
                s3={"addressing_style": "path"} if endpoint_url else {},
                max_pool_connections=TRANSFER_THREADS * 2,
            )
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
            _clients[key] = client
        return client


def _is_missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING_CODES


class _ObjectStream(io.RawIOBase):
    """A ``GetObject`` body as a raw binary stream (wrapped in a buffered reader by ``open``)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3ArtifactStore:
    """The artifact interface (``service.artifacts.ArtifactStore``) over one bucket and prefix."""

    direct_part_uploads = True  # clients PUT a multipart upload's parts to presigned URLs

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        cache: ArtifactCache,
        *,
        presign_client: Any | None = None,
        presigned_downloads: bool = False,
        presigned_expiry_s: int = 300,
        multipart_bytes: int = MULTIPART_BYTES,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.cache = cache
        self.presign_client = presign_client or client
        self.presigned_downloads = presigned_downloads
        self.presigned_expiry_s = presigned_expiry_s
        self.transfer = TransferConfig(
            multipart_threshold=multipart_bytes,
            multipart_chunksize=multipart_bytes,
            max_concurrency=TRANSFER_THREADS,
        )
        self._pins = CachePins()

    def __repr__(self) -> str:
        return f"S3ArtifactStore(s3://{self.bucket}/{self.prefix})"

    def object_name(self, key: str) -> str:
        """The S3 object name of ``key``."""
        key = validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    # ------------------------------------------------------------ writes

    def put_file(self, key: str, src: Path) -> StoredObject:
        src = Path(src)
        sha = sha256_file(src)
        size = src.stat().st_size
        self.client.upload_file(
            str(src),
            self.bucket,
            self.object_name(key),
            ExtraArgs={"Metadata": {SHA256_METADATA: sha}},
            Config=self.transfer,
        )
        return StoredObject(key, size, sha)

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        sha = hashlib.sha256(data).hexdigest()
        self.client.put_object(
            Bucket=self.bucket, Key=self.object_name(key), Body=data, Metadata={SHA256_METADATA: sha}
        )
        return StoredObject(key, len(data), sha)

    def put_stream(self, key: str, fileobj: BinaryIO, max_bytes: int | None = None) -> StoredObject:
        """Spool ``fileobj`` to a temp file (past ``max_bytes``: :class:`TooLarge`, nothing uploaded), then upload it."""
        self.object_name(key)  # a bad key fails before any byte is read
        with tempfile.NamedTemporaryFile(prefix="upload-", dir=self.cache.root / "tmp") as spool:
            size = 0
            while chunk := fileobj.read(CHUNK_SIZE):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge(max_bytes)
                spool.write(chunk)
            spool.flush()
            return self.put_file(key, Path(spool.name))

    def put_unpacked(self, key: str, archive: Path, folder: Path, *, move: bool = False) -> StoredObject:
        """Keep the uploaded ``archive`` itself as one object: its SHA-256 is the upload's, which the
        dataset row records, and each node unpacks it once into its cache (``fetch_unpacked``)."""
        return self.put_file(key, archive)

    # ------------------------------------------------------------ reads

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_name(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def open(self, key: str) -> BinaryIO:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_name(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        return io.BufferedReader(_ObjectStream(response["Body"]), CHUNK_SIZE)

    def download_url(self, key: str, *, filename: str | None, media_type: str) -> str | None:
        """A presigned GET URL when presigned downloads are on (``FileNotFoundError`` if the object
        is absent, so a client is never sent to a 404); None otherwise."""
        if not self.presigned_downloads:
            return None
        if not self.exists(key):
            raise FileNotFoundError(key)
        params = {"Bucket": self.bucket, "Key": self.object_name(key), "ResponseContentType": media_type}
        if filename is not None:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        url: str = self.presign_client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.presigned_expiry_s
        )
        return url

    def fetch(self, key: str, sha256: str | None) -> Path:
        """The object in this node's cache, downloaded (and checked) only if no job here fetched it before."""
        if sha256 is None:
            raise FileNotFoundError(f"{key}: no SHA-256 recorded, so it cannot be fetched from the object store")
        return self.cache.file(sha256, lambda dest: self._download(key, dest, sha256), self._pins)

    def fetch_unpacked(self, key: str, sha256: str | None, unpack: Unpack) -> Path:
        """The folder ``unpack`` makes from the archive at ``key``, unpacked once per node into the cache."""
        if sha256 is None:
            raise FileNotFoundError(f"{key}: no SHA-256 recorded, so it cannot be fetched from the object store")

        def fill(dest: Path) -> None:
            archive = dest.parent / "archive"
            try:
                self._download(key, archive, sha256)
                unpack(archive, dest)
            finally:
                archive.unlink(missing_ok=True)

        return self.cache.tree(sha256, fill, self._pins)

    def _download(self, key: str, dest: Path, sha256: str) -> None:
        name = self.object_name(key)
        try:
            self.client.download_file(self.bucket, name, str(dest), Config=self.transfer)
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        actual = sha256_file(dest)
        if actual != sha256:
            dest.unlink(missing_ok=True)
            raise ChecksumMismatch(key, sha256, actual)
        log.info("fetched s3://%s/%s (%d bytes)", self.bucket, name, dest.stat().st_size)

    # ------------------------------------------------------------ deletes

    def delete(self, key: str) -> bool:
        if not self.exists(key):
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self.object_name(key))
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete the object at ``prefix`` and every object below ``prefix/``; how many went."""
        name = self.object_name(prefix)
        names = [name] if self.exists(prefix) else []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=name + "/"):
            names += [item["Key"] for item in page.get("Contents", [])]
        for start in range(0, len(names), DELETE_BATCH):
            batch = names[start : start + DELETE_BATCH]
            self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": n} for n in batch], "Quiet": True}
            )
        return len(names)

    def close(self) -> None:
        """Unpin what this store fetched: the cache may evict it from now on."""
        self._pins.release()

    # ------------------------------------------------------------ multipart uploads

    def start_multipart(self, key: str, sha256: str) -> str:
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.object_name(key), Metadata={SHA256_METADATA: sha256}
        )
        upload_id: str = response["UploadId"]
        return upload_id

    def part_upload_url(self, key: str, upload_id: str, number: int, expires_s: int) -> str | None:
        """A presigned ``UploadPart`` URL (for ``SDD_S3_PUBLIC_ENDPOINT_URL`` when set): the
        client PUTs the part's bytes to it, with no credentials of its own."""
        params = {"Bucket": self.bucket, "Key": self.object_name(key), "UploadId": upload_id, "PartNumber": number}
        url: str = self.presign_client.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_s)
        return url

    def put_part(self, key: str, upload_id: str, number: int, fileobj: BinaryIO, size: int, sha256: str) -> StoredPart:
        """Spool the part (checking its size and SHA-256, as the local store does), then ``UploadPart`` it."""
        with tempfile.NamedTemporaryFile(prefix="part-", dir=self.cache.root / "tmp") as spool:
            digest = hashlib.sha256()
            received = 0
            while chunk := fileobj.read(CHUNK_SIZE):
                received += len(chunk)
                if received > size:
                    raise PartMismatch(number, "size", f"{size} bytes", f"more than {size} bytes")
                digest.update(chunk)
                spool.write(chunk)
            if received != size:
                raise PartMismatch(number, "size", f"{size} bytes", f"{received} bytes")
            if digest.hexdigest() != sha256:
                raise PartMismatch(number, "sha256", sha256, digest.hexdigest())
            spool.flush()
            spool.seek(0)
            response = self.client.upload_part(
                Bucket=self.bucket,
                Key=self.object_name(key),
                UploadId=upload_id,
                PartNumber=number,
                Body=spool,
                ContentLength=size,
            )
        return StoredPart(number, size, str(response["ETag"]).strip('"'))

    def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        parts: list[StoredPart] = []
        paginator = self.client.get_paginator("list_parts")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Key=self.object_name(key), UploadId=upload_id):
                parts += [
                    StoredPart(int(item["PartNumber"]), int(item["Size"]), str(item["ETag"]).strip('"'))
                    for item in page.get("Parts", [])
                ]
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"no multipart upload {upload_id!r}") from exc
            raise
        return sorted(parts, key=lambda part: part.number)

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[StoredPart], sha256: str) -> StoredObject:
        """``CompleteMultipartUpload``: the object appears at once, whole. Its bytes are checked
        against ``sha256`` by whoever fetches it (``fetch``), not here: that would read it all."""
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.object_name(key),
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": part.number, "ETag": f'"{part.etag}"'} for part in parts]},
        )
        return StoredObject(key, sum(part.size_bytes for part in parts), sha256)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.object_name(key), UploadId=upload_id)
        except ClientError as exc:
            if not _is_missing(exc):
                raise


def s3_store_from_settings(settings: Settings) -> S3ArtifactStore:
    """The store ``SDD_ARTIFACT_URL`` names, with this process's client and the node's cache."""
    assert settings.artifact_url is not None
    bucket, prefix = parse_artifact_url(settings.artifact_url)
    client = s3_client(settings.s3_endpoint_url)
    public = settings.s3_public_endpoint_url
    return S3ArtifactStore(
        client,
        bucket,
        prefix,
        ArtifactCache(settings.cache_dir, settings.cache_max_bytes),
        presign_client=s3_client(public) if public and public != settings.s3_endpoint_url else None,
        presigned_downloads=settings.s3_presigned_downloads,
        presigned_expiry_s=settings.s3_presigned_expiry_seconds,
    )
