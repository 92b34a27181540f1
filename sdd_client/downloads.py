"""Saving a streamed download safely: temp file, SHA-256 check, then an atomic rename.

A reader of ``dest`` sees nothing or the whole verified file, never a partial or corrupt one; on
any failure (checksum, disk, interrupt) the temp file is removed.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

import httpx

from sdd_client.errors import ChecksumMismatch, SDDClientError

CHUNK_SIZE = 1 << 20
SHA256_HEADER = "X-Content-SHA256"
_FILENAME_RE = re.compile(r"""filename\*?=(?:UTF-8'')?"?([^";]+)"?""", re.IGNORECASE)


def attachment_name(response: httpx.Response, default: str) -> str:
    """The file name the server suggests (Content-Disposition), reduced to a safe base name."""
    match = _FILENAME_RE.search(response.headers.get("content-disposition", ""))
    name = Path(match.group(1)).name if match else ""
    return name if name and name not in (".", "..") else default


def refuse_existing(dest: Path, overwrite: bool) -> None:
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} already exists; pass overwrite=True (sdd: --overwrite) to replace it")


def save_verified(response: httpx.Response, dest: Path, *, overwrite: bool = False) -> str:
    """Stream ``response``'s body to ``dest`` if its SHA-256 matches the header; returns the digest."""
    expected = (response.headers.get(SHA256_HEADER) or "").strip().lower()
    if not expected:
        raise SDDClientError(f"the server sent no {SHA256_HEADER} header for {dest.name}; cannot verify it")
    refuse_existing(dest, overwrite)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in response.iter_bytes(CHUNK_SIZE):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != expected:
            raise ChecksumMismatch(dest.name, expected, actual)
        os.chmod(tmp, 0o644)
        _move_into_place(tmp, dest, overwrite)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return actual


def _move_into_place(tmp: Path, dest: Path, overwrite: bool) -> None:
    """Rename ``tmp`` onto ``dest``; without ``overwrite`` a file that appeared meanwhile is kept."""
    if overwrite:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # atomic "create only if absent"
    except FileExistsError:
        refuse_existing(dest, overwrite)
        raise
    except OSError:  # a file system without hard links
        refuse_existing(dest, overwrite)
        os.replace(tmp, dest)
        return
    tmp.unlink()
