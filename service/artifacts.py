"""Artifact storage: checkpoints, students, model cards, metrics, curve plots, uploaded datasets and teacher weights.

One interface (:class:`ArtifactStore`), two stores behind it, chosen by the settings
(:func:`get_artifact_store`):

* :class:`LocalArtifactStore`, the embedded default: files under ``SDD_ARTIFACT_DIR``, read in place;
* ``service.s3_store.S3ArtifactStore`` when ``SDD_ARTIFACT_URL=s3://bucket/prefix``: objects in an
  S3-compatible store, for nodes that share no disk. What a job reads is fetched into the node's
  cache (``service.artifact_cache``), checked against the SHA-256 its row records. It is imported
  only then, so the embedded default never loads boto3.

Callers never need a store's own paths: writes go through ``put_*`` (each returns the size and
SHA-256 the caller records in SQL), downloads through ``open`` (a stream) or ``download_url`` (a
presigned URL, when the store gives them), and what a job reads through ``fetch`` (a local file)
and ``fetch_unpacked`` (a local folder), valid until the store is ``close``-d. Keys are built from
ids only (see the ``*_key`` builders) and checked against a strict pattern, so a key can never
leave the store's root.

Every write is atomic: data goes to a temp file in the destination folder, is fsynced, then
``os.replace``-d onto the key (an object store's PUT and multipart upload are atomic themselves).
A reader sees the old object or the new one, never a partial file.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from service.settings import Settings, get_settings

CHUNK_SIZE = 1 << 20
TEMP_PREFIX = ".tmp-"  # never a valid key, so temp files are never mistaken for objects

# Segments of [a-z0-9_] separated by "/"; the last segment (a file name) may also hold "." and "-".
_KEY_RE = re.compile(r"[a-z0-9_]+(/[a-z0-9_]+)*(/[a-z0-9_][a-z0-9_.\-]*)?")


class InvalidKey(ValueError):
    """A key that does not match the key pattern (e.g. ``../x``, ``/abs``, ``Foo Bar``)."""


class ChecksumMismatch(OSError):
    """A stored object's bytes do not match the SHA-256 recorded for them; nothing was kept."""

    def __init__(self, key: str, expected: str, actual: str) -> None:
        super().__init__(f"{key}: SHA-256 {actual[:12]}… does not match the recorded {expected[:12]}…")
        self.key = key
        self.expected = expected
        self.actual = actual


class TooLarge(Exception):
    """A stream went past its byte limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    sha256: str


def validate_key(key: str) -> str:
    """Return ``key`` if it is a well-formed artifact key, else raise :class:`InvalidKey`."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key) or ".." in key:
        raise InvalidKey(f"invalid artifact key {key!r}: use [a-z0-9_] segments separated by '/'")
    return key


# ---------------------------------------------------------------- key builders (ids only)


def job_prefix(job_id: str) -> str:
    """Everything stored for one job lives under this prefix."""
    return validate_key(f"jobs/{job_id}")


def job_checkpoint_key(job_id: str, epoch: int) -> str:
    return validate_key(f"jobs/{job_id}/checkpoints/epoch_{int(epoch):04d}.pt")


def job_stop_checkpoint_key(job_id: str, epoch: int) -> str:
    """The checkpoint written inside ``epoch`` when a worker stopped (one per job is kept)."""
    return validate_key(f"jobs/{job_id}/checkpoints/epoch_{int(epoch):04d}_stop.pt")


STUDENT_EXPORT_KINDS = {"onnx": "student_onnx", "torchscript": "student_torchscript"}
"""The Artifact kind of each format a student is exported in besides safetensors."""
_EXPORT_SUFFIXES = {"onnx": "onnx", "torchscript": "pt"}


def job_student_key(job_id: str, fmt: str = "safetensors") -> str:
    """The job's student: ``student.safetensors``, ``student.onnx`` or ``student.pt`` (TorchScript)."""
    if fmt == "safetensors":
        return validate_key(f"jobs/{job_id}/student.safetensors")
    if fmt not in _EXPORT_SUFFIXES:
        raise InvalidKey(f"invalid student format {fmt!r}: use 'safetensors', 'onnx' or 'torchscript'")
    return validate_key(f"jobs/{job_id}/student.{_EXPORT_SUFFIXES[fmt]}")


