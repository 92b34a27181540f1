"""An index on jobs (tenant_id, status): counting a tenant's unfinished jobs at every submission
(``SDD_MAX_JOBS_IN_FLIGHT``) reads the index instead of every job the tenant ever ran.

Revision ID: 0004_jobs_tenant_status_index
Revises: 0003_batch_progress
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_jobs_tenant_status_index"
down_revision: str | Sequence[str] | None = "0003_batch_progress"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_jobs_tenant_status", "jobs", ["tenant_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_jobs_tenant_status", table_name="jobs")
