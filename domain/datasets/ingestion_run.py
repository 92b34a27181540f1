"""One attempt at ingesting a dataset, from its source to the facts its ``ready`` row records.

    source      s3://… checked again against the allow-list (it may have changed since the
                registration), read with the workers' own credentials; or upload:<key>, the
                archive the API stored, fetched and extracted with ``archives``' checks
    listing     every file, within the listing's bounds (``source_files``)
    layout      the registration's, or detected (a ``layout`` event says which)
    shards      images read, checked, measured and written into stored shards
                (``shard_building``); or registered shards indexed in place (``registered_shards``)
    finishing   the shard index (``datasets/<id>/index.json``: its SHA-256 is the dataset's
                identity, ``manifest_sha256``) and the sample grid (``datasets/<id>/samples.png``)

What is stored counts against the tenant's quota as it is written (``stored_shards.QuotaGuard``).
Every refusal is an ``IngestionError`` naming what is wrong; the caller (``worker.ingestion``)
records the outcome and deletes what a failed attempt wrote.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from domain.datasets.archives import EXTRACT_TIME_LIMIT_S, extract_archive
from domain.datasets.ingestion import IngestionOptions, ReadyFacts, ingestion_options
from domain.datasets.ingestion_errors import IngestionError
from domain.datasets.ingestion_report import IngestionReport
from domain.datasets.layouts import detect_layout, parse_layout, parse_shard_files
from domain.datasets.registered_shards import IndexedShards, index_shards
from domain.datasets.shard_building import BadFiles, BuiltShards, build_shards
from domain.datasets.source_files import FolderFiles, S3Files, SourceFiles, s3_files
from domain.datasets.source_listing import Listing
from domain.datasets.sources import S3_SCHEME, UPLOAD_SCHEME, check_source, upload_key
from domain.datasets.stored_shards import QuotaGuard, ShardUploader, index_key, samples_key
from domain.errors import InvalidRequest
from sdd_core.data.shard_index import ShardIndex, SplitShards
from service.artifacts import ArtifactStore, ChecksumMismatch
from service.db.models import Dataset, Tenant
from service.settings import Settings

log = logging.getLogger(__name__)

EXTRACTED_BYTES_PER_ARCHIVE_BYTE = 20  # images barely compress; this bounds an honest archive generously
EXTRACT_BYTES_PER_SECOND = 10 << 20  # an archive's time limit grows with its size, at least this fast


@dataclass(frozen=True)
class IngestionInput:
    """What an attempt needs to know of its dataset."""

    dataset_id: str
    name: str
    tenant: Tenant
    source: str
    layout: str | None
    options: IngestionOptions
    archive_sha256: str | None  # an upload's, as the API recorded it


def ingestion_input(session: Session, dataset_id: str) -> IngestionInput:
    """The dataset's source, layout, options and tenant, read once at the start of an attempt."""
    row = session.get(Dataset, dataset_id)
    assert row is not None
    tenant = session.get(Tenant, row.tenant_id)
    assert tenant is not None
    session.expunge(tenant)
    return IngestionInput(
        dataset_id=row.id,
        name=row.name,
        tenant=tenant,
        source=row.source or "",
        layout=row.layout,
        options=ingestion_options(session, dataset_id),
        archive_sha256=row.sha256 or None,
    )


def run_ingestion(
    settings: Settings,
    store: ArtifactStore,
    dataset: IngestionInput,
    quota: QuotaGuard,
    work_dir: Path,
    report: IngestionReport,
) -> ReadyFacts:
    """Ingest ``dataset`` (see the module docstring); the facts to record once it is stored."""
    files = _source_files(settings, store, dataset, work_dir, report)
    report.stage("listing", None, f"listing {files.description}")
    found = files.list()
    if not found:
        raise IngestionError(f"{files.description} holds no files", code="empty_source")
    listing = Listing({file.path: file.size_bytes for file in found}, files.read, files.description)
    layout = dataset.layout
    if layout is None:
        layout = detect_layout(listing)
        report.event("layout", f"detected the {layout} layout in {files.description}", {"layout": layout})
    if layout == "shards":
        shards = _indexed_in_place(files, listing, work_dir, report)
    else:
        shards = _written(settings, store, dataset, files, listing, layout, quota, work_dir, report)
    report.stage("finishing", None, "storing the shard index and the sample grid")
    learnt, classes = shards.learnt, shards.classes
    index = ShardIndex(
        name=dataset.name,
        classes=classes,
        train=shards.train,
        val=shards.val,
        image_size=learnt.image_size,
        pipeline=learnt.pipeline,
        mean=learnt.mean,
        std=learnt.std,
        image_sizes=dict(learnt.image_sizes),
    )
    document = index.to_json()
    quota.check(len(document) + len(learnt.grid_png), "the shard index and sample grid")
    stored_index = store.put_bytes(index_key(dataset.dataset_id), document)
    stored_grid = store.put_bytes(samples_key(dataset.dataset_id), learnt.grid_png)
    quota.add(stored_index.size_bytes + stored_grid.size_bytes)
    return ReadyFacts(
        layout=layout,
        classes=list(classes),
        image_size=index.image_size,
        train_count=index.train.samples,
        val_count=index.val.samples,
        class_counts={
            split: dict(zip(classes, getattr(index, split).class_counts, strict=True)) for split in ("train", "val")
        },
        statistics={
            "mean": list(index.mean),
            "std": list(index.std),
            "pipeline": index.pipeline,
            "image_sizes": index.image_sizes,
            "measured_images": learnt.measured_images,
            "bad_file_count": shards.bad_files.count,
            "shards": len(index.train.shards) + len(index.val.shards),
        },
        bad_files=[{"path": bad.path, "reason": bad.reason} for bad in shards.bad_files.first],
        index_key=stored_index.key,
        manifest_sha256=index.digest(),
        storage_bytes=quota.stored,
    )


