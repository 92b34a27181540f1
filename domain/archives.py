"""Safe extraction of uploaded .zip and .tar(.gz) archives.

Every member is checked BEFORE anything is written: no absolute paths, no ``..``, no symlinks,
hard links, devices or FIFOs, at most ``max_members`` members, at most ``max_total_bytes``
uncompressed and a bounded compression ratio (zip bombs). Extraction then writes regular files
only, below a fresh temp folder, never applying the archive's permission bits, and counts the
bytes it really writes. Every refusal is an ``InvalidRequest`` on ``file`` naming the member.
"""

from __future__ import annotations

import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from domain.errors import InvalidRequest

MAX_MEMBERS = 200_000
MAX_COMPRESSION_RATIO = 100
RATIO_CHECK_FROM_BYTES = 10 << 20  # small archives (a few headers) may legitimately look "compressed"
COPY_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Member:
    """One entry to extract: its checked relative path, whether it is a folder, its size."""

    path: PurePosixPath
    is_dir: bool
    size: int
    handle: object  # the ZipInfo / TarInfo to read it back


def refuse(message: str) -> InvalidRequest:
    return InvalidRequest(f"file: {message}", code="invalid_archive", location=("file",))


def safe_relative_path(name: str) -> PurePosixPath | None:
    """The member's path relative to the extraction folder, or None for the folder itself."""
    if "\x00" in name or "\\" in name:
        raise refuse(f"member {name!r} has a backslash or NUL in its name")
    if name.startswith("/") or _DRIVE.match(name):
        raise refuse(f"member {name!r} has an absolute path")
    parts = [part for part in PurePosixPath(name).parts if part != "."]
    if ".." in parts:
        raise refuse(f"member {name!r} points outside the archive ('..')")
    return PurePosixPath(*parts) if parts else None


def _zip_members(archive: zipfile.ZipFile) -> Iterator[Member]:
    for info in archive.infolist():
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            raise refuse(f"member {info.filename!r} is a symbolic link; links are not allowed")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise refuse(f"member {info.filename!r} is not a regular file or folder")
        path = safe_relative_path(info.filename)
        if path is not None:
            yield Member(path, info.is_dir(), info.file_size, info)


def _tar_members(archive: tarfile.TarFile) -> Iterator[Member]:
    for info in archive.getmembers():
        if info.issym() or info.islnk():
            raise refuse(f"member {info.name!r} is a link to {info.linkname!r}; links are not allowed")
        if not (info.isreg() or info.isdir()):
            raise refuse(f"member {info.name!r} is a device, FIFO or other special file; not allowed")
        path = safe_relative_path(info.name)
        if path is not None:
            yield Member(path, info.isdir(), info.size if info.isreg() else 0, info)


@contextmanager
def _opened(archive_path: Path) -> Iterator[tuple[zipfile.ZipFile | tarfile.TarFile, list[Member]]]:
    """The open archive and its checked member list; 422 if it is neither zip nor tar."""
    if zipfile.is_zipfile(archive_path):
        try:
            with zipfile.ZipFile(archive_path) as archive:
                yield archive, list(_zip_members(archive))
            return
        except (zipfile.BadZipFile, OSError) as exc:
            raise refuse(f"unreadable zip archive: {exc}") from exc
    try:
        tar = tarfile.open(archive_path, mode="r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise refuse("not a .zip, .tar.gz or .tgz archive") from exc
    try:
        with tar:
            yield tar, list(_tar_members(tar))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise refuse(f"unreadable tar archive: {exc}") from exc


def check_members(members: list[Member], archive_bytes: int, max_total_bytes: int, max_members: int) -> None:
    """Refuse too many members, too many bytes, a suspicious compression ratio, or duplicates."""
    if len(members) > max_members:
        raise refuse(f"the archive has {len(members)} members; at most {max_members} are allowed")
    total = sum(m.size for m in members)
    if total > max_total_bytes:
        raise refuse(f"the archive expands to {total} bytes; at most {max_total_bytes} are allowed")
    ratio = total // max(archive_bytes, 1)
    if total > RATIO_CHECK_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO:
        raise refuse(f"the archive expands {ratio}-fold; at most {MAX_COMPRESSION_RATIO}-fold is allowed")
    seen: set[PurePosixPath] = set()
    for member in members:
        if member.path in seen and not member.is_dir:
            raise refuse(f"member {member.path} appears twice")
        seen.add(member.path)


def _read(archive: zipfile.ZipFile | tarfile.TarFile, member: Member) -> IO[bytes]:
    if isinstance(archive, zipfile.ZipFile):
        return archive.open(member.handle)  # type: ignore[arg-type]
    handle = archive.extractfile(member.handle)  # type: ignore[arg-type]
    assert handle is not None
    return handle


def extract_archive(
    archive_path: Path, work_dir: Path, *, max_total_bytes: int, max_members: int = MAX_MEMBERS
) -> Path:
    """Check, then extract ``archive_path`` into a new folder under ``work_dir``; returns the folder.

    The folder is removed again if anything fails; the caller removes it after use.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    with _opened(archive_path) as (archive, members):
        check_members(members, archive_path.stat().st_size, max_total_bytes, max_members)
        root = Path(tempfile.mkdtemp(prefix="extract-", dir=work_dir))
        try:
            written = 0
            for member in members:
                target = root.joinpath(*member.path.parts)
                if member.is_dir:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with _read(archive, member) as source, open(target, "xb") as out:
                    while chunk := source.read(COPY_CHUNK):
                        written += len(chunk)
                        if written > max_total_bytes:
                            raise refuse(f"the archive expands past {max_total_bytes} bytes")
                        out.write(chunk)
        except InvalidRequest:
            shutil.rmtree(root, ignore_errors=True)
            raise
        except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            shutil.rmtree(root, ignore_errors=True)
            raise refuse(f"cannot extract the archive: {exc}") from exc
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
    return root
