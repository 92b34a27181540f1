"""The runs a job logs to the deployment's experiment trackers.

* ``jobs.tracking`` — JSON by tracker (``mlflow``, ``wandb``): the run's id, its link and the last
  epoch sent to it, so a resumed attempt continues the same run without sending an epoch twice
  (``worker.tracking``). NULL for a job that asked for none.

Revision ID: 0013_job_tracking
Revises: 0012_job_devices
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_job_tracking"
down_revision: str | Sequence[str] | None = "0012_job_devices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("tracking", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("tracking")
