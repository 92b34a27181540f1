"""A job's request as its tenant sent it, next to its resolved spec.

* ``jobs.request`` — the job's fields as submitted, before the service filled in any default
  (``domain.jobs.job_request.JobRequest.as_submitted``). A copy of the job (``sdd jobs submit --from``,
  the dashboard's Clone) starts from it, so what the source left to the service is left to it again.
  Jobs stored before this revision get their spec: every value stated, which a copy keeps.

Revision ID: 0009_job_requests
Revises: 0008_worker_nodes
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_job_requests"
down_revision: str | Sequence[str] | None = "0008_worker_nodes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("request", sa.JSON(), nullable=True))
    jobs = sa.table("jobs", sa.column("spec", sa.JSON()), sa.column("request", sa.JSON()))
    op.execute(jobs.update().values(request=jobs.c.spec))
    with op.batch_alter_table("jobs") as batch:
        batch.alter_column("request", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("request")
