"""Archive checks that need no HTTP round trip: bombs, member caps, duplicates, clean-up."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from domain.archives import extract_archive
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
