"""Writing one split of a dataset as WebDataset tar shards, and an image folder as a sharded dataset.

``write_split_shards`` takes the split's samples (image bytes as they came, their extension,
their class index) in the order they should be stored and writes tar shards of at most
``max_bytes`` each with ``webdataset``'s ``TarWriter``: sample ``n`` of the split is the members
``<n:08d>.cls`` (the class index, decimal text) and ``<n:08d>.<ext>`` (the bytes). A shard is
closed before a sample would take it past ``max_bytes`` (a tar's size is known exactly: 512-byte
headers, data padded to 512 bytes, two zero blocks, the whole padded to 10 KiB); a sample larger
than ``max_bytes`` alone gets a shard of its own. Tar headers carry a fixed time, owner and mode,
so the same samples give the same bytes, and a re-ingestion the same SHA-256s and index digest.

Samples should come shuffled: the trainer reads a few shards at a time (``shard_order``), so a
split written class by class would give batches of a few classes. ``shard_image_folder`` shuffles
an image folder's splits with a fixed seed, writes them and their ``index.json`` (for ``sdd train``
and tests; the service's ingestion writes its own index from what it listed).
"""

from __future__ import annotations

import hashlib
import random
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from webdataset import TarWriter  # type: ignore[import-untyped]  # .pyi files without py.typed

from sdd_core.data.image_decoding import image_dimensions
from sdd_core.data.image_files import IMAGE_EXTENSIONS
from sdd_core.data.image_folder import describe_image_folder, image_folder_pipeline
from sdd_core.data.image_folder_layout import Sample, scan_image_folder
from sdd_core.data.shard_index import LABEL_EXTENSION, ShardIndex, ShardRef, SplitShards, pack_labels
from sdd_core.data.shards import INDEX_FILE

KEY_DIGITS = 8
"""Sample keys are the sample's number in its split, zero-padded: sortable, unique, no dots."""
DEFAULT_SHARD_BYTES = 64 << 20
SHUFFLE_SEED = 0

