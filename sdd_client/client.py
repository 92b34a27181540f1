"""``SDDClient``: the whole REST v1 contract of an sdd-jobs server as typed Python calls.

    from sdd_client import SDDClient

    with SDDClient("http://127.0.0.1:8000", token) as sdd:     # or SDDClient() after `sdd login`
        job = sdd.submit({"dataset": "digits", "student": "resnet8", "method": "ce"})
        job = sdd.wait(job.id, callback=lambda job, rows: [print(r.epoch, r.val_top1) for r in rows])
        sdd.download_student(job.id, Path("student.safetensors"))

Every error answer raises :class:`~sdd_client.errors.APIError`; no answer at all raises
:class:`~sdd_client.errors.ServiceUnreachable`.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel

from sdd_client.config import resolve_config
from sdd_client.dataset_uploads import Progress as UploadProgress
from sdd_client.dataset_uploads import ResumableUpload, put_direct
from sdd_client.downloads import attachment_name, refuse_existing, save_verified
from sdd_client.errors import APIError, DatasetWaitTimeout, SDDClientError, ServiceUnreachable, WaitTimeout
from sdd_client.generated_models import DatasetsPublic, JobsPublic, ModelsPublic, SweepsPublic, UploadsPublic
from sdd_client.models import (
    Catalog,
    Checkpoint,
    Dataset,
    DatasetEvent,
    EpochRow,
    Event,
    Job,
    JobSubmission,
    PartTarget,
    Sweep,
    SweepReport,
    SweepSummary,
    Upload,
    UploadedModel,
)
from sdd_client.plot_formats import PLOT_FORMATS
from sdd_client.retries import RETRYABLE_STATUSES, RetryPolicy

M = TypeVar("M", bound=BaseModel)
WaitCallback = Callable[[Job, list[EpochRow]], None]

USER_AGENT = "sdd-client/1"
UPLOAD_READ_TIMEOUT_S = 600.0  # the server checks a whole archive before it answers
STUDENT_FORMATS = {"safetensors": ".safetensors", "onnx": ".onnx", "torchscript": ".pt"}
"""The formats a student downloads in, with the suffix of the file each saves as."""


class SDDClient:
    """A client of one sdd-jobs server.

    ``url``/``token`` default to ``SDD_URL``/``SDD_TOKEN``, then the file ``sdd login`` writes.
    ``transport`` is handed to ``httpx.Client`` (e.g. ``httpx.MockTransport``); ``client`` uses an
    existing ``httpx.Client`` instead (e.g. Starlette's ``TestClient``), which is then not closed.
    ``retry`` says how transient failures are retried (see ``sdd_client.retries``): reads and keyed
    submissions ride out an API restart or a 429; ``submit`` makes a key when it is given none.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        config = resolve_config(url, token)
        self.url = config.url
        self._token = config.token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = time.sleep
        self._answered = False  # an unreachable server is retried only once it has answered us
        self._owns_http = client is None
        self._http = client or httpx.Client(timeout=timeout, transport=transport)
        self._store_http: httpx.Client | None = None  # parts PUT to an object store's presigned URLs

    def __repr__(self) -> str:
        return f"SDDClient(url={self.url!r})"

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if self._owns_http:
            self._http.close()
        if self._store_http is not None:
            self._store_http.close()

    def __enter__(self) -> SDDClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------ jobs

    def submit(self, spec: dict[str, Any] | JobSubmission, *, idempotency_key: str | None = None) -> Job:
        """Submit a job; a retry with the same ``idempotency_key`` returns the same job (one is made when
        none is given, so the client's own retries never make a second job)."""
        body = spec.to_body() if isinstance(spec, JobSubmission) else spec
        headers = {"Idempotency-Key": idempotency_key or new_idempotency_key()}
        return self._model(Job, "POST", "/v1/jobs", json=body, headers=headers)

    def list_jobs(
        self,
        status: str | None = None,
        limit: int = 20,
        after: str | None = None,
        *,
        sweep_id: str | None = None,
        tags: Sequence[str] = (),
        name: str | None = None,
    ) -> JobsPublic:
        """One page of your jobs, newest first (``limit`` at most 100): optionally one sweep's
        members, jobs carrying every tag in ``tags``, or jobs whose name contains ``name``."""
        return self._page(
            JobsPublic,
            "/v1/jobs",
            status=status,
            limit=limit,
            after=after,
            sweep_id=sweep_id,
            tag=list(tags) or None,
            name=name,
        )

    def iter_jobs(
        self,
        status: str | None = None,
        *,
        page_size: int = 100,
        sweep_id: str | None = None,
        tags: Sequence[str] = (),
        name: str | None = None,
    ) -> Iterator[Job]:
        """Every job (filtered as ``list_jobs`` filters), newest first, fetching pages as needed."""
        return _every(lambda after: self.list_jobs(status, page_size, after, sweep_id=sweep_id, tags=tags, name=name))

    def get(self, job_id: str) -> Job:
        return self._model(Job, "GET", f"/v1/jobs/{job_id}")

    def metrics(self, job_id: str) -> list[EpochRow]:
        """One row per finished epoch, in epoch order."""
        return self._list(EpochRow, f"/v1/jobs/{job_id}/metrics")

    def metrics_csv(self, job_id: str) -> str:
        """The same rows as CSV text: a header line, then one line per finished epoch (a spreadsheet's
        formula characters defused, see the server's ``GET /v1/jobs/{id}/metrics?format=csv``)."""
        return self._request("GET", f"/v1/jobs/{job_id}/metrics", params={"format": "csv"}).text

    def events(self, job_id: str) -> list[Event]:
        return self._list(Event, f"/v1/jobs/{job_id}/events")

    def checkpoints(self, job_id: str) -> list[Checkpoint]:
        return self._list(Checkpoint, f"/v1/jobs/{job_id}/checkpoints")

    def cancel(self, job_id: str) -> Job:
        """Cancel: a queued job at once, a running one at its next batch (status ``cancelling``)."""
        return self._model(Job, "POST", f"/v1/jobs/{job_id}/cancel")

    def resume(self, job_id: str) -> Job:
        """Queue a cancelled or failed job again as the same job: its metrics are kept and a worker
        continues from its newest checkpoint."""
        return self._model(Job, "POST", f"/v1/jobs/{job_id}/resume")

    def wait(
        self,
        job_id: str,
        *,
        poll: float = 2.0,
        timeout: float | None = None,
        callback: WaitCallback | None = None,
    ) -> Job:
        """Poll until the job is succeeded, failed or cancelled and return it.

        ``callback(job, new_rows)`` runs on the first poll and whenever the job changes (status,
        result, progress: a running job's batch count changes every few seconds), with the metrics
        rows of the epochs finished since the previous call (often none). Raises :class:`WaitTimeout` after ``timeout`` s.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last_seen: dict[str, Any] | None = None
        last_epoch = 0
        while True:
            job = self.get(job_id)
            new_rows: list[EpochRow] = []
            if job.progress.epoch > last_epoch:
                new_rows = [row for row in self.metrics(job_id) if row.epoch > last_epoch]
                last_epoch = max([last_epoch, *(row.epoch for row in new_rows)])
            snapshot = job.model_dump(mode="json")
            if callback is not None and (snapshot != last_seen or new_rows):
                callback(job, new_rows)
            last_seen = snapshot
            if job.is_terminal:
                return job
            pause = poll
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(job, timeout or 0.0)
                pause = min(poll, left)
            time.sleep(pause)

    # ------------------------------------------------------------ sweeps

    def submit_sweep(self, spec: dict[str, Any], *, idempotency_key: str | None = None) -> Sweep:
        """Submit ``{"base": <job>, "grid": {field: [values]}}``; the sweep with its member jobs."""
        headers = {"Idempotency-Key": idempotency_key or new_idempotency_key()}
        return self._model(Sweep, "POST", "/v1/sweeps", json=spec, headers=headers)

    def get_sweep(self, sweep_id: str) -> Sweep:
        return self._model(Sweep, "GET", f"/v1/sweeps/{sweep_id}")

    def list_sweeps(self, limit: int = 20, after: str | None = None) -> SweepsPublic:
        """One page of your sweeps, newest first (without member details)."""
        return self._page(SweepsPublic, "/v1/sweeps", limit=limit, after=after)

    def iter_sweeps(self, *, page_size: int = 100) -> Iterator[SweepSummary]:
        return _every(lambda after: self.list_sweeps(page_size, after))

    def cancel_sweep(self, sweep_id: str) -> Sweep:
        """Cancel every unfinished member (queued at once, running at the next batch)."""
        return self._model(Sweep, "POST", f"/v1/sweeps/{sweep_id}/cancel")

    def sweep_report(self, sweep_id: str, *, within: float | None = None) -> SweepReport:
        """Per configuration: accuracy over seeds and the gain over KD with its interval; per class; a
        recommendation; accuracy against cost, with ``within`` (points below the teacher's top-1) the
        fastest student that close (``report.cost.within``)."""
        params = {"within": within} if within is not None else None
        return self._model(SweepReport, "GET", f"/v1/sweeps/{sweep_id}/report", params=params)

    def sweep_report_markdown(self, sweep_id: str, *, within: float | None = None) -> str:
        """The same report as Markdown text."""
        params: dict[str, Any] = {"format": "markdown"} | ({"within": within} if within is not None else {})
        return self._request("GET", f"/v1/sweeps/{sweep_id}/report", params=params).text

    # ------------------------------------------------------------ results

    def download_student(
        self, job_id: str, dest: Path | str, *, overwrite: bool = False, format: str = "safetensors"
    ) -> Path:
        """Save the distilled student at ``dest``, verified against the server's SHA-256.

        ``format``: ``safetensors`` (weights), ``onnx`` or ``torchscript`` (``STUDENT_FORMATS``).
        ``dest`` may be a folder: the server's file name is used. An existing file is refused unless
        ``overwrite``. Streams to a temp file next to ``dest`` and renames it only once verified.
        """
        if format not in STUDENT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(STUDENT_FORMATS)}, not {format!r}")
        dest = Path(dest).expanduser()
        if not dest.is_dir():
            refuse_existing(dest, overwrite)
        with self._stream("GET", f"/v1/jobs/{job_id}/student", params={"format": format}) as response:
            if dest.is_dir():
                dest = dest / attachment_name(response, f"{job_id}-student{STUDENT_FORMATS[format]}")
            save_verified(response, dest, overwrite=overwrite)
        return dest

    def card(self, job_id: str) -> dict[str, Any]:
        """The student's model card (architecture, dataset, normalisation, metrics, ...)."""
        card: dict[str, Any] = self._request("GET", f"/v1/jobs/{job_id}/student/card").json()
        return card

    def plot(self, job_id: str, fmt: str = "svg") -> bytes:
        """The job's training curves rendered by the server, as PNG or SVG bytes."""
        if fmt not in PLOT_FORMATS:
            raise ValueError(f"fmt must be one of {', '.join(PLOT_FORMATS)}, not {fmt!r}")
        return self._request("GET", f"/v1/jobs/{job_id}/plots/curves.{fmt}").content

    # ------------------------------------------------------------ uploads

    def register_dataset(
        self, name: str, source: str, *, layout: str | None = None, crop_to_boxes: bool = False
    ) -> Dataset:
        """Register the dataset at ``source`` (``s3://bucket/prefix/``, under a prefix the server's
        allow-list opens to you); it comes back ``ingesting`` (see :meth:`wait_dataset`)."""
        body: dict[str, Any] = {"name": name, "source": source, "crop_to_boxes": crop_to_boxes}
        if layout is not None:
            body["layout"] = layout
        return self._model(Dataset, "POST", "/v1/datasets", json=body)

    def upload_dataset(
        self,
        path: Path | str,
        name: str | None = None,
        *,
        part_size: int | None = None,
        progress: UploadProgress | None = None,
    ) -> Dataset:
        """Upload an image-folder archive (.zip/.tar.gz with train/ and val/ class folders) in parts,
        resumably: an upload of the same file an earlier call left unfinished goes on where it
        stopped. ``progress(stage, done, total)`` hears of the hashing and the bytes sent. The
        dataset comes back ``ingesting`` (see :meth:`wait_dataset`)."""
        return ResumableUpload(self, Path(path), name=name, part_size=part_size, sleep=self._sleep).run(progress)

    def upload_dataset_file(self, path: Path | str, name: str | None = None) -> Dataset:
        """Upload a small archive in one request (up to the server's upload limit)."""
        return self._upload(Dataset, "/v1/datasets", Path(path), {"name": name})

    def list_datasets(self, limit: int = 20, after: str | None = None, *, status: str | None = None) -> DatasetsPublic:
        """One page of your datasets, newest first (optionally those ``ingesting``, ``ready`` or ``failed``)."""
        return self._page(DatasetsPublic, "/v1/datasets", limit=limit, after=after, status=status)

    def iter_datasets(self, *, page_size: int = 100, status: str | None = None) -> Iterator[Dataset]:
        return _every(lambda after: self.list_datasets(page_size, after, status=status))

    def get_dataset(self, dataset_id: str) -> Dataset:
        return self._model(Dataset, "GET", f"/v1/datasets/{dataset_id}")

    def dataset_events(self, dataset_id: str) -> list[DatasetEvent]:
        """What happened to the dataset, oldest first (registered, ingesting, progress, ready, ...)."""
        return self._list(DatasetEvent, f"/v1/datasets/{dataset_id}/events")

    def dataset_samples(self, dataset_id: str) -> bytes:
        """The PNG grid of sample images per class the ingestion drew."""
        return self._request("GET", f"/v1/datasets/{dataset_id}/samples.png").content

    def wait_dataset(
        self,
        dataset_id: str,
        *,
        poll: float = 2.0,
        timeout: float | None = None,
        callback: Callable[[Dataset], None] | None = None,
    ) -> Dataset:
        """Poll until the dataset is ``ready`` or ``failed`` and return it; ``callback(dataset)`` on
        the first poll and whenever it changes. Raises :class:`DatasetWaitTimeout` after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last_seen: dict[str, Any] | None = None
        while True:
            dataset = self.get_dataset(dataset_id)
            snapshot = dataset.model_dump(mode="json")
            if callback is not None and snapshot != last_seen:
                callback(dataset)
            last_seen = snapshot
            if dataset.status != "ingesting":
                return dataset
            pause = poll
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DatasetWaitTimeout(dataset, timeout or 0.0)
                pause = min(poll, left)
            time.sleep(pause)

    # ------------------------------------------------------------ resumable uploads (ResumableUpload uses these)

    def create_upload(
        self, filename: str, size: int, sha256: str, *, name: str | None = None, part_size: int | None = None
    ) -> Upload:
        """Begin a resumable upload of a file of ``size`` bytes with SHA-256 ``sha256``."""
        body: dict[str, Any] = {"filename": filename, "size": size, "sha256": sha256}
        body |= {key: value for key, value in (("name", name), ("part_size", part_size)) if value is not None}
        return self._model(Upload, "POST", "/v1/datasets/uploads", json=body)

    def get_upload(self, upload_id: str) -> Upload:
        """The upload with its parts received and missing, and where to send the first missing ones."""
        return self._model(Upload, "GET", f"/v1/datasets/uploads/{upload_id}")

    def open_uploads(self) -> list[Upload]:
        """Your uploads still open (resumable), newest first."""
        return list(_every(lambda after: self._page(UploadsPublic, "/v1/datasets/uploads", status="open",
                                                    limit=100, after=after)))  # fmt: skip

    def part_targets(self, upload_id: str, numbers: Sequence[int]) -> list[PartTarget]:
        """Where to send parts ``numbers`` (fresh presigned URLs for an object store)."""
        response = self._request("POST", f"/v1/datasets/uploads/{upload_id}/parts", json={"numbers": list(numbers)})
        return [PartTarget.model_validate(item) for item in response.json()["data"]]

    def put_part(self, target: PartTarget, data: bytes) -> str:
        """Send one part's bytes where ``target`` says; its ETag."""
        if not target.through_api:
            if self._store_http is None:
                self._store_http = httpx.Client(timeout=httpx.Timeout(self.timeout, write=UPLOAD_READ_TIMEOUT_S))
            return put_direct(self._store_http, target.url, data)
        headers = {"X-Content-SHA256": hashlib.sha256(data).hexdigest(), "Content-Type": "application/octet-stream"}
        return str(self._request("PUT", target.url, content=data, headers=headers).json()["etag"])

    def complete_upload(self, upload_id: str, etags: dict[int, str] | None = None) -> Dataset:
        """Join the parts: the dataset, ``ingesting``; ``etags`` (part number -> ETag the object
        store answered) are checked against what it holds."""
        body = {"parts": [{"number": n, "etag": etag} for n, etag in sorted(etags.items())]} if etags else {}
        return self._model(Dataset, "POST", f"/v1/datasets/uploads/{upload_id}/complete", json=body)

    def abort_upload(self, upload_id: str) -> Upload:
        """Abort an upload: its parts are deleted."""
        return self._model(Upload, "DELETE", f"/v1/datasets/uploads/{upload_id}")

    def upload_model(self, path: Path | str, arch: str, num_classes: int, name: str | None = None) -> UploadedModel:
        """Upload teacher weights (a safetensors state_dict of ``arch`` with ``num_classes`` outputs)."""
        fields = {"arch": arch, "num_classes": str(num_classes), "name": name}
        return self._upload(UploadedModel, "/v1/models", Path(path), fields)

    def list_models(self, limit: int = 20, after: str | None = None) -> ModelsPublic:
        return self._page(ModelsPublic, "/v1/models", limit=limit, after=after)

    def iter_models(self, *, page_size: int = 100) -> Iterator[UploadedModel]:
        return _every(lambda after: self.list_models(page_size, after))

    def get_model(self, model_id: str) -> UploadedModel:
        return self._model(UploadedModel, "GET", f"/v1/models/{model_id}")

    # ------------------------------------------------------------ service

    def catalog(self) -> Catalog:
        """Architectures, datasets, methods with their defaults, and the server's limits."""
        return self._model(Catalog, "GET", "/v1/catalog")

    def ready(self) -> bool:
        """True when the server can store and enqueue jobs (``/readyz``), False when it says not yet."""
        try:
            self._request("GET", "/readyz", auth=False)
        except APIError as exc:
            if exc.status == 503:
                return False
            raise
        return True

    # ------------------------------------------------------------ plumbing

    def _headers(self, extra: dict[str, str] | None, auth: bool = True) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, **(extra or {})}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, auth: bool = True, **kw: Any
    ) -> httpx.Response:
        """One request, tried again on transient failures when ``self.retry`` allows it."""
        sent_headers = self._headers(headers, auth)
        retryable = self.retry.may_retry(method, sent_headers) and not kw.get("files")
        deadline = time.monotonic() + self.retry.give_up_after
        attempt = 0
        while True:
            attempt += 1
            failure: SDDClientError
            retry_after: str | None = None
            try:
                response = self._http.request(method, self.url + path, headers=sent_headers, **kw)
            except httpx.TimeoutException as exc:
                failure = ServiceUnreachable(self.url, f"no answer within the timeout ({type(exc).__name__})")
                failure.__cause__ = exc
                if not self._answered:  # a wrong URL fails at once; a server that went away is waited for
                    raise failure from exc
            except httpx.TransportError as exc:
                failure = ServiceUnreachable(self.url, str(exc) or type(exc).__name__)
                failure.__cause__ = exc
                if not self._answered:
                    raise failure from exc
            else:
                self._answered = True
                if not response.is_error:
                    return response
                failure = _api_error(response)
                if response.status_code not in RETRYABLE_STATUSES:
                    raise failure
                retry_after = response.headers.get("Retry-After")
            pause = self.retry.pause(attempt, retry_after)
            if not retryable or time.monotonic() + pause > deadline:
                raise failure
            self._sleep(pause)

    @contextmanager
    def _stream(self, method: str, path: str, params: dict[str, str] | None = None) -> Iterator[httpx.Response]:
        try:
            with self._http.stream(method, self.url + path, params=params, headers=self._headers(None)) as response:
                if response.is_error:
                    response.read()
                    raise _api_error(response)
                yield response
        except httpx.TimeoutException as exc:
            raise ServiceUnreachable(self.url, f"no answer within the timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise ServiceUnreachable(self.url, str(exc) or type(exc).__name__) from exc

    def _model(self, model: type[M], method: str, path: str, **kw: Any) -> M:
        return model.model_validate(self._request(method, path, **kw).json())

    def _list(self, model: type[M], path: str) -> list[M]:
        return [model.model_validate(item) for item in self._request("GET", path).json()["data"]]

    def _page(self, page: type[M], path: str, **params: Any) -> M:
        query = {key: value for key, value in params.items() if value is not None}
        return self._model(page, "GET", path, params=query)

    def _upload(self, model: type[M], path: str, file: Path, fields: dict[str, str | None]) -> M:
        data = {key: value for key, value in fields.items() if value is not None}
        extra: dict[str, Any] = {}
        if self._owns_http:  # a caller's own client keeps its own timeouts
            extra["timeout"] = httpx.Timeout(self.timeout, read=max(self.timeout, UPLOAD_READ_TIMEOUT_S))
        with open(file, "rb") as handle:  # httpx streams the open file in chunks
            files = {"file": (file.name, handle, "application/octet-stream")}
            return self._model(model, "POST", path, files=files, data=data, **extra)


class _Listed(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=_Listed, covariant=True)


class _Page(Protocol[Item]):
    """A page of a list (``JobsPublic``, ``SweepsPublic``, ...): newest first; the last item's id asks for the next."""

    @property
    def data(self) -> Sequence[Item]: ...

    @property
    def has_more(self) -> bool: ...


def _every(page_after: Callable[[str | None], _Page[Item]]) -> Iterator[Item]:
    """Every item of a list, fetching its pages (``page_after(None)``, then after each page's last item) as needed."""
    after: str | None = None
    while True:
        page = page_after(after)
        yield from page.data
        if not page.has_more or not page.data:
            return
        after = page.data[-1].id


def new_idempotency_key() -> str:
    """A fresh key for one submission (sent again, unchanged, by every retry of it)."""
    return f"sdd-client-{uuid.uuid4()}"


def _api_error(response: httpx.Response) -> APIError:
    try:
        body = response.json()
    except ValueError:
        body = None
    return APIError.from_body(response.status_code, body, response.text)
