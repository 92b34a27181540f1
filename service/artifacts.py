"""Artifact storage: checkpoints, students, model cards, metrics, curve plots, uploaded datasets and teacher weights.

One interface (:class:`ArtifactStore`, with the keys and checks every store shares), two stores
behind it, chosen by the settings (``service.artifact_stores.get_artifact_store``):

* ``service.local_store.LocalArtifactStore``, the embedded default: files under ``SDD_ARTIFACT_DIR``, read in place;
* ``service.s3_store.S3ArtifactStore`` when ``SDD_ARTIFACT_URL=s3://bucket/prefix``: objects in an
  S3-compatible store, for nodes that share no disk. What a job reads is fetched into the node's
  cache (``service.artifact_cache``), checked against the SHA-256 its row records. It is imported
  only then, so the embedded default never loads boto3.

Callers never need a store's own paths: writes go through ``put_*`` (each returns the size and
SHA-256 the caller records in SQL), downloads through ``open`` (a stream) or ``download_url`` (a
presigned URL, when the store gives them), and what a job reads through ``fetch`` (a local file)
and ``fetch_unpacked`` (a local folder), valid until the store is ``close``-d. A large upload comes
in numbered parts (``start_multipart`` ... ``complete_multipart``): straight from the client to an
object store through presigned part URLs, or through the API into the local store. Keys are built from
ids only (see the ``*_key`` builders) and checked against a strict pattern, so a key can never
leave the store's root.

Every write is atomic: data goes to a temp file in the destination folder, is fsynced, then
``os.replace``-d onto the key (an object store's PUT and multipart upload are atomic themselves).
A reader sees the old object or the new one, never a partial file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

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


class PartMismatch(ValueError):
    """A part of a multipart upload whose size or SHA-256 is not the one announced; nothing was kept."""

    def __init__(self, number: int, what: str, expected: str, actual: str) -> None:
        super().__init__(f"part {number}: {what} is {actual}, not the {expected} announced")
        self.number = number
        self.what = what  # "size" or "sha256"
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class StoredPart:
    """A part a multipart upload has received: its number (from 1), size and ETag (an object
    store's own; the local store's is the part's SHA-256)."""

    number: int
    size_bytes: int
    etag: str


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
    """The job's training curves drawn by ``sdd_client.plots`` (``fmt`` "png" or "svg")."""
    if fmt not in ("png", "svg"):
        raise InvalidKey(f"invalid plot format {fmt!r}: use 'png' or 'svg'")
    return validate_key(f"jobs/{job_id}/plots/curves.{fmt}")


TENSORBOARD_KIND = "tensorboard"  # the Artifact kind of a job's TensorBoard event file (worker.tensorboard_events)


def job_tensorboard_key(job_id: str) -> str:
    """The job's TensorBoard event file (its metrics per epoch), named as TensorBoard looks for it."""
    return validate_key(f"jobs/{job_id}/tensorboard/events.out.tfevents.{job_id}")


def dataset_key(dataset_id: str) -> str:
    """An uploaded dataset (``put_unpacked``): the folder holding the extracted ``train/`` and ``val/``
    class folders in the local store, the uploaded archive in an object store."""
    return validate_key(f"datasets/{dataset_id}")


def dataset_upload_key(dataset_id: str, extension: str) -> str:
    """The archive of an uploaded dataset as it was received (``upload.zip``, ``upload.tar.gz``, ...),
    which the ingestion reads; ``extension`` is lowercase letters, digits and dots."""
    return validate_key(f"datasets/{dataset_id}/upload.{extension}")


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

    # Multipart uploads: a large file sent in numbered parts (from 1), assembled at ``key`` on
    # completion; until then nothing is at ``key``. An object store takes the parts straight from
    # the client (``direct_part_uploads``: ``part_upload_url``); the local store through ``put_part``.
    direct_part_uploads: bool

    def start_multipart(self, key: str, sha256: str) -> str:
        """Begin a multipart upload to ``key`` of a file whose SHA-256 is announced as ``sha256``;
        its upload id."""
        ...

    def part_upload_url(self, key: str, upload_id: str, number: int, expires_s: int) -> str | None:
        """A presigned URL a client PUTs part ``number`` to, valid ``expires_s`` seconds; None where
        parts go through :meth:`put_part`."""
        ...

    def put_part(self, key: str, upload_id: str, number: int, fileobj: BinaryIO, size: int, sha256: str) -> StoredPart:
        """Store part ``number`` read from ``fileobj``, replacing an earlier one; :class:`PartMismatch`
        (nothing kept) unless it holds exactly ``size`` bytes with SHA-256 ``sha256``."""
        ...

    def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        """The parts received so far, by number; ``FileNotFoundError`` for an unknown upload."""
        ...

    def complete_multipart(self, key: str, upload_id: str, parts: Sequence[StoredPart], sha256: str) -> StoredObject:
        """Assemble ``parts`` in order at ``key`` and end the upload. The local store checks the whole
        file against ``sha256`` (:class:`ChecksumMismatch`: nothing stored, the parts kept); an
        object store cannot, and whoever fetches the object checks it."""
        ...

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """End the upload and delete its parts (nothing if it is already gone)."""
        ...


Unpack = Callable[[Path, Path], None]  # (archive file, folder to create) -> None