_BLOCK = 512
_RECORD = 20 * _BLOCK  # tarfile pads a closed archive to a multiple of its record size
_TAR_TIME = 0  # every header's mtime: the bytes do not depend on when they were written
_IMAGE_EXTENSIONS = frozenset(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class ShardSample:
    """One image to store: its bytes as they came, their extension (``jpg``, ``png``, ...), its class."""

    data: bytes
    extension: str
    label: int


def member_bytes(size: int) -> int:
    """Bytes one tar member of ``size`` data bytes takes: its header and its data padded to a block."""
    return _BLOCK + -(-size // _BLOCK) * _BLOCK


def tar_bytes(members: int) -> int:
    """Bytes of a closed tar whose members take ``members`` bytes: two zero blocks, padded to a record."""
    return -(-(members + 2 * _BLOCK) // _RECORD) * _RECORD


class _HashingFile:
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.sha256, self.size = handle, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


def write_split_shards(
    samples: Iterable[ShardSample],
    folder: Path,
    *,
    split: str,
    num_classes: int,
    max_bytes: int = DEFAULT_SHARD_BYTES,
    on_shard: Callable[[Path, ShardRef], None] | None = None,
) -> SplitShards:
    """Write ``samples`` as ``folder/<split>-<i:06d>.tar`` shards; their refs (key: the file name)
    in order and the split's count per class.

    ``on_shard(path, ref)`` is called as each shard is closed (to upload it and free the disk, say).
    ValueError for a label outside ``[0, num_classes)`` or an extension that is not an image's.
    """
    folder.mkdir(parents=True, exist_ok=True)
    refs: list[ShardRef] = []
    counts = [0] * num_classes
    shard: _OpenShard | None = None
    for number, sample in enumerate(samples):
        extension = _checked(sample, num_classes)
        label_text = str(sample.label).encode()
        size = member_bytes(len(label_text)) + member_bytes(len(sample.data))
        if shard is not None and shard.samples and tar_bytes(shard.members + size) > max_bytes:
            refs.append(shard.close(on_shard))
            shard = None
        if shard is None:
            shard = _OpenShard(folder / f"{split}-{len(refs):06d}.tar")
        shard.write(f"{number:0{KEY_DIGITS}d}", extension, sample.data, label_text, size, sample.label)
        counts[sample.label] += 1
    if shard is not None:
        refs.append(shard.close(on_shard))
    return SplitShards(shards=tuple(refs), class_counts=tuple(counts))


class _OpenShard:
    """The shard being written: its file, its tar writer, its members' bytes so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle = open(path, "wb")  # noqa: SIM115 (closed by close())
        self.file = _HashingFile(self.handle)
        self.tar = TarWriter(self.file, encoder=False, mtime=_TAR_TIME, user="", group="", mode=0o444)
        self.members, self.samples = 0, 0
        self.labels: list[int] = []

    def write(self, key: str, extension: str, data: bytes, label_text: bytes, size: int, label: int) -> None:
        self.tar.write({"__key__": key, extension: data, LABEL_EXTENSION: label_text})
        self.members += size
        self.samples += 1
        self.labels.append(label)

    def close(self, on_shard: Callable[[Path, ShardRef], None] | None) -> ShardRef:
        self.tar.close()
        self.handle.close()
        expected = tar_bytes(self.members)
        if self.file.size != expected:  # the size rule above would no longer hold
            raise RuntimeError(f"{self.path.name}: wrote {self.file.size} bytes, expected {expected}")
        ref = ShardRef(
            self.path.name, self.file.sha256.hexdigest(), self.file.size, self.samples, pack_labels(self.labels)
        )
        if on_shard is not None:
            on_shard(self.path, ref)
        return ref


def _checked(sample: ShardSample, num_classes: int) -> str:
    extension = sample.extension.lower().lstrip(".")
    if extension not in _IMAGE_EXTENSIONS:
        raise ValueError(f"{sample.extension!r} is not an image extension ({', '.join(sorted(_IMAGE_EXTENSIONS))})")
    if isinstance(sample.label, bool) or not 0 <= sample.label < num_classes:
        raise ValueError(f"label {sample.label!r} is outside [0, {num_classes})")
    return extension


def write_index(index: ShardIndex, folder: Path) -> Path:
    """``folder/index.json``: the index's canonical JSON, so the file's SHA-256 is ``index.digest()``."""
    path = folder / INDEX_FILE
    path.write_bytes(index.to_json())
    return path


def shard_image_folder(
    root: Path,
    out: Path,
    *,
    name: str | None = None,
    max_bytes: int = DEFAULT_SHARD_BYTES,
    shuffle_seed: int | None = SHUFFLE_SEED,
) -> ShardIndex:
    """The image folder at ``root`` (``train/<class>/``, ``val/<class>/``) as shards and
    ``index.json`` in ``out``; its pipeline, working size and statistics are the folder's own
    (``image_folder``), so both give the same tensors. ``shuffle_seed`` None keeps the folder's order."""
    layout = scan_image_folder(root)
    info = describe_image_folder(name or root.name, root)
    splits = {}
    for split, samples in (("train", layout.train_samples), ("val", layout.val_samples)):
        ordered = list(samples)
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(ordered)
        splits[split] = write_split_shards(
            _read_samples(ordered), out, split=split, num_classes=len(layout.classes), max_bytes=max_bytes
        )
    index = ShardIndex(
        name=name or root.name,
        classes=tuple(layout.classes),
        train=splits["train"],
        val=splits["val"],
        image_size=info.image_size,
        pipeline=image_folder_pipeline(root),
        mean=info.mean,
        std=info.std,
        image_sizes=_image_sizes([*layout.train_samples, *layout.val_samples]),
    )
    write_index(index, out)
    return index


def _read_samples(samples: list[Sample]) -> Iterator[ShardSample]:
    for path, label in samples:
        yield ShardSample(path.read_bytes(), path.suffix, label)


def _image_sizes(samples: list[Sample]) -> dict[str, list[int]]:
    """min, max and median [width, height] of the images, from their headers."""
    sizes = [image_dimensions(path) for path, _ in samples]
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    return {
        "min": [min(widths), min(heights)],
        "max": [max(widths), max(heights)],
        "median": [int(statistics.median(widths)), int(statistics.median(heights))],
    }
