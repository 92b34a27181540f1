"""Batch-level progress of a running job, so clients can draw a live bar within an epoch.

* ``jobs.batch`` — batches done of the epoch in progress (NULL until the worker reports one, and
  again once the epoch finished or the job stopped running).
* ``jobs.batches`` — batches per epoch, as the worker last reported (NULL while not running).

Loss parts stay out of SQL per batch; the per-epoch metrics rows keep them.

Revision ID: 0003_batch_progress
Revises: 0002_job_recovery
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_batch_progress"
down_revision: str | Sequence[str] | None = "0002_job_recovery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("batch", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("batches", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("batches")
        batch.drop_column("batch")
