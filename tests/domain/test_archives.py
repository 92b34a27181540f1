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


def _patched(data: bytes, *, method: int | None = None, flags: int = 0) -> bytes:
    """A one-member zip whose local header and central directory entry say ``method``, with ``flags`` set."""
    out = bytearray(data)
    local, central = out.find(b"PK\x03\x04"), out.find(b"PK\x01\x02")
    if method is not None:
        out[local + 8 : local + 10] = method.to_bytes(2, "little")
        out[central + 10 : central + 12] = method.to_bytes(2, "little")
    for field in (local + 6, central + 8):  # the general purpose bit flags
        out[field : field + 2] = (int.from_bytes(out[field : field + 2], "little") | flags).to_bytes(2, "little")
    return bytes(out)


def _one_member(compression: int, data: bytes = b"\x89PNG" + bytes(range(256)) * 64) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("train/a/1.png")
        info.compress_type = compression
        archive.writestr(info, data)
    return buffer.getvalue()


def _corrupt_data(data: bytes) -> bytes:
    """The member's compressed bytes overwritten in the middle (its headers kept)."""
    out = bytearray(data)
    start = out.find(b"PK\x03\x04") + 30 + len("train/a/1.png")
    for index in range(start + 4, start + 40):
        out[index] ^= 0x5A
    return bytes(out)


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("deflate", "has corrupt compressed data"),
        ("lzma", "has corrupt compressed data"),
        ("encrypted", "is encrypted"),
        ("method99", "compression method 99"),
        ("method93", "compression method 93"),
        ("method6", "compression method 6"),
        ("empty", "empty name"),
    ],
)
def test_zip_members_that_cannot_be_read_are_refused_by_name(tmp_path: Path, case: str, says: str) -> None:
    """Each of these once answered 500 (zlib.error, LZMAError, RuntimeError, NotImplementedError, IndexError)."""
    if case == "deflate":
        data = _corrupt_data(_one_member(zipfile.ZIP_DEFLATED))
    elif case == "lzma":
        data = _corrupt_data(_one_member(zipfile.ZIP_LZMA))
    elif case == "encrypted":
        data = _patched(_one_member(zipfile.ZIP_STORED), flags=0x1)
    elif case.startswith("method"):
        data = _patched(_one_member(zipfile.ZIP_STORED), method=int(case.removeprefix("method")))
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(zipfile.ZipInfo("train/a/1.png"), b"1")
            archive.writestr(zipfile.ZipInfo(""), b"2")
        data = buffer.getvalue()
    (tmp_path / "bad.zip").write_bytes(data)
    (tmp_path / "work").mkdir()
    message = refused(tmp_path / "bad.zip", tmp_path / "work")
    assert says in message, message


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"train/a/x.png": b"1", "train/a/x.png/y.png": b"2"}, "a file and a folder of the same name"),
        ({"train/a/" + "n" * 300 + ".png": b"1"}, "over 255 bytes"),
    ],
)
def test_member_names_a_file_system_refuses_are_named_without_server_paths(tmp_path: Path, files, says) -> None:
    work = tmp_path / "work"
    work.mkdir()
    message = refused(write_zip(tmp_path / "names.zip", files), work)
    assert says in message and str(tmp_path) not in message and "extract-" not in message, message
