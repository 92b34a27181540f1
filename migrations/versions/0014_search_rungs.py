"""The rungs of a sweep that searches: what each decided, and the members a decision pruned.

* ``sweep_rungs`` — one row per rung a search decided (``domain.sweeps.search_rungs``): the epoch,
  each contender's val top-1 there, who went on and who was pruned. The primary key (sweep, rung)
  makes a decision once: a second writer's INSERT fails and it reads the first one's.
* ``jobs.prune_reason`` — why a rung decision pruned the job; set while the job still runs, it asks
  its worker to stop (``worker.training_callbacks``) and the job ends ``pruned``.

Revision ID: 0014_search_rungs
Revises: 0013_job_tracking
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_search_rungs"
down_revision: str | Sequence[str] | None = "0013_job_tracking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sweep_rungs",
        sa.Column("sweep_id", sa.String(40), sa.ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("rung", sa.Integer(), primary_key=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("prune_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("prune_reason")
    op.drop_table("sweep_rungs")
