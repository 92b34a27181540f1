"""The index of a dataset stored as WebDataset shards: what a trainer needs to stream it.

A dataset ingested by the service is stored as WebDataset tar shards (``webdataset``'s own
format, readable by any WebDataset tool): each sample is two tar members, ``<key>.<ext>`` (the
image's bytes as they came: ``jpg``, ``png``, ...) and ``<key>.cls`` (its class index, decimal
text). The index lists, per split, the shards in the order they were written with their SHA-256,
size and sample count; the classes and their counts; the working image size and pipeline, and the
normalisation statistics measured at ingestion. A shard's ``key`` is where it lies: relative to
the index's folder for a dataset on disk, an artifact-store key for the service's (whoever reads
the shards says how to fetch one: ``sdd_core.data.shards``). A shard this project wrote also lists
its samples' labels (``ShardRef.labels``), so a stratified held-out part is drawn without fetching
every shard first; an index without them (registered shards) still reads, and the labels then
come from the shards themselves.

The index is the dataset's identity: ``ShardIndex.digest`` (the SHA-256 of its canonical JSON)
names the data a checkpoint was trained on, wherever its shards lie.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sdd_core.data.info import Triple
from sdd_core.errors import DataError

SHARD_FORMAT = "webdataset"
INDEX_VERSION = 1
LABEL_EXTENSION = "cls"
"""The tar member holding a sample's class index: ``<key>.cls``."""


LABELS_MAX_CLASSES = 1 << 16  # labels fit the index's two bytes each


@dataclass(frozen=True)
class ShardRef:
    """One tar shard: where it lies, its bytes' SHA-256 and size, how many samples it holds, and
    (when known) its samples' labels in order, packed by ``pack_labels``."""

    key: str
    sha256: str
    size_bytes: int
    samples: int
    labels: str | None = None

    def label_list(self) -> list[int] | None:
        """The samples' labels in order, or None when the index does not list them."""
        return None if self.labels is None else unpack_labels(self.labels, self.samples)


def pack_labels(labels: list[int]) -> str | None:
    """``labels`` as base64 of little-endian uint16 (two bytes a sample); None past 65,536 classes."""
    if any(not 0 <= label < LABELS_MAX_CLASSES for label in labels):
        return None
    return base64.b64encode(b"".join(label.to_bytes(2, "little") for label in labels)).decode()


def unpack_labels(packed: str, samples: int) -> list[int]:
    """The labels ``pack_labels`` packed; ``ValueError`` unless there are ``samples`` of them."""
    raw = base64.b64decode(packed, validate=True)
    if len(raw) != 2 * samples:
        raise ValueError(f"a shard's labels hold {len(raw) // 2} samples, not {samples}")
    return [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]


@dataclass(frozen=True)
class SplitShards:
    """One split's shards, in order, and its image count per class (indexed like ``classes``)."""

    shards: tuple[ShardRef, ...]
    class_counts: tuple[int, ...]

    @property
    def samples(self) -> int:
        return sum(shard.samples for shard in self.shards)

    @property
    def size_bytes(self) -> int:
        return sum(shard.size_bytes for shard in self.shards)


@dataclass(frozen=True)
class ShardIndex:
    """A sharded dataset: classes, both splits' shards, working size, pipeline and statistics."""

    name: str
    classes: tuple[str, ...]
    train: SplitShards
    val: SplitShards
    image_size: int
    """The side of the square tensors the model sees by default (the native size of small images,
    224 for large ones, as ``sdd_core.data.image_folder`` decides for a folder)."""
    pipeline: str
    """``cifar`` (small images) or ``imagenet`` (large images): ``sdd_core.data.transforms``."""
    mean: Triple
    std: Triple
    image_sizes: dict[str, Any]
    """What ingestion saw: ``{"min": [w, h], "max": [w, h], "median": [w, h]}`` of the images."""

    def to_json(self) -> bytes:
        """The canonical JSON (sorted keys, no spaces): what ``digest`` hashes."""
        document = {
            "format": SHARD_FORMAT,
            "version": INDEX_VERSION,
            "name": self.name,
            "classes": list(self.classes),
            "image_size": self.image_size,
            "pipeline": self.pipeline,
            "mean": list(self.mean),
            "std": list(self.std),
            "image_sizes": self.image_sizes,
            "splits": {split: _split_json(getattr(self, split)) for split in ("train", "val")},
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        """The SHA-256 of the canonical JSON: the dataset's identity."""
        return hashlib.sha256(self.to_json()).hexdigest()

    @classmethod
    def from_json(cls, data: bytes) -> ShardIndex:
        """The index in ``data``; ``DataError`` naming what is wrong with it."""
        try:
            document = json.loads(data)
            if document.get("format") != SHARD_FORMAT or document.get("version") != INDEX_VERSION:
                raise ValueError(f"not a {SHARD_FORMAT} shard index of version {INDEX_VERSION}")
            classes = tuple(str(name) for name in document["classes"])
            splits = {split: _split_of(document["splits"][split], len(classes)) for split in ("train", "val")}
            mean, std = (tuple(float(v) for v in document[key]) for key in ("mean", "std"))
            if len(mean) != 3 or len(std) != 3:
                raise ValueError("mean and std must hold three channels")
            return cls(
                name=str(document["name"]),
                classes=classes,
                train=splits["train"],
                val=splits["val"],
                image_size=int(document["image_size"]),
                pipeline=str(document["pipeline"]),
                mean=(mean[0], mean[1], mean[2]),
                std=(std[0], std[1], std[2]),
                image_sizes=dict(document.get("image_sizes") or {}),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"unreadable shard index: {exc}") from exc


def _split_json(split: SplitShards) -> dict[str, Any]:
    return {
        "class_counts": list(split.class_counts),
        "shards": [
            {"key": s.key, "sha256": s.sha256, "size_bytes": s.size_bytes, "samples": s.samples}
            | ({"labels": s.labels} if s.labels is not None else {})
            for s in split.shards
        ],
    }


def _split_of(document: dict[str, Any], num_classes: int) -> SplitShards:
    shards = tuple(
        ShardRef(
            str(s["key"]), str(s["sha256"]), int(s["size_bytes"]), int(s["samples"]),
            str(s["labels"]) if s.get("labels") is not None else None,
        )
        for s in document["shards"]
    )  # fmt: skip
    for shard in shards:
        shard.label_list()  # ValueError for labels that do not match the shard's count
    counts = tuple(int(n) for n in document["class_counts"])
    if len(counts) != num_classes:
        raise ValueError(f"class_counts has {len(counts)} entries for {num_classes} classes")
    if sum(counts) != sum(shard.samples for shard in shards):
        raise ValueError("the class counts do not add up to the shards' samples")
    return SplitShards(shards=shards, class_counts=counts)
