"""Receiving uploads: a multipart upload streamed to a temp file under the work folder, with a size
cap; a raw body (a part of a resumable upload) handed to a blocking writer as it arrives.

FastAPI's ``UploadFile`` would have the whole file spooled to the system temp folder before the
route runs; here the request body is parsed as it arrives, the file part goes straight to a temp
file in ``settings.work_dir`` (hashed on the way), and the upload stops with 413 as soon as it
passes ``max_upload_bytes``. Text fields are small and must be among the ones a route names.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import anyio
from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from domain.text_rules import check_text
from domain.uploads import UploadedFile

if TYPE_CHECKING:  # the library declares its callbacks' type for type checkers only
    from python_multipart.multipart import MultipartCallbacks

T = TypeVar("T")

FILE_FIELD = "file"
FIELD_MAX_BYTES = 4096
FRAMING_SLACK_BYTES = 1 << 20  # multipart boundaries, part headers and the small text fields
WRITE_BATCH_BYTES = 1 << 20  # request chunks are gathered to this size before a (threaded) write


class _RequestBodyReader(io.RawIOBase):
    """A request's body as a blocking stream, for a function running in a worker thread: each read
    waits, in the event loop, for the next chunk the client sends."""

    def __init__(self, request: Request) -> None:
        self._chunks = request.stream().__aiter__()
        self._pending = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    async def _next_chunk(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._ended:
            chunk = anyio.from_thread.run(self._next_chunk)
            if chunk is None:
                self._ended = True
            else:
                self._pending = chunk
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


async def with_request_body(request: Request, function: Callable[..., T], *args: Any) -> T:
    """Run the blocking ``function(*args, body)`` in a worker thread, ``body`` a binary stream of
    the request's body read as it arrives (nothing spooled here)."""
    body = io.BufferedReader(_RequestBodyReader(request), WRITE_BATCH_BYTES)
    return await anyio.to_thread.run_sync(functools.partial(function, *args, body))


async def run_ingestion(request: Request, ingest: Callable[..., T], *args: Any) -> T:
    """Run a blocking ingestion (extract, decode, check) in a worker thread, at most
    ``settings.ingest_concurrency`` at once per process; the others wait here, in the event loop,
    so that uploads never take the threads that answer job polls and other sync routes."""
    state = request.app.state
    if getattr(state, "ingest_limiter", None) is None:  # created in the loop: anyio needs one
        state.ingest_limiter = anyio.CapacityLimiter(state.settings.ingest_concurrency)
    return await anyio.to_thread.run_sync(functools.partial(ingest, *args), limiter=state.ingest_limiter)


def too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"the upload exceeds this service's limit of {max_bytes} bytes", FILE_FIELD
    )


def multipart_openapi(
    properties: dict[str, dict[str, Any]], required: Iterable[str], file_types: Iterable[str]
) -> dict[str, Any]:
    """``openapi_extra`` documenting a multipart body that the route parses itself; its ``file``
    part's media types are ``file_types`` (what the server accepts there)."""
    media_types = ", ".join(file_types)
    properties = {
        name: ({**schema, "contentMediaType": media_types} if name == "file" else schema)
        for name, schema in properties.items()
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": properties, "required": list(required)},
                    "encoding": {"file": {"contentType": media_types}},
                }
            },
        }
    }


class _PartSink:
    """Callbacks of python-multipart's parser: the file part to disk, text fields to memory."""

    def __init__(self, work_dir: Path, max_bytes: int, allowed_fields: frozenset[str]) -> None:
        self.work_dir = work_dir
        self.max_bytes = max_bytes
        self.allowed_fields = allowed_fields
        self.fields: dict[str, str] = {}
        self.file: BinaryIO | None = None
        self.path: Path | None = None
        self.filename = ""
        self.size = 0
        self.digest = hashlib.sha256()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._target: str | None = None  # FILE_FIELD, a text field's name, or None between parts
        self._buffer = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._add(data[start:end], header=True),
            "on_header_value": lambda data, start, end: self._add(data[start:end], header=False),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""
        self._target = None
        self._buffer = bytearray()

    def _add(self, data: bytes, *, header: bool) -> None:
        if header:
            self._header_name += data
        else:
            self._header_value += data

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == FILE_FIELD:
            if self.file is not None:
                raise ApiError(422, "validation_error", "file: send exactly one file", FILE_FIELD)
            self.filename = check_text(options.get(b"filename", b"").decode("utf-8", "replace"), (FILE_FIELD,))
            fd, temp_name = tempfile.mkstemp(prefix="upload-", dir=self.work_dir)
            self.file, self.path = os.fdopen(fd, "wb"), Path(temp_name)
        elif name in self.allowed_fields:
            pass
        else:
            allowed = ", ".join([FILE_FIELD, *sorted(self.allowed_fields)])
            raise ApiError(
                422,
                "validation_error",
                f"{name or '(unnamed)'}: unknown form field; allowed: {allowed}",
                name or None,
            )
        self._target = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._target == FILE_FIELD and self.file is not None:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise too_large(self.max_bytes)
            self.digest.update(chunk)
            self.file.write(chunk)
        else:
            self._buffer += chunk
            if len(self._buffer) > FIELD_MAX_BYTES:
                raise ApiError(
                    422,
                    "validation_error",
                    f"{self._target}: longer than {FIELD_MAX_BYTES} bytes",
                    self._target,
                )

    def _part_end(self) -> None:
        if self._target and self._target != FILE_FIELD:
            self.fields[self._target] = check_text(self._buffer.decode("utf-8", "replace"), (self._target,))
        self._target = None

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def receive_upload(
    request: Request, *, work_dir: Path, max_bytes: int, fields: Iterable[str] = ()
) -> UploadedFile:
    """Stream the multipart body of ``request``: its ``file`` part to disk, ``fields`` to memory.

    413 past ``max_bytes`` (checked on Content-Length first, then on the bytes received); 415 for
    a body that is not multipart; 422 for a missing file or an unknown field. Nothing is left on
    disk when it fails.
    """
    media_type, params = parse_options_header(request.headers.get("content-type"))
    if media_type != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the upload as multipart/form-data with the file in field 'file'",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + FRAMING_SLACK_BYTES:
        raise too_large(max_bytes)

    work_dir.mkdir(parents=True, exist_ok=True)
    sink = _PartSink(work_dir, max_bytes, frozenset(fields))
    parser = MultipartParser(params[b"boundary"], sink.callbacks())
    pending = bytearray()
    try:
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= WRITE_BATCH_BYTES:
                await run_in_threadpool(parser.write, bytes(pending))
                pending.clear()
        await run_in_threadpool(parser.write, bytes(pending))
        parser.finalize()
        if sink.file is None or sink.path is None:
            raise ApiError(
                422,
                "validation_error",
                f"{FILE_FIELD}: field required; attach the file as '{FILE_FIELD}'",
                FILE_FIELD,
            )
        sink.file.close()
    except FormParserError as exc:
        sink.discard()
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc}") from exc
    except BaseException:
        sink.discard()
        raise
    return UploadedFile(sink.path, sink.filename, sink.size, sink.digest.hexdigest(), sink.fields)
