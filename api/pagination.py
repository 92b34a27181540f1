"""Cursor paging of a tenant's objects, newest first: ``?limit=&after=<id>``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.schemas.common import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX

Row = TypeVar("Row")


@dataclass(frozen=True)
class PageParams:
    limit: int
    after: str | None


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=PAGE_LIMIT_MAX, description="Items per page (1 to 100).")
    ] = PAGE_LIMIT_DEFAULT,
    after: Annotated[
        str | None,
        Query(max_length=40, description="An id from the previous page: the page continues after it."),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after=after)


PageDep = Annotated[PageParams, Depends(page_params)]


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
            raise ApiError(
                422, "validation_error", f"after: no object with id {page.after!r} in this list", "after"
            )
        query = query.where(
            or_(
                model.created_at < cursor.created_at,
                and_(model.created_at == cursor.created_at, model.id < cursor.id),
            )
        )
    rows = session.scalars(
        query.order_by(model.created_at.desc(), model.id.desc()).limit(page.limit + 1)
    ).all()
    return rows[: page.limit], len(rows) > page.limit
