"""API tokens: issued once, stored as a hash, authenticate until revoked; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from service import migrate
from service.db.models import ApiToken, Tenant
from service.db.session import session_scope
from service.tokens import authenticate, create_token, list_tokens, revoke_token


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request, sdd_env):
    if request.param == "postgresql":
        settings = sdd_env(database_url=request.getfixturevalue("postgres_url"))
    else:
        settings = sdd_env()
    migrate.upgrade(str(settings.database_url))
    return settings


def test_create_authenticate_revoke(migrated) -> None:
    with session_scope() as session:
        token, row = create_token(session, "acme")
        token_id = row.id
    assert token.startswith("sdd_") and len(token) > 40

    with session_scope() as session:
        stored = session.get(ApiToken, token_id)
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in (stored.token_hash, stored.prefix)
        assert stored.prefix == token[:8]
        tenant = authenticate(session, token)
        assert tenant is not None and tenant.name == "acme"
        assert authenticate(session, token + "x") is None
        assert authenticate(session, "") is None
        assert authenticate(session, "Bearer " + token) is None

    with session_scope() as session:
        assert revoke_token(session, token_id)
        assert not revoke_token(session, token_id)
        assert not revoke_token(session, "tok_missing")
    with session_scope() as session:
        assert authenticate(session, token) is None


def test_tenants_are_reused_and_tokens_listed(migrated) -> None:
    with session_scope() as session:
        first, _ = create_token(session, "acme")
        second, _ = create_token(session, "acme")
        other, _ = create_token(session, "globex")
    assert len({first, second, other}) == 3

    with session_scope() as session:
        assert [t.name for t in session.scalars(select(Tenant).order_by(Tenant.name))] == ["acme", "globex"]
        assert authenticate(session, first).id == authenticate(session, second).id
        assert authenticate(session, other).name == "globex"
        assert len(list_tokens(session)) == 3
        assert {tenant.name for _, tenant in list_tokens(session, "acme")} == {"acme"}
        assert len(list_tokens(session, "acme")) == 2
        assert list_tokens(session, "nobody") == []


def test_empty_tenant_name_is_refused(migrated) -> None:
    with session_scope() as session, pytest.raises(ValueError):
        create_token(session, "  ")
