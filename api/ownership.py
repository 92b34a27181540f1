"""Tenant-scoped lookups: another tenant's object answers exactly like one that does not exist."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import not_found

Row = TypeVar("Row")


def get_owned(
    session: Session, table: type[Row], tenant_id: str, object_id: str, *, kind: str, param: str | None = None
) -> Row:
    """The row of ``table`` with ``object_id`` owned by ``tenant_id``; 404 naming ``kind`` otherwise."""
    model: Any = table
    row = session.scalar(select(model).where(model.id == object_id, model.tenant_id == tenant_id))
    if row is None:
        raise not_found(kind, object_id, param)
    return row
