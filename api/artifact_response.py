"""A stored artifact as an HTTP answer, shared by the REST downloads and the dashboard.

``domain.jobs.job_reads.artifact_download`` says where the bytes are; this turns that into a response:

* a local file: ``FileResponse`` (ranges, ``sendfile``), as the embedded default always did, its
  refusals of a malformed or unsatisfiable ``Range`` in the API's JSON error shape (Starlette
  answers them as plain text);
* a presigned URL (``SDD_S3_PRESIGNED_DOWNLOADS=true``): ``307`` to it, so the bytes go from the
  object store to the client without passing through the API;
* an object store's stream: passed on in chunks, hashed on the way. The last chunk is held back
  until the SHA-256 and size match the artifact's row; if they do not, the answer ends short of its
  ``Content-Length``, so a client never receives a complete-looking wrong file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator

from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.datastructures import Headers
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable
from starlette.types import Receive, Scope, Send

from api.errors import error_response
from domain.jobs.job_reads import ArtifactDownload
from service.artifacts import CHUNK_SIZE, ChecksumMismatch

log = logging.getLogger(__name__)

SHA256_HEADER = "X-Content-SHA256"


def artifact_response(
    download: ArtifactDownload,
    *,
    media_type: str,
    filename: str | None = None,
    disposition: str = "attachment",
    headers: dict[str, str] | None = None,
) -> Response:
    """The answer for ``download`` (see the module docstring); ``headers`` are added to any of them."""
    artifact = download.artifact
    extra = {SHA256_HEADER: artifact.sha256, **(headers or {})}
    if download.url is not None:
        return RedirectResponse(download.url, status_code=307, headers={**extra, "Cache-Control": "no-store"})
    if download.path is not None:
        return _FileResponse(
            download.path,
            media_type=media_type,
            filename=filename,
            content_disposition_type=disposition,
            headers=extra,
        )
    assert download.stream is not None
    if filename is not None:
        extra["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    extra["Content-Length"] = str(artifact.size_bytes)
    return StreamingResponse(_verified_chunks(download), media_type=media_type, headers=extra)


def _verified_chunks(download: ArtifactDownload) -> Iterator[bytes]:
    artifact, stream = download.artifact, download.stream
    assert stream is not None
    digest = hashlib.sha256()
    held = b""
    with stream:
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
            if held:
                yield held
            held = chunk
    actual = digest.hexdigest()
    if actual != artifact.sha256:
        log.error("%s: the stored bytes do not match the recorded SHA-256; download cut short", artifact.key)
        raise ChecksumMismatch(artifact.key, artifact.sha256, actual)
    if held:
        yield held


class _FileResponse(FileResponse):
    """``FileResponse`` whose ``Range`` refusals are JSON errors: 400 ``invalid_range``, 416
    ``range_not_satisfiable`` (with ``Content-Range: bytes */<size>``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        http_range, if_range = headers.get("range"), headers.get("if-range")
        wants_range = (
            http_range is not None
            and self.status_code == 200
            and scope["method"].upper() in ("GET", "HEAD")
            and (if_range is None or self._should_use_range(if_range))
        )
        if wants_range:
            assert http_range is not None
            size = os.stat(self.path).st_size
            try:
                self._parse_range_header(http_range, size)
            except MalformedRangeHeader as exc:
                await error_response(400, "invalid_range", f"Range {http_range!r}: {exc.content}", "Range")(
                    scope, receive, send
                )
                return
            except RangeNotSatisfiable:
                refusal = error_response(
                    416,
                    "range_not_satisfiable",
                    f"Range {http_range!r} lies outside the file's {size} bytes",
                    "Range",
                    headers={"Content-Range": f"bytes */{size}"},
                )
                await refusal(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
