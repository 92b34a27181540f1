"""Pieces every resource's schemas share: UTC timestamps and the page shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive (they were written in UTC); mark them so."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]

PAGE_LIMIT_DEFAULT = 20
PAGE_LIMIT_MAX = 100


class Page(BaseModel):
    """A page of a list, newest first; pass the last item's id as ``after`` for the next page."""

    has_more: bool = Field(description="True when more items follow this page.")
