"""Worker nodes: which workers are alive and how many devices each one's jobs get.

* ``worker_nodes`` — one row per Celery worker (its node name), the device count of the jobs it
  serves (``sdd worker --devices N``) and when it last said it was alive (at start and at every
  reaper pass). A job asking for N devices when no such worker was seen lately says so in its
  events (``waiting_for_devices``) and stays queued.

Revision ID: 0008_worker_nodes
Revises: 0007_job_names
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_worker_nodes"
down_revision: str | Sequence[str] | None = "0007_job_names"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_nodes",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("devices", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_worker_nodes"),
    )
    op.create_index("ix_worker_nodes_devices", "worker_nodes", ["devices"])


def downgrade() -> None:
    op.drop_index("ix_worker_nodes_devices", table_name="worker_nodes")
    op.drop_table("worker_nodes")
