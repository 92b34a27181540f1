"""Safe extraction of uploaded .zip and .tar(.gz, .bz2, .xz) archives, in one bounded pass.

Each member is checked before any of its bytes are written: no absolute paths, no ``..``, no
symlinks, hard links, devices or FIFOs, no name twice, at most ``max_members`` members and at
most ``max_total_bytes`` declared. A tar archive is read as a stream (``r|*``): its members are
checked one by one as their headers arrive, so a compressed bomb is refused at its first
oversized header instead of after decompressing gigabytes to list it. While data is copied, the
bytes really written are counted against ``max_total_bytes``, the ratio of bytes written to
archive bytes read is bounded (``MAX_COMPRESSION_RATIO``), and the pass must finish within
``time_limit_s``. Members that are not images (``sdd_core.data`` decides) are skipped, not
written. Extraction writes regular files only, below a fresh temp folder, never applying the
archive's permission bits. Every refusal is an ``InvalidRequest`` on ``file`` naming the member,
never a server path: a zip member that is encrypted, uses a compression method other than stored,
deflate, bzip2 or LZMA, has corrupt compressed data, has no name, a name part over 255 bytes, or a
file and a folder of one name.
"""

from __future__ import annotations

import errno
import lzma
import re
import shutil
import stat
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from domain.errors import InvalidRequest
from sdd_core.data.image_files import is_image_file

MAX_MEMBERS = 200_000
MAX_COMPRESSION_RATIO = 100
RATIO_CHECK_FROM_BYTES = 10 << 20  # small archives (a few headers) may legitimately look "compressed"
EXTRACT_TIME_LIMIT_S = 120.0
COPY_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
NAME_PART_MAX_BYTES = 255  # a file system's limit on one name (NAME_MAX)
ZIP_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "LZMA",
}
ZIP_ENCRYPTED_FLAG = 0x1
# What a member's corrupt data raises while it is read: zlib, LZMA, bzip2 and zipfile's own CRC check.
_CORRUPT_DATA = (zlib.error, lzma.LZMAError, EOFError, zipfile.BadZipFile, OSError, ValueError)


def refuse(message: str) -> InvalidRequest:
    return InvalidRequest(f"file: {message}", code="invalid_archive", location=("file",))


def safe_relative_path(name: str) -> PurePosixPath | None:
    """The member's path relative to the extraction folder, or None for the folder itself."""
    if not name:
        raise refuse("a member has an empty name")
    if "\x00" in name or "\\" in name:
        raise refuse(f"member {name!r} has a backslash or NUL in its name")
    if name.startswith("/") or _DRIVE.match(name):
        raise refuse(f"member {name!r} has an absolute path")
    parts = [part for part in PurePosixPath(name).parts if part != "."]
    if ".." in parts:
        raise refuse(f"member {name!r} points outside the archive ('..')")
    if any(len(part.encode()) > NAME_PART_MAX_BYTES for part in parts):
        raise refuse(f"member {name[:80]!r}... has a name part over {NAME_PART_MAX_BYTES} bytes")
    return PurePosixPath(*parts) if parts else None


