"""An upload's row and its stored files land together or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from domain.uploads import commit_stored
from service.db.models import Tenant
from service.db.session import session_scope
from service.settings import Settings


def test_a_committed_row_keeps_its_files(embedded: Settings) -> None:
    discarded: list[bool] = []
    with session_scope(embedded) as session:
        commit_stored(session, Tenant(name="carol"), lambda: discarded.append(True))
        assert session.scalar(select(Tenant.id).where(Tenant.name == "carol")) is not None
    assert discarded == []


def test_a_failed_commit_rolls_back_and_discards_the_stored_files(embedded: Settings, tenant_id: str) -> None:
    discarded: list[bool] = []
    with session_scope(embedded) as session:
        with pytest.raises(IntegrityError):  # "acme" exists: the unique name refuses the row
            commit_stored(session, Tenant(name="acme"), lambda: discarded.append(True))
        assert discarded == [True]
        assert session.scalar(select(Tenant.id).where(Tenant.name == "acme")) == tenant_id  # usable again
