"""API bearer tokens: issued per tenant, stored only as SHA-256, revocable.

A token looks like ``sdd_<43 url-safe chars>`` (256 random bits). The database keeps its SHA-256
hex digest and an 8-character display prefix, so a leaked database does not leak usable tokens and
an operator can still tell tokens apart in ``sdd token list``. Callers commit.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db.models import ApiToken, Tenant, utcnow

TOKEN_PREFIX = "sdd_"
DISPLAY_PREFIX_CHARS = 8


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def get_or_create_tenant(session: Session, name: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        tenant = Tenant(name=name)
        session.add(tenant)
        session.flush()
    return tenant


def create_token(session: Session, tenant_name: str) -> tuple[str, ApiToken]:
    """A new token for ``tenant_name`` (tenant created if new): (plaintext, stored row).

    The plaintext is returned once and never stored.
    """
    name = tenant_name.strip()
    if not name:
        raise ValueError("tenant name must not be empty")
    tenant = get_or_create_tenant(session, name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(tenant_id=tenant.id, token_hash=hash_token(token), prefix=token[:DISPLAY_PREFIX_CHARS])
    session.add(row)
    session.flush()
    return token, row


def authenticate(session: Session, token: str) -> Tenant | None:
    """The tenant a valid, unrevoked token belongs to; None otherwise."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(token)
    # One indexed lookup per request: the token's row joined to its tenant.
    found = session.execute(
        select(ApiToken.token_hash, ApiToken.revoked_at, Tenant)
        .join(Tenant, ApiToken.tenant_id == Tenant.id)
        .where(ApiToken.token_hash == digest)
    ).one_or_none()
    if found is None or found.revoked_at is not None:
        return None
    if not hmac.compare_digest(found.token_hash, digest):  # belt and braces after the indexed lookup
        return None
    return found.Tenant


def list_tokens(session: Session, tenant_name: str | None = None) -> list[tuple[ApiToken, Tenant]]:
    """Tokens (with their tenant), oldest first, optionally of one tenant."""
    query = select(ApiToken, Tenant).join(Tenant, ApiToken.tenant_id == Tenant.id)
    if tenant_name is not None:
        query = query.where(Tenant.name == tenant_name)
    return [(token, tenant) for token, tenant in session.execute(query.order_by(ApiToken.created_at, ApiToken.id))]


def revoke_token(session: Session, token_id: str) -> bool:
    """Revoke a token by id; False if there is no such token or it was already revoked."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.flush()
    return True