def job_card_key(job_id: str) -> str:
    return validate_key(f"jobs/{job_id}/card.json")


def job_metrics_key(job_id: str) -> str:
    return validate_key(f"jobs/{job_id}/metrics.jsonl")


PLOT_KINDS = {"png": "plot_png", "svg": "plot_svg"}  # the Artifact kind of each curve-plot format


def job_plot_key(job_id: str, fmt: str) -> str:
    """The job's training curves drawn by ``service.plots`` (``fmt`` "png" or "svg")."""
    if fmt not in ("png", "svg"):
        raise InvalidKey(f"invalid plot format {fmt!r}: use 'png' or 'svg'")
    return validate_key(f"jobs/{job_id}/plots/curves.{fmt}")


def dataset_key(dataset_id: str) -> str:
    """An uploaded dataset (``put_unpacked``): the folder holding the extracted ``train/`` and ``val/``
    class folders in the local store, the uploaded archive in an object store."""
    return validate_key(f"datasets/{dataset_id}")


def model_weights_key(model_id: str) -> str:
    return validate_key(f"models/{model_id}/weights.safetensors")


# ---------------------------------------------------------------- helpers


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


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


# ---------------------------------------------------------------- the interface


class ArtifactStore(Protocol):
    """What every caller may ask of a store, local or remote."""

    def put_file(self, key: str, src: Path) -> StoredObject: ...
    def put_bytes(self, key: str, data: bytes) -> StoredObject: ...
    def put_stream(self, key: str, fileobj: BinaryIO, max_bytes: int | None = None) -> StoredObject: ...
    def put_unpacked(self, key: str, archive: Path, folder: Path, *, move: bool = False) -> StoredObject:
        """Store an uploaded ``archive`` already checked and unpacked into ``folder``: the local
        store keeps the folder (read in place), an object store keeps the archive as one object
        (its SHA-256 is the upload's) that each node unpacks once into its cache."""
        ...

    def exists(self, key: str) -> bool: ...
    def open(self, key: str) -> BinaryIO:
        """A stream of the stored bytes; ``FileNotFoundError`` if absent."""
        ...

    def download_url(self, key: str, *, filename: str | None, media_type: str) -> str | None:
        """A short-lived URL a client can download ``key`` from directly, or None to stream it."""
        ...

    def fetch(self, key: str, sha256: str | None) -> Path:
        """A local file with the object's bytes, checked against ``sha256`` where it is copied
        (``ChecksumMismatch``); ``FileNotFoundError`` if absent."""
        ...

    def fetch_unpacked(self, key: str, sha256: str | None, unpack: Unpack) -> Path:
        """The local folder of what ``put_unpacked`` stored; ``unpack(archive, dest)`` makes it from
        the archive where the store keeps archives."""
        ...

    def delete(self, key: str) -> bool: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def close(self) -> None:
        """Let go of what ``fetch`` handed out (an object store's cache may then evict it)."""
        ...


Unpack = Callable[[Path, Path], None]  # (archive file, folder to create) -> None


class LocalArtifactStore:
    """Artifacts as files under ``root``; a key is a relative path."""

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


def get_artifact_store(settings: Settings | None = None) -> ArtifactStore:
    """The store the settings name: S3 for ``SDD_ARTIFACT_URL=s3://…``, else files at ``SDD_ARTIFACT_DIR``.

    Each call returns a new store object (cheap: an S3 store shares its process's client), so
    whoever fetches through it can ``close`` it without touching another caller's fetches.
    """
    settings = settings or get_settings()
    if settings.artifact_url is not None:
        # Imported here, not at the top: boto3 is loaded only by processes configured for S3.
        from service.s3_store import s3_store_from_settings

        return s3_store_from_settings(settings)
    assert settings.artifact_dir is not None
    return LocalArtifactStore(settings.artifact_dir)
