"""Which kind of archive a dataset upload is, from its name or from its first bytes.

The API only stores an uploaded archive (the ingestion extracts and checks it on a worker), but it
refuses at once a file that is no archive at all, and names the stored copy by its kind
(``datasets/<id>/upload.zip``, ``upload.tar.gz``, ...).
"""

from __future__ import annotations

from domain.errors import InvalidRequest, Location

HEAD_BYTES = 262  # enough for tar's "ustar" magic at offset 257
KINDS = ("zip", "tar", "tar.gz", "tar.bz2", "tar.xz")
_SUFFIXES = {  # file name suffix -> kind, longest first
    ".tar.gz": "tar.gz",
    ".tar.bz2": "tar.bz2",
    ".tar.xz": "tar.xz",
    ".tgz": "tar.gz",
    ".tbz2": "tar.bz2",
    ".txz": "tar.xz",
    ".zip": "zip",
    ".tar": "tar",
}
_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip: refused later, by the ingestion, as holding no images
    (b"\x1f\x8b", "tar.gz"),
    (b"BZh", "tar.bz2"),
    (b"\xfd7zXZ\x00", "tar.xz"),
)
ACCEPTED = ".zip, .tar, .tar.gz (.tgz), .tar.bz2 or .tar.xz"


def kind_from_name(filename: str) -> str | None:
    """The archive kind a file name says (``flowers.tar.gz`` -> ``tar.gz``), or None."""
    lowered = filename.lower()
    return next((kind for suffix, kind in _SUFFIXES.items() if lowered.endswith(suffix)), None)


def kind_from_bytes(head: bytes) -> str | None:
    """The archive kind the first ``HEAD_BYTES`` bytes show, or None for something else."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return "tar" if head[257:262] == b"ustar" else None


def name_without_suffix(filename: str) -> str:
    """``flowers.tar.gz`` -> ``flowers``: a dataset's default name."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    lowered = base.lower()
    suffix = next((suffix for suffix in _SUFFIXES if lowered.endswith(suffix)), "")
    return base[: len(base) - len(suffix)] if suffix else base


def require_archive_name(filename: str, location: Location) -> str:
    """The kind ``filename`` names; ``InvalidRequest`` on ``location`` when it names none."""
    kind = kind_from_name(filename)
    if kind is None:
        raise InvalidRequest(
            f"{'.'.join(map(str, location))}: {filename!r} is not an archive's name; upload a {ACCEPTED} file",
            code="invalid_archive",
            location=location,
        )
    return kind


def require_archive_bytes(head: bytes, location: Location) -> str:
    """The kind the first bytes show; ``InvalidRequest`` (``invalid_archive``) when they show none."""
    kind = kind_from_bytes(head)
    if kind is None:
        raise InvalidRequest(
            f"{'.'.join(map(str, location))}: not an archive (its first bytes are none of a {ACCEPTED} file's)",
            code="invalid_archive",
            location=location,
        )
    return kind
