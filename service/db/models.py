"""The SQL schema (SQLAlchemy 2 declarative). Migrations in ``migrations/`` create it; nothing else.

Ids are prefixed random strings (``job_…``, ``ds_…``) so a user can tell objects apart. Every
tenant-owned row carries ``tenant_id`` and every lookup filters on it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A prefixed random id, e.g. ``job_3f9c…`` (96 random bits)."""
    return f"{prefix}_{secrets.token_hex(12)}"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tnt"))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A bearer token, stored as its SHA-256 only; ``prefix`` lets an operator recognise it."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("tok"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Dataset(Base):
    """A tenant's dataset: registered where it lives (``source``) or uploaded, ingested by a worker
    into shards (``index_key``) and ready to train, or failed (see migration 0010)."""

    __tablename__ = "datasets"
    __table_args__ = (Index("ix_datasets_status", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ds"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="ready", server_default="ready")
    source: Mapped[str | None] = mapped_column(String(1024))  # s3://bucket/prefix/ or upload:<key>
    layout: Mapped[str | None] = mapped_column(String(16))  # imagefolder | cub200 | imagenet | shards
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"stage", "done", "total"} while ingesting
    # Known once ingested (or checked at upload, before revision 0010).
    classes: Mapped[list[Any] | None] = mapped_column(JSON)
    num_classes: Mapped[int | None] = mapped_column(Integer)
    image_size: Mapped[int | None] = mapped_column(Integer)  # size the models see, per sdd_core.data
    train_count: Mapped[int | None] = mapped_column(Integer)
    val_count: Mapped[int | None] = mapped_column(Integer)
    class_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {"train": {cls: n}, "val": {cls: n}}
    statistics: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # mean, std, image sizes
    bad_files: Mapped[list[Any] | None] = mapped_column(JSON)  # [{"path", "reason"}], the first ones
    index_key: Mapped[str | None] = mapped_column(String(300))  # the shard index in the artifact store
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))  # the index's SHA-256: the data's identity
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # counted in the quota
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None] = mapped_column(Text)
    # The ingestion's lease, as a job attempt's.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Uploaded before revision 0010: the extracted folder (local store) or the archive (object store).
    storage_key: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class DatasetEvent(Base):
    """What happened to a dataset, in order: registered, ingesting, progress, ready, failed, requeued."""

    __tablename__ = "dataset_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DatasetUpload(Base):
    """A resumable upload of a dataset archive in parts, which becomes dataset ``dataset_id`` once
    completed (see migration 0011 and ``domain.datasets.upload_sessions``)."""

    __tablename__ = "dataset_uploads"
    __table_args__ = (Index("ix_dataset_uploads_status_expires", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("upl"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(String(40))  # the dataset it becomes
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # announced; checked when the parts are joined or read
    part_size: Mapped[int] = mapped_column(BigInteger)
    parts: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(300))  # where the archive is assembled
    store_upload_id: Mapped[str] = mapped_column(String(1024))
    direct: Mapped[bool] = mapped_column(Boolean)  # parts PUT straight to the object store
    status: Mapped[str] = mapped_column(String(16))  # open | completing | completed | aborted | expired
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UploadedModel(Base):
    """Teacher weights uploaded by a user (safetensors), checked against ``arch`` at upload."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("mdl"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    arch: Mapped[str] = mapped_column(String(100))
    num_classes: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Sweep(Base):
    """Jobs submitted as one request: ``request`` is ``{"base": <job>, "grid": {field: [values]}}``, or for a
    search ``{"base": <job>, "search": <the search>, "trials": [{field: value}, ...]}`` (see ``sweep_rungs``).

    Its members are ordinary rows of ``jobs`` carrying its id in ``sweep_id``.
    """

    __tablename__ = "sweeps"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_sweeps_tenant_idempotency_key"),
        Index("ix_sweeps_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("swp"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SweepRung(Base):
    """One rung a search decided: at ``epoch``, each contender's val top-1, who went on and who was pruned.

    ``decision`` is ``{"values": {job id: val top-1}, "kept": [job ids], "pruned": [job ids]}``;
    (sweep, rung) is the primary key, so a rung is decided once (``domain.sweeps.search_rungs``).
    """

    __tablename__ = "sweep_rungs"

    sweep_id: Mapped[str] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True)
    rung: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _spec_of_the_row(context: Any) -> Any:
    """A job stored without going through a submission asks for its spec (every value stated)."""
    return context.get_current_parameters()["spec"]


def _devices_of_the_row(context: Any) -> int:
    """The devices a job trains on: its spec's ``devices``, 1 when the spec leaves it out."""
    return int((context.get_current_parameters()["spec"] or {}).get("devices") or 1)


class Job(Base):
    """A distillation job. ``spec`` is the request with every default filled in; ``request`` the job's
    fields as the tenant sent them, defaults left out (metadata, name and tags are columns of their
    own): what a copy of the job asks for, so that what the source left to the service is left to it
    again. Jobs stored before migration 0009 have their spec as their request.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_jobs_tenant_idempotency_key"),
        Index("ix_jobs_tenant_created", "tenant_id", "created_at"),
        Index("ix_jobs_tenant_status", "tenant_id", "status"),  # jobs in flight per tenant, at each submission
        Index("ix_jobs_status_devices", "status", "devices"),  # queued jobs on N devices (the reaper)
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("job"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=_spec_of_the_row)
    devices: Mapped[int] = mapped_column(Integer, default=_devices_of_the_row, server_default="1")
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    epoch: Mapped[int] = mapped_column(Integer, default=0)  # last finished epoch
    epochs: Mapped[int] = mapped_column(Integer)
    # While running: batches done of the epoch in progress (None until reported) and batches per epoch.
    batch: Mapped[int | None] = mapped_column(Integer)
    batches: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(50))
    error_message: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Last "run job X" message sent for a queued job (None: only the API's send, at created_at).
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    run_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")  # all attempts
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    # A sweep's member: the sweep, and its lockstep group (members drawing the same batches, see domain.sweeps.sweep_submission).
    sweep_id: Mapped[str | None] = mapped_column(ForeignKey("sweeps.id", ondelete="SET NULL"), index=True)
    group_key: Mapped[str | None] = mapped_column(String(16))
    # What a person calls the job (None: it is shown by its id) and its tags, one row each in job_tags.
    name: Mapped[str | None] = mapped_column(String(100))
    # The runs of the experiment trackers it asked for (worker.tracking), by tracker: {"run_id", "url", "epoch"}.
    tracking: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Why a search's rung decision pruned it (domain.sweeps.search_rungs); while it runs, a request to stop.
    prune_reason: Mapped[str | None] = mapped_column(Text)
    tag_rows: Mapped[list[JobTag]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="JobTag.tag", passive_deletes=True
    )

    @property
    def tags(self) -> list[str]:
        """The job's tags, sorted."""
        return [row.tag for row in self.tag_rows]


class JobTag(Base):
    """One tag of a job; ``ix_job_tags_tag`` finds the jobs carrying a tag on SQLite and PostgreSQL alike."""

    __tablename__ = "job_tags"
    __table_args__ = (Index("ix_job_tags_tag", "tag"),)

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)


class WorkerNode(Base):
    """A Celery worker that said it was alive at ``seen_at``, serving jobs on ``devices`` devices."""

    __tablename__ = "worker_nodes"
    __table_args__ = (Index("ix_worker_nodes_devices", "devices"),)

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    devices: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobMetric(Base):
    """One row per finished epoch; (job, epoch) is unique so an epoch is never recorded twice."""

    __tablename__ = "job_metrics"
    __table_args__ = (UniqueConstraint("job_id", "epoch", name="uq_job_metrics_job_epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class JobEvent(Base):
    """What happened to a job, in order: queued, started, epoch, checkpoint, resumed, cancelled, …"""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Artifact(Base):
    """A file in the artifact store that belongs to a job, with its size and SHA-256."""

    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("job_id", "kind", "epoch", name="uq_artifacts_job_kind_epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # checkpoint | stop_checkpoint | student | card | metrics | plot_*
    epoch: Mapped[int] = mapped_column(Integer, default=0)  # 0 for whole-job artifacts
    key: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
