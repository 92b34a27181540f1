"""This node's copies of objects fetched from the object store, keyed by SHA-256 and bounded in size.

A worker reads what a job needs (dataset, teacher weights, the checkpoint it resumes from) from
here, so an object used by many jobs is downloaded once per node. Two kinds of entry live under
``root``:

* ``files/<sha256>``: an object's bytes, checked against their SHA-256 before they are kept;
* ``trees/<sha256>/``: a folder unpacked from the object with that SHA-256 (an uploaded dataset).

Entries are filled by a callback into a temp path and renamed into place, so a reader never sees a
partial entry, and they are read-only. Every worker process of a node shares the folder; ``flock``
locks on small files under ``locks/`` keep them apart:

* ``<entry>.fill`` (exclusive) while an entry is downloaded: a second process asking for the same
  entry waits for the first and then uses its copy instead of downloading it again;
* ``<entry>.pin`` (shared) for as long as a job uses the entry (:class:`CachePins`): eviction takes
  it exclusively without waiting, so an entry in use is never deleted from under a job;
* ``evict`` (exclusive) while the cache is trimmed.

After each new entry the least recently used unpinned entries go until the cache holds at most
``max_bytes`` (``SDD_CACHE_MAX_BYTES``). "Used" is the entry's mtime, set on every hit (atime is
not reliable on ``noatime`` mounts). Pinned entries may keep the cache above the bound until their
jobs end; it is then trimmed by the next fill.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

KINDS = ("files", "trees")
SIZE_SUFFIX = ".size"  # trees/<sha>.size: the tree's bytes, written once when it is filled
STALE_TEMP_S = 24 * 3600  # temp entries of a process that died while filling


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


@dataclass(frozen=True)
class CacheEntry:
    kind: str
    sha256: str
    path: Path
    size_bytes: int
    last_used: float


class CachePins:
    """The shared locks that keep entries in use out of eviction; ``release()`` when the job ends."""

    def __init__(self) -> None:
        self._handles: list[IO[bytes]] = []

    def add(self, handle: IO[bytes]) -> None:
        self._handles.append(handle)

    def release(self) -> None:
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.close()  # closing the file drops its flock

    def __len__(self) -> int:
        return len(self._handles)


class ArtifactCache:
    """Entries under ``root`` (see the module docstring), at most ``max_bytes`` of them unpinned."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        for folder in (*KINDS, "locks", "tmp"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------ entries

    def file(self, sha256: str, fill: Callable[[Path], None], pins: CachePins) -> Path:
        """The cached file with this SHA-256, filled once by ``fill(temp_path)`` if absent; pinned in ``pins``.

        ``fill`` writes the file at ``temp_path`` and checks its digest (raising if it differs).
        """
        return self._entry("files", sha256, fill, pins)

    def tree(self, sha256: str, fill: Callable[[Path], None], pins: CachePins) -> Path:
        """The cached folder unpacked from the object with this SHA-256; ``fill(temp_folder)``
        creates it. Pinned in ``pins``."""
        return self._entry("trees", sha256, fill, pins)

    def _entry(self, kind: str, sha256: str, fill: Callable[[Path], None], pins: CachePins) -> Path:
        if not _is_sha256(sha256):
            raise ValueError(f"not a hex SHA-256: {sha256!r}")
        path = self.root / kind / sha256
        pins.add(self._lock(f"{kind}-{sha256}.pin", fcntl.LOCK_SH))  # from here on it cannot be evicted
        if path.exists():
            self._touch(path)
            return path
        with self._lock(f"{kind}-{sha256}.fill", fcntl.LOCK_EX):
            if path.exists():  # another process filled it while we waited
                self._touch(path)
                return path
            size = self._fill(kind, path, fill)
        log.info("cache: stored %s/%s (%d bytes)", kind, sha256[:12], size)
        self.trim()
        return path

    def _fill(self, kind: str, path: Path, fill: Callable[[Path], None]) -> int:
        staging = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.root / "tmp"))
        temp = staging / "entry"
        try:
            fill(temp)
            if kind == "files":
                if not temp.is_file():
                    raise RuntimeError("the cache fill wrote no file")
                size = temp.stat().st_size
                temp.chmod(0o444)
            else:
                if not temp.is_dir():
                    raise RuntimeError("the cache fill wrote no folder")
                size = sum(p.stat().st_size for p in temp.rglob("*") if p.is_file())
                (self.root / kind / (path.name + SIZE_SUFFIX)).write_text(str(size))
            os.rename(temp, path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return size

    def _touch(self, path: Path) -> None:
        try:
            os.utime(path)
        except OSError:  # a read-only file we do not own: its use is still counted by the next fill
            pass

    def _lock(self, name: str, mode: int) -> IO[bytes]:
        handle = open(self.root / "locks" / name, "ab")
        try:
            fcntl.flock(handle, mode)
        except BaseException:
            handle.close()
            raise
        return handle

    # ------------------------------------------------------------ size and eviction

    def entries(self) -> list[CacheEntry]:
        """Every complete entry, least recently used first."""
        found: list[CacheEntry] = []
        for kind in KINDS:
            for path in (self.root / kind).iterdir():
                if not _is_sha256(path.name):
                    continue
                try:
                    last_used = path.stat().st_mtime
                    if kind == "files":
                        size = path.stat().st_size
                    else:
                        size = int((self.root / kind / (path.name + SIZE_SUFFIX)).read_text() or 0)
                except (OSError, ValueError):
                    continue  # evicted meanwhile
                found.append(CacheEntry(kind, path.name, path, size, last_used))
        return sorted(found, key=lambda entry: entry.last_used)

    def size_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self.entries())

    def trim(self) -> list[CacheEntry]:
        """Evict least recently used unpinned entries until at most ``max_bytes`` remain; the evicted."""
        evicted: list[CacheEntry] = []
        with self._lock("evict", fcntl.LOCK_EX):
            entries = self.entries()
            total = sum(entry.size_bytes for entry in entries)
            for entry in entries:
                if total <= self.max_bytes:
                    break
                if self._evict(entry):
                    total -= entry.size_bytes
                    evicted.append(entry)
            self._remove_stale_temps()
        if total > self.max_bytes:
            log.warning("cache: %d bytes in use by running jobs, above SDD_CACHE_MAX_BYTES=%d", total, self.max_bytes)
        return evicted

    def _evict(self, entry: CacheEntry) -> bool:
        handle = open(self.root / "locks" / f"{entry.kind}-{entry.sha256}.pin", "ab")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a job uses it
            if entry.kind == "files":
                entry.path.unlink(missing_ok=True)
            else:
                # Rename first, so the entry disappears at once even if removing its files takes a while.
                doomed = Path(tempfile.mkdtemp(prefix="evicted-", dir=self.root / "tmp"))
                os.rename(entry.path, doomed / "tree")
                (self.root / entry.kind / (entry.sha256 + SIZE_SUFFIX)).unlink(missing_ok=True)
                shutil.rmtree(doomed, ignore_errors=True)
            log.info("cache: evicted %s/%s (%d bytes)", entry.kind, entry.sha256[:12], entry.size_bytes)
            return True
        finally:
            handle.close()

    def _remove_stale_temps(self) -> None:
        now = time.time()
        for path in (self.root / "tmp").iterdir():
            try:
                if now - path.stat().st_mtime > STALE_TEMP_S:
                    shutil.rmtree(path, ignore_errors=True)
            except OSError:
                continue
