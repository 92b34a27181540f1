"""Where a registered dataset may be read from: ``s3://`` sources and the operator's allow-list.

A tenant registers a dataset where it lives, ``s3://bucket/prefix/``; the workers read it with
their own credentials (the standard AWS chain; never credentials or an endpoint from a request).
So the service must not read for a tenant what the tenant could not name on its own: the operator
lists the prefixes tenants may name in ``SDD_DATASET_SOURCES``, ``;``-separated, each
``s3://bucket/prefix/=*`` (every tenant) or ``s3://bucket/prefix/=acme,beta`` (those tenants,
by name). A source is admitted when it lies under a listed prefix open to its tenant, compared
segment by segment: ``s3://b/acme/`` admits ``s3://b/acme/birds/`` but not ``s3://b/acme-evil/``.
A trailing slash is optional; empty, ``.`` and ``..`` segments are refused outright.

``check_source`` runs at registration (the API) and again before a worker reads (the list may
have changed since). An uploaded archive's source is ``upload:<artifact key>``, written by the
API, never named by a user (``upload_key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.errors import InvalidRequest
from service.db.models import Tenant
from service.settings import Settings

S3_SCHEME = "s3://"
UPLOAD_SCHEME = "upload:"
ALL_TENANTS = "*"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix as whole segments (no empty, ``.`` or ``..`` segment)."""

    bucket: str
    segments: tuple[str, ...]

    @property
    def key_prefix(self) -> str:
        """The object-name prefix: ``a/b/`` (``""`` for the whole bucket)."""
        return "".join(f"{segment}/" for segment in self.segments)

    @property
    def uri(self) -> str:
        """The normalised form, always with a trailing slash: ``s3://bucket/a/b/``."""
        return f"{S3_SCHEME}{self.bucket}/{self.key_prefix}"

    def object_uri(self, relative_path: str) -> str:
        """``s3://bucket/a/b/<relative_path>``: an object below this prefix."""
        return f"{self.uri}{relative_path}"

    def is_under(self, other: S3Location) -> bool:
        """True if this prefix lies under ``other`` (whole segments; equal counts)."""
        return self.bucket == other.bucket and self.segments[: len(other.segments)] == other.segments


@dataclass(frozen=True)
class AllowedPrefix:
    """One entry of ``SDD_DATASET_SOURCES``: a prefix, and the tenant names it is open to (None: all)."""

    location: S3Location
    tenants: frozenset[str] | None

    def admits(self, location: S3Location, tenant_name: str) -> bool:
        open_to_tenant = self.tenants is None or tenant_name in self.tenants
        return open_to_tenant and location.is_under(self.location)


def parse_s3_uri(uri: str) -> S3Location:
    """``s3://bucket/prefix/`` as an ``S3Location``; ``ValueError`` saying what is wrong with it."""
    if not uri.startswith(S3_SCHEME):
        raise ValueError(f"{uri!r} is not an s3://bucket/prefix/ address")
    if _FORBIDDEN_CHARS.search(uri):
        raise ValueError(f"{uri!r} holds a control character or a backslash")
    bucket, _, path = uri[len(S3_SCHEME) :].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(f"{uri!r} does not name a valid bucket (3-63 of a-z, 0-9, '.', '-')")
    segments = tuple(path.split("/")) if path else ()
    if segments and segments[-1] == "":
        segments = segments[:-1]  # the trailing slash
    bad = [segment for segment in segments if segment in ("", ".", "..")]
    if bad:
        shown = "an empty segment ('//')" if bad[0] == "" else f"a {bad[0]!r} segment"
        raise ValueError(f"{uri!r} has {shown}; name the prefix as it is")
    return S3Location(bucket, segments)


def parse_allowed_prefixes(text: str) -> list[AllowedPrefix]:
    """``SDD_DATASET_SOURCES`` read; ``ValueError`` naming an entry that is malformed."""
    allowed: list[AllowedPrefix] = []
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        prefix, equals, tenants = entry.rpartition("=")
        if not equals or not prefix or not tenants.strip():
            raise ValueError(f"SDD_DATASET_SOURCES entry {entry!r}: write s3://bucket/prefix/=* or =tenant,tenant")
        names = frozenset(name.strip() for name in tenants.split(",") if name.strip())
        try:
            location = parse_s3_uri(prefix.strip())
        except ValueError as exc:
            raise ValueError(f"SDD_DATASET_SOURCES entry {entry!r}: {exc}") from exc
        allowed.append(AllowedPrefix(location, None if ALL_TENANTS in names else names))
    return allowed


def check_source(settings: Settings, tenant: Tenant, source: str) -> S3Location:
    """The source, normalised, if ``SDD_DATASET_SOURCES`` lets ``tenant`` read it; else an
    ``InvalidRequest`` on ``source`` naming it (``source_not_allowed``, or ``invalid_source`` for
    an address that is not a plain ``s3://bucket/prefix/``)."""
    try:
        location = parse_s3_uri(source)
    except ValueError as exc:
        raise InvalidRequest(f"source: {exc}", code="invalid_source", location=("source",)) from exc
    if not any(entry.admits(location, tenant.name) for entry in parse_allowed_prefixes(settings.dataset_sources)):
        raise InvalidRequest(
            f"source: {location.uri} is not under a prefix this service lets tenant {tenant.name!r} read "
            "(the operator lists them in SDD_DATASET_SOURCES)",
            code="source_not_allowed",
            location=("source",),
        )
    return location


def upload_source(key: str) -> str:
    """The ``source`` of a dataset uploaded as an archive stored at artifact ``key``."""
    return f"{UPLOAD_SCHEME}{key}"


def upload_key(source: str, dataset_id: str) -> str:
    """The artifact key of an uploaded archive's ``source``; ``ValueError`` unless it is
    ``upload:datasets/<dataset_id>/…`` (only the API writes such a source, for that dataset)."""
    key = source.removeprefix(UPLOAD_SCHEME)
    if not source.startswith(UPLOAD_SCHEME) or not key.startswith(f"datasets/{dataset_id}/"):
        raise ValueError(f"{source!r} is not an upload of dataset {dataset_id}")
    return key
