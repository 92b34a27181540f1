"""Archive checks that need no HTTP round trip: bombs, member caps, duplicates, clean-up."""

from __future__ import annotations

import io
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from domain.datasets.archives import extract_archive
from domain.errors import InvalidRequest


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def refused(path: Path, work_dir: Path, **kw) -> str:
    with pytest.raises(InvalidRequest) as caught:
        extract_archive(path, work_dir, max_total_bytes=kw.pop("max_total_bytes", 1 << 30), **kw)
    assert caught.value.code == "invalid_archive" and caught.value.location == ("file",)
    assert list(work_dir.iterdir()) == []  # nothing half-extracted
    return caught.value.message


def test_extracts_regular_files(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "a.zip", {"train/a/1.png": b"1", "./val/a/2.png": b"2", "train/": b""})
    root = extract_archive(archive, tmp_path / "work", max_total_bytes=100)
    assert (root / "train/a/1.png").read_bytes() == b"1" and (root / "val/a/2.png").read_bytes() == b"2"


def test_compression_bomb(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "bomb.zip", {"train/a/zeros.png": bytes(12 << 20)})
    (tmp_path / "work").mkdir()
    assert "fold" in refused(archive, tmp_path / "work")


def test_total_size_cap(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "big.zip", {"a.png": b"x" * 1000})
    (tmp_path / "work").mkdir()
    assert "at most 999 are allowed" in refused(archive, tmp_path / "work", max_total_bytes=999)


def test_member_cap_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    many = write_zip(tmp_path / "many.zip", {f"f{i}.png": b"x" for i in range(5)})
    assert "at most 4" in refused(many, tmp_path / "work", max_members=4)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a/x.png", b"1")
        with pytest.warns(UserWarning):
            archive.writestr("a/x.png", b"2")
    (tmp_path / "dup.zip").write_bytes(buffer.getvalue())
    assert "twice" in refused(tmp_path / "dup.zip", tmp_path / "work")


def test_backslash_names(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    archive = write_zip(tmp_path / "win.zip", {"..\\..\\evil.png": b"x"})
    assert "backslash" in refused(archive, tmp_path / "work")


class _CountingDecompressor:
    """A zlib decompressor that adds the bytes it produces to ``produced``."""

    def __init__(self, inner, produced: list[int]) -> None:
        self._inner, self._produced = inner, produced

    def decompress(self, data, *args):
        out = self._inner.decompress(data, *args)
        self._produced.append(len(out))
        return out

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _gzip_bomb(path: Path, member_bytes: int) -> Path:
    """A .tar.gz holding one image-named member of ``member_bytes`` zeros (over 100:1)."""
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        info = tarfile.TarInfo("train/a/zeros.png")
        info.size = member_bytes
        archive.addfile(info, io.BufferedReader(_Zeros(member_bytes)))
    return path


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def test_a_compressed_bomb_is_refused_at_its_header_not_after_decompressing_it(tmp_path, monkeypatch) -> None:
    member_bytes = 256 << 20
    archive = _gzip_bomb(tmp_path / "bomb.tar.gz", member_bytes)
    assert archive.stat().st_size < member_bytes // 100  # about a MiB that expands over 100-fold
    produced: list[int] = []
    real = zlib.decompressobj
    monkeypatch.setattr(zlib, "decompressobj", lambda *a, **kw: _CountingDecompressor(real(*a, **kw), produced))
    (tmp_path / "work").mkdir()
    message = refused(archive, tmp_path / "work", max_total_bytes=1 << 20)
    assert "zeros.png" in message and "at most 1048576" in message
    assert sum(produced) < member_bytes // 8  # refused from the header: most of the zeros never decompressed


def test_members_that_are_not_images_are_not_stored(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "a.zip", {"train/a/1.png": b"1", "train/a/notes.txt": b"x", "run.sh": b"rm"})
    root = extract_archive(archive, tmp_path / "work", max_total_bytes=100)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == ["train/a/1.png"]


def test_an_archive_that_takes_too_long_is_refused(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "a.zip", {"train/a/1.png": b"1"})
    (tmp_path / "work").mkdir()
    assert "took too long" in refused(archive, tmp_path / "work", time_limit_s=0.0)


@pytest.mark.parametrize("mode", ["w:bz2", "w:xz", "w"])
def test_every_accepted_compression_extracts(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "a.tar"
    with tarfile.open(path, mode) as archive:
        info = tarfile.TarInfo("val/b/2.png")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"abc"))
    root = extract_archive(path, tmp_path / "work", max_total_bytes=100)
    assert (root / "val/b/2.png").read_bytes() == b"abc"
