"""The node's cache of fetched objects: filled once, least recently used evicted, pinned entries kept."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from service.artifact_cache import ArtifactCache, CachePins


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _writer(data: bytes, calls: list[str] | None = None):
    def fill(dest: Path) -> None:
        if calls is not None:
            calls.append(dest.name)
        dest.write_bytes(data)

    return fill


def _use(cache: ArtifactCache, data: bytes, calls: list[str] | None = None) -> Path:
    pins = CachePins()
    path = cache.file(_sha(data), _writer(data, calls), pins)
    pins.release()
    return path


def _age(path: Path, seconds: float) -> None:
    """Make the entry look last used ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_file_is_filled_once_and_read_only(tmp_path) -> None:
    cache = ArtifactCache(tmp_path / "cache", max_bytes=1 << 20)
    calls: list[str] = []
    first = _use(cache, b"weights", calls)
    second = _use(cache, b"weights", calls)
    assert first == second and first.read_bytes() == b"weights"
    assert len(calls) == 1
    assert first.stat().st_mode & 0o222 == 0
    assert cache.size_bytes() == len(b"weights")


def test_a_failed_fill_leaves_nothing(tmp_path) -> None:
    cache = ArtifactCache(tmp_path / "cache", max_bytes=1 << 20)

    def broken(dest: Path) -> None:
        dest.write_bytes(b"half")
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        cache.file(_sha(b"whole"), broken, CachePins())
    assert cache.entries() == [] and list((cache.root / "tmp").iterdir()) == []
    assert _use(cache, b"whole").read_bytes() == b"whole"  # the next try fills it


def test_least_recently_used_entries_go_first(tmp_path) -> None:
    cache = ArtifactCache(tmp_path / "cache", max_bytes=250)
    a, b = _use(cache, b"a" * 100), _use(cache, b"b" * 100)
    _age(a, 20)
    _age(b, 30)
    _use(cache, b"a" * 100)  # a hit makes `a` the most recently used
    _use(cache, b"c" * 100)  # 300 bytes > 250: the least recently used goes
    assert a.exists() and not b.exists()
    assert sorted(entry.size_bytes for entry in cache.entries()) == [100, 100]


def test_an_entry_in_use_is_never_evicted(tmp_path) -> None:
    cache = ArtifactCache(tmp_path / "cache", max_bytes=150)
    pins = CachePins()
    held = cache.file(_sha(b"h" * 100), _writer(b"h" * 100), pins)
    _age(held, 60)
    newer = _use(cache, b"n" * 100)  # over the bound, but the oldest entry is pinned
    assert held.exists() and newer.exists()
    pins.release()
    _use(cache, b"x" * 100)
    assert not held.exists()  # unpinned now: it went


def test_trees_count_their_files_and_are_evicted_whole(tmp_path) -> None:
    cache = ArtifactCache(tmp_path / "cache", max_bytes=1000)

    def unpack(dest: Path) -> None:
        (dest / "train" / "cat").mkdir(parents=True)
        (dest / "train" / "cat" / "0.png").write_bytes(b"p" * 300)
        (dest / "val").mkdir()
        (dest / "val" / "1.png").write_bytes(b"q" * 400)

    pins = CachePins()
    tree = cache.tree("1" * 64, unpack, pins)
    assert (tree / "train" / "cat" / "0.png").is_file()
    assert cache.size_bytes() == 700
    pins.release()
    _age(tree, 60)
    _use(cache, b"f" * 400)
    assert not tree.exists() and cache.size_bytes() == 400


def test_processes_asking_together_download_once(tmp_path) -> None:
    """Two threads stand in for two worker processes (each opens its own lock files, so flock keeps
    them apart exactly as it keeps processes apart)."""
    cache = ArtifactCache(tmp_path / "cache", max_bytes=1 << 20)
    calls: list[str] = []
    started = threading.Barrier(2)

    def slow_fill(dest: Path) -> None:
        calls.append("fill")
        time.sleep(0.3)
        dest.write_bytes(b"dataset")

    paths: list[Path] = []

    def fetch() -> None:
        started.wait()
        pins = CachePins()
        paths.append(cache.file(_sha(b"dataset"), slow_fill, pins))
        pins.release()

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == ["fill"] and paths[0] == paths[1] and paths[0].read_bytes() == b"dataset"


def test_names_must_be_sha256(tmp_path) -> None:
    cache = ArtifactCache(tmp_path / "cache", max_bytes=1)
    with pytest.raises(ValueError, match="SHA-256"):
        cache.file("../etc/passwd", _writer(b""), CachePins())
