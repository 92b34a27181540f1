"""Uploading a dataset archive in parts, resumably: the client's side of ``/v1/datasets/uploads``.

    upload = ResumableUpload(client, Path("birds.tar.gz"), name="birds")
    dataset = upload.run(progress=lambda stage, done, total: ...)

The file is hashed first (its SHA-256 names it), then the server is asked for an open upload of
the same file (name, size and SHA-256): one an earlier run left unfinished is resumed with the
parts it still misses, else a new one begins. Each part goes where the server says: straight to
the object store's presigned URL (plain HTTP, no token), or to the API with its SHA-256. A part
that fails in transit is sent again; a presigned URL that expired is renewed. Completing the
upload gives the dataset, ``ingesting``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import httpx

from sdd_client.errors import APIError, ServiceUnreachable
from sdd_client.generated_models import DatasetPublic, PartTargetPublic, UploadPublic

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage ``hashing`` or ``uploading``, bytes done of ``total``."""

HASH_CHUNK = 1 << 20
TARGETS_AT_ONCE = 16  # presigned URLs asked for at a time (they expire: ask as the upload goes)
PART_TRIES = 4
URL_MARGIN = timedelta(seconds=30)  # a URL this close to expiring is renewed before use


class UploadApi(Protocol):
    """The calls an upload makes (``SDDClient`` has them)."""

    def create_upload(
        self, filename: str, size: int, sha256: str, *, name: str | None = None, part_size: int | None = None
    ) -> UploadPublic: ...
    def get_upload(self, upload_id: str) -> UploadPublic: ...
    def open_uploads(self) -> list[UploadPublic]: ...
    def part_targets(self, upload_id: str, numbers: Sequence[int]) -> list[PartTargetPublic]: ...
    def put_part(self, target: PartTargetPublic, data: bytes) -> str: ...
    def complete_upload(self, upload_id: str, etags: dict[int, str] | None = None) -> DatasetPublic: ...


def file_sha256(path: Path, progress: Progress | None = None) -> str:
    """The file's SHA-256, read in chunks (``progress("hashing", done, total)`` along the way)."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress("hashing", done, total)
    return digest.hexdigest()


def part_size_of(upload: UploadPublic, number: int) -> int:
    """The bytes part ``number`` holds: ``part_size``, the last part the rest."""
    return upload.part_size if number < upload.parts else upload.size_bytes - upload.part_size * (upload.parts - 1)


def _batches(numbers: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(numbers), size):
        yield list(numbers[start : start + size])


class ResumableUpload:
    """One file sent as a resumable upload through ``api``."""

    def __init__(
        self,
        api: UploadApi,
        path: Path,
        *,
        name: str | None = None,
        part_size: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.path = path
        self.name = name
        self.part_size = part_size
        self.sleep = sleep
        self.resumed = False  # True when an earlier, unfinished upload of the file was taken up

    def run(self, progress: Progress | None = None) -> DatasetPublic:
        """Hash, find or begin the upload, send the missing parts, complete it; the dataset."""
        report = progress or (lambda stage, done, total: None)
        size = self.path.stat().st_size
        sha256 = file_sha256(self.path, report)
        upload = self._earlier(size, sha256)
        if upload is None:
            upload = self.api.create_upload(self.path.name, size, sha256, name=self.name, part_size=self.part_size)
        etags = {part.number: part.etag for part in upload.received}
        done = sum(part.size_bytes for part in upload.received)
        report("uploading", done, size)
        targets = {target.number: target for target in upload.targets}
        with open(self.path, "rb") as handle:
            for batch in _batches(upload.missing, TARGETS_AT_ONCE):
                stale = [number for number in batch if not self._usable(targets.get(number))]
                if stale:
                    targets.update({t.number: t for t in self.api.part_targets(upload.id, stale)})
                for number in batch:
                    handle.seek((number - 1) * upload.part_size)
                    data = handle.read(part_size_of(upload, number))
                    etags[number] = self._send(upload, targets, number, data)
                    done += len(data)
                    report("uploading", done, size)
        return self.api.complete_upload(upload.id, etags if upload.direct else None)

    def _earlier(self, size: int, sha256: str) -> UploadPublic | None:
        """An open upload of this very file (name, size, SHA-256 and the name asked for), with its parts."""
        for candidate in self.api.open_uploads():
            same_file = (candidate.filename, candidate.size_bytes, candidate.sha256) == (self.path.name, size, sha256)
            if same_file and (self.name is None or candidate.name == self.name):
                self.resumed = True
                return self.api.get_upload(candidate.id)
        return None

    @staticmethod
    def _usable(target: PartTargetPublic | None) -> bool:
        if target is None:
            return False
        return target.expires_at is None or target.expires_at - URL_MARGIN > datetime.now(UTC)

    def _send(self, upload: UploadPublic, targets: dict[int, PartTargetPublic], number: int, data: bytes) -> str:
        """PUT one part, trying again after a transport failure, a 5xx or an expired URL (403)."""
        for attempt in range(1, PART_TRIES + 1):
            try:
                return self.api.put_part(targets[number], data)
            except (ServiceUnreachable, APIError) as exc:
                retryable = isinstance(exc, ServiceUnreachable) or exc.status >= 500 or exc.status == 403
                if not retryable or attempt == PART_TRIES:
                    raise
                if isinstance(exc, APIError) and exc.status == 403 and not targets[number].through_api:
                    targets[number] = self.api.part_targets(upload.id, [number])[0]  # a fresh URL
                self.sleep(min(2.0**attempt, 30.0))
        raise AssertionError("unreachable")


def put_direct(http: httpx.Client, url: str, data: bytes) -> str:
    """PUT a part to a presigned object-store URL (no token: the URL is the permission); its ETag."""
    try:
        response = http.put(url, content=data, headers={"Content-Type": "application/octet-stream"})
    except httpx.TransportError as exc:
        raise ServiceUnreachable(url.split("?", 1)[0], str(exc) or type(exc).__name__) from exc
    if response.is_error:
        raise APIError(
            response.status_code, "object_store_error", f"the object store refused the part: {response.text[:300]}"
        )
    return response.headers.get("etag", "").strip('"')
