"""Datasets registered where they live and ingested by workers into shards.

* ``datasets`` — a dataset now has a ``status`` (``ingesting``, ``ready``, ``failed``; rows stored
  before this revision were checked at upload: ``ready``), its ``source`` (``s3://bucket/prefix/``
  for a dataset registered by reference, ``upload:<key>`` for an uploaded archive) and ``layout``
  (``imagefolder``, ``cub200``, ``imagenet``, ``shards``), ingestion ``progress`` and, once
  ingested, its ``statistics`` (per-channel mean/std, image sizes), ``bad_files``, the artifact key
  of its shard index (``index_key``) and the index's SHA-256 (``manifest_sha256``: a checkpoint
  names its dataset by content), the bytes its shards take (``storage_bytes``: a tenant's quota),
  or the error that failed it. An ingestion holds a lease like a job's attempt (``worker``,
  ``lease_expires_at``, ``attempts``). What is only known once ingested (classes, counts, image
  size) is empty until then.
* ``dataset_events`` — what happened to a dataset, in order: registered, ingesting, progress,
  ready, failed, requeued.

Revision ID: 0010_dataset_ingestion
Revises: 0009_job_requests
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_dataset_ingestion"
down_revision: str | Sequence[str] | None = "0009_job_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KNOWN_ONCE_INGESTED = (
    ("classes", sa.JSON()),
    ("num_classes", sa.Integer()),
    ("image_size", sa.Integer()),
    ("train_count", sa.Integer()),
    ("val_count", sa.Integer()),
    ("class_counts", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="ready"))
        batch.add_column(sa.Column("source", sa.String(1024), nullable=True))
        batch.add_column(sa.Column("layout", sa.String(16), nullable=True))
        batch.add_column(sa.Column("progress", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("statistics", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("bad_files", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("index_key", sa.String(300), nullable=True))
        batch.add_column(sa.Column("manifest_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("storage_bytes", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("error_code", sa.String(50), nullable=True))
        batch.add_column(sa.Column("error_message", sa.Text(), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("worker", sa.String(200), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        for name, type_ in _KNOWN_ONCE_INGESTED:
            batch.alter_column(name, existing_type=type_, nullable=True)
    datasets = sa.table(
        "datasets",
        sa.column("size_bytes", sa.BigInteger()),
        sa.column("storage_bytes", sa.BigInteger()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.execute(datasets.update().values(storage_bytes=datasets.c.size_bytes, updated_at=datasets.c.created_at))
    op.create_index("ix_datasets_status", "datasets", ["status"])
    op.create_table(
        "dataset_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.String(40), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name="fk_dataset_events_dataset_id_datasets", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_events"),
    )
    op.create_index("ix_dataset_events_dataset_id", "dataset_events", ["dataset_id"])


def downgrade() -> None:
    op.drop_index("ix_dataset_events_dataset_id", table_name="dataset_events")
    op.drop_table("dataset_events")
    op.drop_index("ix_datasets_status", table_name="datasets")
    op.execute(sa.text("DELETE FROM datasets WHERE status != 'ready' OR index_key IS NOT NULL"))
    with op.batch_alter_table("datasets") as batch:
        for name, type_ in _KNOWN_ONCE_INGESTED:
            batch.alter_column(name, existing_type=type_, nullable=False)
        for name in (
            "updated_at", "lease_expires_at", "worker", "attempts", "error_message", "error_code", "storage_bytes",
            "manifest_sha256", "index_key", "bad_files", "statistics", "progress", "layout", "source", "status",
        ):  # fmt: skip
            batch.drop_column(name)
