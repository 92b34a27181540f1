"""A job's device count as a column, so SQL finds the queued multi-device jobs without reading specs.

* ``jobs.devices`` — how many devices the job trains on (its spec's ``devices``, 1 when left out),
  filled from the spec for the jobs stored before; set from the spec on every insert
  (``service.db.models.Job``).
* ``ix_jobs_status_devices`` (status, devices) replaces ``ix_jobs_status``: the reaper's "queued
  and on N > 1 devices", the queue gauges' counts per device count, and every lookup by status
  alone read it.

Revision ID: 0012_job_devices
Revises: 0011_dataset_uploads
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_job_devices"
down_revision: str | Sequence[str] | None = "0011_dataset_uploads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("devices", sa.Integer(), nullable=False, server_default="1"))
    jobs = sa.table("jobs", sa.column("spec", sa.JSON()), sa.column("devices", sa.Integer()))
    stated = jobs.c.spec["devices"].as_integer()
    op.execute(jobs.update().where(stated.is_not(None), stated != 1).values(devices=stated))
    op.drop_index("ix_jobs_status", table_name="jobs")
    op.create_index("ix_jobs_status_devices", "jobs", ["status", "devices"])


def downgrade() -> None:
    op.drop_index("ix_jobs_status_devices", table_name="jobs")
    op.create_index("ix_jobs_status", "jobs", ["status"])
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("devices")
