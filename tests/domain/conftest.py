"""Fixtures for the domain tests: a migrated embedded database and a tenant in it."""

from __future__ import annotations

import pytest

from service.db.models import Tenant
from service.db.session import session_scope
from service.migrate import upgrade
from service.settings import Settings


@pytest.fixture
def embedded(sdd_env) -> Settings:
    """SQLite under a temp SDD_HOME, migrated."""
    settings = sdd_env()
    upgrade(str(settings.database_url))
    return settings


@pytest.fixture
def tenant_id(embedded: Settings) -> str:
    with session_scope(embedded) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        return tenant.id
