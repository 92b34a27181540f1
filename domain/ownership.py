"""Tenant-scoped reads: one object by id, or a page of a tenant's objects, newest first.

Another tenant's object answers exactly like one that does not exist. Every read of a job,
dataset or model, by the REST routes, the dashboard or the submission rules, goes through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from domain.errors import InvalidRequest, not_found

Row = TypeVar("Row")


@dataclass(frozen=True)
class PageParams:
    """``limit`` items after the object with id ``after`` (None: from the newest)."""

    limit: int
    after: str | None = None


def get_owned(
    session: Session,
    table: type[Row],
    tenant_id: str,
    object_id: str,
    *,
    kind: str,
    location: Sequence[str | int] = (),
) -> Row:
    """The row of ``table`` with ``object_id`` owned by ``tenant_id``; ``NotFound`` naming ``kind`` otherwise."""
    model: Any = table
    row = session.scalar(select(model).where(model.id == object_id, model.tenant_id == tenant_id))
    if row is None:
        raise not_found(kind, object_id, location)
    return row


def page_of(
    session: Session,
    table: type[Row],
    tenant_id: str,
    page: PageParams,
    *filters: ColumnElement[bool],
) -> tuple[Sequence[Row], bool]:
    """(rows of this page, whether more follow) of ``table``'s rows owned by ``tenant_id``.

    Order is (created_at, id) descending, so the cursor is stable even for equal timestamps.
    """
    model: Any = table
    query = select(model).where(model.tenant_id == tenant_id, *filters)
    if page.after is not None:
        cursor = session.scalar(select(model).where(model.id == page.after, model.tenant_id == tenant_id))
        if cursor is None:
            raise InvalidRequest(f"after: no object with id {page.after!r} in this list", location=("after",))
        query = query.where(
            or_(
                model.created_at < cursor.created_at,
                and_(model.created_at == cursor.created_at, model.id < cursor.id),
            )
        )
    rows = session.scalars(query.order_by(model.created_at.desc(), model.id.desc()).limit(page.limit + 1)).all()
    return rows[: page.limit], len(rows) > page.limit
