"""The files of a dataset's source, listed and read: an ``s3://`` prefix, or a local folder.

Both kinds answer the same two questions (``SourceFiles``): which files are there (paths relative
to the source, with their sizes) and what one file holds. An ``S3Files`` lists its prefix with
boto3's paginator, bounded by ``SDD_LISTING_TIME_LIMIT_S`` and ``SDD_LISTING_MAX_OBJECTS`` (a
listing past either fails the ingestion naming the bound), through the workers' own credentials
(the standard AWS chain) at ``SDD_DATASET_S3_ENDPOINT_URL``, else ``SDD_S3_ENDPOINT_URL``, else
AWS's. A ``FolderFiles`` is an uploaded archive extracted on the worker.

``read_in_order`` reads many files at once on threads (an object store answers each GET in tens
of milliseconds, so one at a time would leave the worker idle) and hands them back in order.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from domain.datasets.ingestion_errors import IngestionError
from domain.datasets.sources import S3Location
from service.settings import Settings

READ_THREADS = 16
READ_AHEAD = 64  # files read ahead of the one being used


@dataclass(frozen=True)
class SourceFile:
    """One file of a source: its path relative to the source (``/``-separated) and its size."""

    path: str
    size_bytes: int


class SourceFiles(Protocol):
    """A source's files: listed once, then read one by one."""

    @property
    def description(self) -> str:
        """How messages name the source (``s3://bucket/prefix/``, ``the uploaded archive``)."""
        ...

    def list(self) -> list[SourceFile]: ...

    def read(self, path: str) -> bytes:
        """The bytes of the file at ``path``; ``OSError`` if it cannot be read."""
        ...


class S3Files:
    """The objects below an ``s3://`` prefix."""

    def __init__(self, client: Any, location: S3Location, *, time_limit_s: float, max_objects: int) -> None:
        self.client = client
        self.location = location
        self.time_limit_s = time_limit_s
        self.max_objects = max_objects

    @property
    def description(self) -> str:
        return self.location.uri

    def list(self) -> list[SourceFile]:
        """Every object below the prefix (folder markers left out); ``IngestionError`` past a bound."""
        deadline = time.monotonic() + self.time_limit_s
        prefix = self.location.key_prefix
        found: list[SourceFile] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix, PaginationConfig={"PageSize": 1000}
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if not item["Key"].endswith("/"):
                        found.append(SourceFile(item["Key"][len(prefix) :], int(item["Size"])))
                if len(found) > self.max_objects:
                    raise IngestionError(
                        f"{self.description} holds more than {self.max_objects:,} objects, the most one listing "
                        "may hold (SDD_LISTING_MAX_OBJECTS); register a narrower prefix",
                        code="listing_too_large",
                    )
                if time.monotonic() > deadline:
                    raise IngestionError(
                        f"listing {self.description} took longer than {self.time_limit_s:g} s "
                        f"(SDD_LISTING_TIME_LIMIT_S) after {len(found):,} objects; register a narrower prefix",
                        code="listing_too_large",
                    )
        except _boto_errors() as exc:
            raise IngestionError(f"cannot list {self.description}: {_reason(exc)}", code="source_unreadable") from exc
        return found

    def read(self, path: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.location.bucket, Key=self.location.key_prefix + path)
            data: bytes = response["Body"].read()
            return data
        except _boto_errors() as exc:
            raise OSError(_reason(exc)) from exc

    def download(self, path: str, dest: Path) -> None:
        """Copy the object at ``path`` to the local file ``dest`` (large objects: shards)."""
        try:
            self.client.download_file(self.location.bucket, self.location.key_prefix + path, str(dest))
        except _boto_errors() as exc:
            raise OSError(_reason(exc)) from exc


class FolderFiles:
    """The files below a local folder (an uploaded archive, extracted)."""

    def __init__(self, root: Path, description: str = "the uploaded archive") -> None:
        self.root = root
        self._description = description

    @property
    def description(self) -> str:
        return self._description

    def list(self) -> list[SourceFile]:
        found: list[SourceFile] = []
        for folder, _, files in os.walk(self.root):
            for name in files:
                path = Path(folder) / name
                found.append(SourceFile(path.relative_to(self.root).as_posix(), path.stat().st_size))
        return sorted(found, key=lambda file: file.path)

    def read(self, path: str) -> bytes:
        return (self.root / path).read_bytes()


def s3_files(settings: Settings, location: S3Location) -> S3Files:
    """The source at ``location`` through this process's client for the sources' endpoint."""
    from service.s3_store import s3_client  # imported here: the embedded default never loads boto3

    client = s3_client(settings.dataset_s3_endpoint_url or settings.s3_endpoint_url)
    return S3Files(
        client, location, time_limit_s=settings.listing_time_limit_s, max_objects=settings.listing_max_objects
    )


Item = TypeVar("Item")
Result = TypeVar("Result")


def read_in_order(
    items: Iterable[Item], read: Callable[[Item], Result], threads: int = READ_THREADS
) -> Iterator[tuple[Item, Result | OSError]]:
    """``(item, read(item))`` for each item in order, read ``READ_AHEAD`` at a time on ``threads``
    threads; a read that raised ``OSError`` yields the error instead of its result."""

    def attempt(item: Item) -> Result | OSError:
        try:
            return read(item)
        except OSError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="source-read") as pool:
        pending: deque[tuple[Item, Future[Result | OSError]]] = deque()
        iterator = iter(items)
        try:
            for item in iterator:
                pending.append((item, pool.submit(attempt, item)))
                if len(pending) >= READ_AHEAD:
                    first, future = pending.popleft()
                    yield first, future.result()
            while pending:
                first, future = pending.popleft()
                yield first, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def _boto_errors() -> tuple[type[Exception], ...]:
    """boto's errors, imported when one is caught (an S3 source has loaded boto3 by then)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def _reason(exc: Exception) -> str:
    """A boto error's code and message, without the request's details."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return type(exc).__name__
