"""Job names and tags: what a person calls a job, and labels to find jobs by.

* ``jobs.name`` — an optional name (at most 100 characters) shown instead of the id.
* ``job_tags`` — one row per (job, tag), primary key both; ``ix_job_tags_tag`` finds the jobs
  carrying a tag. A table rather than a JSON column so that "jobs with tag X" is the same indexed
  query on SQLite and PostgreSQL.

Revision ID: 0007_job_names
Revises: 0006_repair_stored_text
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_job_names"
down_revision: str | Sequence[str] | None = "0006_repair_stored_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("name", sa.String(100), nullable=True))
    op.create_table(
        "job_tags",
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("tag", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "tag", name="pk_job_tags"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_tags_job_id_jobs", ondelete="CASCADE"),
    )
    op.create_index("ix_job_tags_tag", "job_tags", ["tag"])


def downgrade() -> None:
    op.drop_index("ix_job_tags_tag", table_name="job_tags")
    op.drop_table("job_tags")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("name")