@dataclass(frozen=True)
class _Shards:
    """A dataset's shards, keyed where they lie, and what writing or indexing them learnt."""

    classes: tuple[str, ...]
    train: SplitShards
    val: SplitShards
    learnt: BuiltShards | IndexedShards
    bad_files: BadFiles


def _written(
    settings: Settings,
    store: ArtifactStore,
    dataset: IngestionInput,
    files: SourceFiles,
    listing: Listing,
    layout: str,
    quota: QuotaGuard,
    work_dir: Path,
    report: IngestionReport,
) -> _Shards:
    """An image layout's images written into shards in the artifact store."""
    parsed = parse_layout(listing, layout, crop_to_boxes=dataset.options.crop_to_boxes)
    estimate = sum(listing.sizes[sample.path] for sample in parsed.samples)
    quota.check(estimate, f"the dataset's {len(parsed.samples):,} images ({estimate:,} bytes)")
    uploader = ShardUploader(store, dataset.dataset_id, quota)
    built = build_shards(
        files, parsed, uploader, work_dir / "shards", max_bytes=settings.shard_max_bytes, report=report
    )
    bad = built.bad_files
    if bad.count:
        first = bad.first[0]
        message = f"{bad.count} bad file(s) left out (the first: {first.path}: {first.reason})"
        report.event("bad_files", message, {"count": bad.count})
    train, val = (
        SplitShards(tuple(map(uploader.stored_ref, s.shards)), s.class_counts) for s in (built.train, built.val)
    )
    return _Shards(parsed.classes, train, val, built, bad)


def _indexed_in_place(files: SourceFiles, listing: Listing, work_dir: Path, report: IngestionReport) -> _Shards:
    """Registered shards indexed where they lie (an ``s3://`` source only)."""
    if not isinstance(files, S3Files):
        raise IngestionError("the shards layout is registered from s3://, not uploaded", code="layout_mismatch")
    layout = parse_shard_files(listing)
    indexed = index_shards(files, layout, work_dir / "shards", report)
    return _Shards(layout.classes, indexed.train, indexed.val, indexed, BadFiles())


def _source_files(
    settings: Settings, store: ArtifactStore, dataset: IngestionInput, work_dir: Path, report: IngestionReport
) -> SourceFiles:
    """The files of the dataset's source: an allowed ``s3://`` prefix, or its uploaded archive extracted."""
    if dataset.source.startswith(S3_SCHEME):
        try:
            location = check_source(settings, dataset.tenant, dataset.source)
        except InvalidRequest as exc:
            raise IngestionError(exc.message.removeprefix("source: "), code=exc.code) from exc
        return s3_files(settings, location)
    if dataset.source.startswith(UPLOAD_SCHEME):
        try:
            key = upload_key(dataset.source, dataset.dataset_id)
            archive = store.fetch(key, dataset.archive_sha256)
        except (ValueError, FileNotFoundError, ChecksumMismatch) as exc:
            raise IngestionError(f"the uploaded archive cannot be read: {exc}", code="invalid_archive") from exc
        size = archive.stat().st_size
        report.stage("extracting", None, f"extracting the uploaded archive ({size:,} bytes)")
        try:
            folder = extract_archive(
                archive,
                work_dir,
                max_total_bytes=EXTRACTED_BYTES_PER_ARCHIVE_BYTE * size,
                time_limit_s=EXTRACT_TIME_LIMIT_S + size / EXTRACT_BYTES_PER_SECOND,
            )
        except InvalidRequest as exc:
            raise IngestionError(f"the uploaded archive: {exc.message.removeprefix('file: ')}", code=exc.code) from exc
        return FolderFiles(folder)
    raise IngestionError(f"source {dataset.source[:80]!r} is neither s3://bucket/prefix/ nor an upload",
                         code="invalid_source")  # fmt: skip
