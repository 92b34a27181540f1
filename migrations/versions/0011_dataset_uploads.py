"""Resumable uploads of dataset archives in parts.

* ``dataset_uploads`` — one row per upload: the tenant, the dataset id it will become and its name,
  the file's name, size and SHA-256 (announced by the client, checked when the parts are joined),
  the part size and count, the artifact key the archive is assembled at and the store's own
  upload id, whether parts go straight to the object store (presigned URLs) or through the API,
  its status (``open``, ``completing``, ``completed``, ``aborted``, ``expired``) and when an idle
  upload expires (its parts are then deleted).

Revision ID: 0011_dataset_uploads
Revises: 0010_dataset_ingestion
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_dataset_uploads"
down_revision: str | Sequence[str] | None = "0010_dataset_ingestion"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_uploads",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("dataset_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("part_size", sa.BigInteger(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("store_upload_id", sa.String(1024), nullable=False),
        sa.Column("direct", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_uploads"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_dataset_uploads_tenant_id_tenants", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_dataset_uploads_tenant_id", "dataset_uploads", ["tenant_id"])
    op.create_index("ix_dataset_uploads_status_expires", "dataset_uploads", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_dataset_uploads_status_expires", table_name="dataset_uploads")
    op.drop_index("ix_dataset_uploads_tenant_id", table_name="dataset_uploads")
    op.drop_table("dataset_uploads")