class _CountingReader:
    """The uploaded file, read through: counts the archive bytes consumed (for the ratio check)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.consumed = 0

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.consumed += len(data)
        return data

    def __getattr__(self, name: str) -> Any:  # seek/tell for zipfile, which reads its directory first
        return getattr(self.handle, name)


@dataclass
class _Budget:
    """What one upload may cost: members, declared and written bytes, expansion ratio, time."""

    max_total_bytes: int
    max_members: int
    deadline: float
    reader: _CountingReader
    members: int = 0
    declared: int = 0
    written: int = 0
    seen: set[PurePosixPath] = field(default_factory=set)

    def admit(self, name: str, size: int, *, is_dir: bool) -> PurePosixPath | None:
        """Count one member (its checked path, or None for the root); refuse it past a limit."""
        self.members += 1
        if self.members > self.max_members:
            raise refuse(
                f"the archive has more than {self.max_members} members; at most {self.max_members} are allowed"
            )
        self.declared += size
        if self.declared > self.max_total_bytes:
            raise refuse(
                f"member {name!r} takes the archive to {self.declared} bytes; at most {self.max_total_bytes} are allowed"
            )
        path = safe_relative_path(name)
        if path is not None and not is_dir:
            if path in self.seen:
                raise refuse(f"member {path} appears twice")
            self.seen.add(path)
        self.check_time()
        return path

    def wrote(self, count: int) -> None:
        self.written += count
        if self.written > self.max_total_bytes:
            raise refuse(f"the archive expands past {self.max_total_bytes} bytes")
        ratio = self.written // max(self.reader.consumed, 1)
        if self.written > RATIO_CHECK_FROM_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise refuse(f"the archive expands {ratio}-fold; at most {MAX_COMPRESSION_RATIO}-fold is allowed")
        self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise refuse("reading the archive took too long; send a smaller or less compressed archive")


def extract_archive(
    archive_path: Path,
    work_dir: Path,
    *,
    max_total_bytes: int,
    max_members: int = MAX_MEMBERS,
    time_limit_s: float = EXTRACT_TIME_LIMIT_S,
) -> Path:
    """Check and extract ``archive_path`` into a new folder under ``work_dir``; returns the folder.

    The folder is removed again if anything fails; the caller removes it after use.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="extract-", dir=work_dir))
    try:
        with open(archive_path, "rb") as handle:
            reader = _CountingReader(handle)
            budget = _Budget(max_total_bytes, max_members, time.monotonic() + time_limit_s, reader)
            if zipfile.is_zipfile(handle):
                handle.seek(0)
                _extract_zip(reader, root, budget)
            else:
                handle.seek(0)
                _extract_tar(reader, root, budget)
    except InvalidRequest:
        shutil.rmtree(root, ignore_errors=True)
        raise
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        # The reason only: an OSError's text names the server's extraction folder.
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        if not isinstance(exc, OSError):
            reason = str(exc)
        raise refuse(f"cannot extract the archive: {reason}") from exc
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return root


def _extract_zip(reader: _CountingReader, root: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(reader) as archive:
        infos = archive.infolist()
        for info in infos:  # the central directory: every member checked before any is written
            if not info.filename:
                raise refuse("a member has an empty name")
            if info.flag_bits & ZIP_ENCRYPTED_FLAG:
                raise refuse(f"member {info.filename!r} is encrypted; send an archive without a password")
            if info.compress_type not in ZIP_METHODS:
                raise refuse(
                    f"member {info.filename!r} uses zip compression method {info.compress_type}; "
                    f"use {', '.join(ZIP_METHODS.values())}"
                )
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise refuse(f"member {info.filename!r} is a symbolic link; links are not allowed")
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise refuse(f"member {info.filename!r} is not a regular file or folder")
            budget.admit(info.filename, info.file_size, is_dir=info.is_dir())
        for info in infos:
            path = safe_relative_path(info.filename)
            if path is not None:
                try:
                    with archive.open(info) as source:
                        _write(source, root, path, is_dir=info.is_dir(), budget=budget)
                except _CORRUPT_DATA as exc:
                    if isinstance(exc, OSError) and exc.errno is not None:
                        raise  # the disk, not the archive
                    raise refuse(
                        f"member {info.filename!r} has corrupt compressed data ({type(exc).__name__})"
                    ) from exc


def _extract_tar(reader: _CountingReader, root: Path, budget: _Budget) -> None:
    try:
        archive = tarfile.open(fileobj=reader, mode="r|*")  # a stream: one pass, headers as they arrive
    except tarfile.TarError as exc:
        raise refuse("not a .zip, .tar.gz, .tgz, .tar.bz2 or .tar.xz archive") from exc
    with archive:
        for info in _tar_members(archive):
            path = budget.admit(info.name, info.size if info.isreg() else 0, is_dir=info.isdir())
            if path is None:
                continue
            source = archive.extractfile(info) if info.isreg() else None
            _write(source, root, path, is_dir=info.isdir(), budget=budget)


def _tar_members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for info in archive:  # one header at a time, as the stream arrives
        if info.issym() or info.islnk():
            raise refuse(f"member {info.name!r} is a link to {info.linkname!r}; links are not allowed")
        if not (info.isreg() or info.isdir()):
            raise refuse(f"member {info.name!r} is a device, FIFO or other special file; not allowed")
        yield info


def _write(source: IO[bytes] | None, root: Path, path: PurePosixPath, *, is_dir: bool, budget: _Budget) -> None:
    """Create the folder, or copy an image member's bytes under ``root``; other files are skipped."""
    target = root.joinpath(*path.parts)
    try:
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
            return
        if source is None or not is_image_file(target):
            return  # not an image: never stored (training reads images only)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as out:
            while chunk := source.read(COPY_CHUNK):
                budget.wrote(len(chunk))
                out.write(chunk)
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        raise refuse(f"member {path} and another member are a file and a folder of the same name") from exc
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise refuse(f"member {str(path)[:80]}... has a path too long for a file system") from exc
        raise
