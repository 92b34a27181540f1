"""Sweeps: a grid of jobs submitted as one request, and the link from each member job to it.

* ``sweeps`` — one row per sweep: the tenant, an optional name, the request as submitted
  (``{"base": <job>, "grid": {field: [values]}}``), metadata, and the ``Idempotency-Key`` with
  the request's hash (as for jobs).
* ``jobs.sweep_id`` — the sweep a member job belongs to (NULL for a job submitted alone);
  indexed, since a sweep's reads list its members.
* ``jobs.group_key`` — the member's lockstep group: members drawing the same batches (agreeing
  on the fields ``sdd_core.lockstep`` lists) share it.

Revision ID: 0005_sweeps
Revises: 0004_jobs_tenant_status_index
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_sweeps"
down_revision: str | Sequence[str] | None = "0004_jobs_tenant_status_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sweeps"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_sweeps_tenant_id_tenants", ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_sweeps_tenant_idempotency_key"),
    )
    op.create_index("ix_sweeps_tenant_created", "sweeps", ["tenant_id", "created_at"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("sweep_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("group_key", sa.String(16), nullable=True))
        batch.create_foreign_key("fk_jobs_sweep_id_sweeps", "sweeps", ["sweep_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_jobs_sweep_id", ["sweep_id"])


def downgrade() -> None:
    # The jobs stay (as jobs submitted alone); only their link to a sweep goes, then the sweeps.
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_sweep_id")
        batch.drop_constraint("fk_jobs_sweep_id_sweeps", type_="foreignkey")
        batch.drop_column("group_key")
        batch.drop_column("sweep_id")
    op.drop_index("ix_sweeps_tenant_created", table_name="sweeps")
    op.drop_table("sweeps")
