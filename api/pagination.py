"""Cursor paging over HTTP: ``?limit=&after=<id>`` as a ``PageParams`` (the paging itself is
``domain.ownership.page_of``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from api.schemas.common import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX
from domain.ownership import PageParams

ID_PATTERN = r"^[a-z]{2,4}_[0-9a-f]{24}$"
"""Every id the service makes (``service.db.models.new_id``): a prefix, an underscore, 24 hex digits."""


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=PAGE_LIMIT_MAX, description="Items per page (1 to 100).")
    ] = PAGE_LIMIT_DEFAULT,
    after: Annotated[
        str | None,
        Query(
            max_length=40,
            pattern=ID_PATTERN,
            description="An id from the previous page (such as job_3f9c…): the page continues after it.",
        ),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after=after)


PageDep = Annotated[PageParams, Depends(page_params)]
