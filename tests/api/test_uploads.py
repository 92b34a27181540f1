"""An upload's row and its stored files land together or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.uploads import commit_stored
from service.db.models import Tenant
from tests.api.conftest import Api


def test_a_committed_row_keeps_its_files(api: Api) -> None:
    discarded: list[bool] = []
    with api.session() as session:
        commit_stored(session, Tenant(name="carol"), lambda: discarded.append(True))
        assert session.scalar(select(Tenant.id).where(Tenant.name == "carol")) is not None
    assert discarded == []


def test_a_failed_commit_rolls_back_and_discards_the_stored_files(api: Api) -> None:
    discarded: list[bool] = []
    with api.session() as session:
        with pytest.raises(IntegrityError):  # "alice" exists: the unique name refuses the row
            commit_stored(session, Tenant(name="alice"), lambda: discarded.append(True))
        assert discarded == [True]
        assert session.scalar(select(Tenant.id).where(Tenant.name == "alice")) is not None  # usable again
