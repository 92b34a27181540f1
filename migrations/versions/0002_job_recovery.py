"""Job recovery: when a queued job was last sent to the broker, and how long its attempts ran.

* ``jobs.enqueued_at`` — set whenever a "run job X" message is sent for a queued job (NULL until
  the first send is recorded; the API's first send is covered by ``created_at``). The reconciler
  re-sends jobs that stay ``queued`` long after their last send (a broker that lost messages).
* ``jobs.run_seconds`` — wall-clock seconds this job's attempts have run so far, kept with the
  lease heartbeat; the per-job time limit counts it across attempts.

Revision ID: 0002_job_recovery
Revises: 0001_initial
Create Date: 2025-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_job_recovery"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("run_seconds", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("run_seconds")
        batch.drop_column("enqueued_at")
