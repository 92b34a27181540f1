"""The embedded default's artifact store: files under ``SDD_ARTIFACT_DIR``, read in place.

Every write is atomic: data goes to a temp file in the destination folder, is fsynced, then
``os.replace``-d onto the key; a folder is assembled beside its destination and renamed into place.
A reader sees the old object or the new one, never a partial file.

A multipart upload keeps its parts under ``.multipart/<upload id>/`` (a name no key can take),
one file per part named ``<number>-<sha256>``, until ``complete_multipart`` joins them at the key.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from service.artifacts import (
    CHUNK_SIZE,
    TEMP_PREFIX,
    ChecksumMismatch,
    PartMismatch,
    StoredObject,
    StoredPart,
    TooLarge,
    Unpack,
    sha256_file,
    validate_key,
)

MULTIPART_DIR = ".multipart"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_PART_FILE = re.compile(r"(\d{5})-([0-9a-f]{64})")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _tree_digest(root: Path) -> tuple[int, str]:
    """(total bytes, SHA-256 over sorted "relative path\\0file sha256\\n" lines) of a folder."""
    digest = hashlib.sha256()
    total = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        total += path.stat().st_size
        digest.update(f"{path.relative_to(root).as_posix()}\0{sha256_file(path)}\n".encode())
    return total, digest.hexdigest()


class LocalArtifactStore:
    """Artifacts as files under ``root``; a key is a relative path."""

    direct_part_uploads = False  # parts of a multipart upload come through the API (put_part)

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """Where ``key`` lives on disk (it may not exist yet)."""
        return self.root / validate_key(key)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def open(self, key: str) -> BinaryIO:
        """Open a stored file for reading; ``FileNotFoundError`` if absent."""
        return open(self.path(key), "rb")

    def download_url(self, key: str, *, filename: str | None, media_type: str) -> str | None:
        """None: local files are streamed by the API."""
        return None

    def fetch(self, key: str, sha256: str | None) -> Path:
        """The stored file itself, read in place (files written here are not checked again on every read)."""
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return path

    def fetch_unpacked(self, key: str, sha256: str | None, unpack: Unpack) -> Path:
        """The stored folder itself (``put_unpacked`` kept the unpacked folder)."""
        path = self.path(key)
        if not path.is_dir():
            raise FileNotFoundError(key)
        return path

    def put_unpacked(self, key: str, archive: Path, folder: Path, *, move: bool = False) -> StoredObject:
        """Keep ``folder`` (see :meth:`put_tree`); the archive is not needed once unpacked."""
        return self.put_tree(key, folder, move=move)

    def close(self) -> None:
        """Nothing to let go of: fetched paths are the stored files."""

    def put_stream(self, key: str, fileobj: BinaryIO, max_bytes: int | None = None) -> StoredObject:
        """Copy ``fileobj`` to ``key`` in chunks; past ``max_bytes`` raise :class:`TooLarge`, storing nothing."""
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=dest.parent)
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := fileobj.read(CHUNK_SIZE):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise TooLarge(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(dest.parent)
        return StoredObject(key, size, digest.hexdigest())

    def put_file(self, key: str, src: Path) -> StoredObject:
        with open(src, "rb") as handle:
            return self.put_stream(key, handle)

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        return self.put_stream(key, io.BytesIO(data))

    def put_tree(self, key_prefix: str, src_dir: Path, *, move: bool = False) -> StoredObject:
        """Store a folder under ``key_prefix``, replacing any folder there.

        The folder is assembled in a temp folder next to its destination and renamed into place, so
        the key shows either nothing or the whole tree. ``move=True`` moves ``src_dir`` instead of
        copying it when both are on one file system. Symlinks are refused (an uploaded archive must
        not smuggle in references to host files). The returned ``sha256`` is a digest over the sorted
        relative paths and file hashes, ``size_bytes`` the total of the file sizes.
        """
        src_dir = Path(src_dir)
        if not src_dir.is_dir():
            raise NotADirectoryError(src_dir)
        links = [p for p in src_dir.rglob("*") if p.is_symlink()]
        if links:
            raise ValueError(f"refusing to store symlinks: {links[0].relative_to(src_dir)}")
        dest = self.path(key_prefix)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=dest.parent))
        tree = staging / "tree"
        try:
            try:
                if not move:
                    raise OSError("copy requested")
                os.rename(src_dir, tree)
            except OSError:
                shutil.copytree(src_dir, tree)
            size, sha = _tree_digest(tree)
            old = staging / "old"
            if dest.exists():
                os.rename(dest, old)
            try:
                os.rename(tree, dest)
            except OSError:
                if old.exists():
                    os.rename(old, dest)  # put the previous tree back
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _fsync_dir(dest.parent)
        return StoredObject(key_prefix, size, sha)

    def delete(self, key: str) -> bool:
        """Remove the file (or folder) at ``key``; False if there was none."""
        path = self.path(key)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
            return True
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False

    def delete_prefix(self, prefix: str) -> int:
        """Remove everything under ``prefix``; returns how many files went."""
        path = self.path(prefix)
        if not path.is_dir():
            return int(self.delete(prefix))
        count = sum(1 for p in path.rglob("*") if not p.is_dir())
        shutil.rmtree(path)
        return count

    # ------------------------------------------------------------ multipart uploads

    def _parts_dir(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise FileNotFoundError(f"no multipart upload {upload_id!r}")
        return self.root / MULTIPART_DIR / upload_id

    def start_multipart(self, key: str, sha256: str) -> str:
        """A fresh folder for the parts; the whole file's SHA-256 is checked at completion."""
        validate_key(key)
        upload_id = secrets.token_hex(16)
        self._parts_dir(upload_id).mkdir(parents=True)
        return upload_id

    def part_upload_url(self, key: str, upload_id: str, number: int, expires_s: int) -> str | None:
        """None: parts come through the API (``put_part``)."""
        return None

    def put_part(self, key: str, upload_id: str, number: int, fileobj: BinaryIO, size: int, sha256: str) -> StoredPart:
        """Write part ``number`` to a temp file, checking its size while it arrives and its SHA-256 at
        the end, then rename it into place (replacing an earlier copy of the part)."""
        folder = self._parts_dir(upload_id)
        if not folder.is_dir():
            raise FileNotFoundError(f"no multipart upload {upload_id!r}")
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=folder)
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        received = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := fileobj.read(CHUNK_SIZE):
                    received += len(chunk)
                    if received > size:
                        raise PartMismatch(number, "size", f"{size} bytes", f"more than {size} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if received != size:
                raise PartMismatch(number, "size", f"{size} bytes", f"{received} bytes")
            if digest.hexdigest() != sha256:
                raise PartMismatch(number, "sha256", sha256, digest.hexdigest())
            for earlier in folder.glob(f"{number:05d}-*"):
                earlier.unlink(missing_ok=True)
            os.replace(tmp, folder / f"{number:05d}-{sha256}")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredPart(number, size, sha256)

    def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        folder = self._parts_dir(upload_id)
        if not folder.is_dir():
            raise FileNotFoundError(f"no multipart upload {upload_id!r}")
        parts = []
        for path in folder.iterdir():
            match = _PART_FILE.fullmatch(path.name)
            if match:
                parts.append(StoredPart(int(match.group(1)), path.stat().st_size, match.group(2)))
        return sorted(parts, key=lambda part: part.number)

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[StoredPart], sha256: str) -> StoredObject:
        """Join the parts into one file at ``key`` (atomically), checked against ``sha256``; the
        parts go once it is in place, and stay when it does not match."""
        folder = self._parts_dir(upload_id)
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=dest.parent)
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with open(folder / f"{part.number:05d}-{part.etag}", "rb") as handle:
                        while chunk := handle.read(CHUNK_SIZE):
                            size += len(chunk)
                            digest.update(chunk)
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != sha256:
                raise ChecksumMismatch(key, sha256, digest.hexdigest())
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(dest.parent)
        shutil.rmtree(folder, ignore_errors=True)
        return StoredObject(key, size, sha256)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            folder = self._parts_dir(upload_id)
        except FileNotFoundError:
            return
        shutil.rmtree(folder, ignore_errors=True)
