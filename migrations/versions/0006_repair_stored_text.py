"""Repair free-form JSON that holds text no encoder accepts: lone UTF-16 surrogates (and NUL).

Before submissions were checked (``domain.text_rules``), a job's or a sweep's ``metadata`` could
carry ``"\\ud800"``: stored fine (JSON escapes it), but every later read failed to encode it and
answered 500. Such characters become U+FFFD, the replacement character; nothing else changes.
Irreversible by design: the downgrade keeps the repaired text.

Revision ID: 0006_repair_stored_text
Revises: 0005_sweeps
Create Date: 2026-12-02
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006_repair_stored_text"
down_revision: str | Sequence[str] | None = "0005_sweeps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BAD = re.compile("[\ud800-\udfff\x00]")
# (table, its key column, the free-form JSON columns a tenant writes)
_COLUMNS = (("jobs", "id", ("metadata",)), ("sweeps", "id", ("metadata", "request")))


def repaired(value: Any) -> Any:
    """``value`` with every bad character of every string (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _BAD.sub("\ufffd", value)
    if isinstance(value, list):
        return [repaired(item) for item in value]
    if isinstance(value, dict):
        return {repaired(key): repaired(item) for key, item in value.items()}
    return value


def upgrade() -> None:
    bind = op.get_bind()
    for table_name, key, columns in _COLUMNS:
        table = sa.table(table_name, sa.column(key, sa.String), *(sa.column(c, sa.JSON) for c in columns))
        rows = bind.execute(sa.select(table.c[key], *(table.c[c] for c in columns))).all()
        for row in rows:
            values = {c: repaired(row[i + 1]) for i, c in enumerate(columns)}
            if any(values[c] != row[i + 1] for i, c in enumerate(columns)):
                bind.execute(sa.update(table).where(table.c[key] == row[0]).values(**values))


def downgrade() -> None:
    """Nothing to undo: the replaced characters could not be read back anyway."""
