"""WebDataset shards registered where they lie: indexed, checked, never rewritten or copied.

The ``shards`` layout (``train/*.tar``, ``val/*.tar``, ``classes.txt``) is already what training
reads, so the ingestion only indexes it: each tar is downloaded once to the worker (one at a
time), hashed (its SHA-256 is what every node checks its copy against), and its members read as
WebDataset groups them (``<key>.<ext>``, the key up to the name's first dot): each sample needs
one image and a ``.cls`` member naming a class of ``classes.txt``, and each image's header must
pass the pixel cap. A shard breaking any of this fails the ingestion naming the shard and the
sample, since a shard that is not rewritten cannot leave one out.

The index's shard keys are the shards' own ``s3://`` addresses; a worker fetches them from the
source into its node cache when a job trains (``worker.shard_fetch``). The working size and
pipeline come from images spread over the first training shard, the statistics from up to
``STATISTICS_SAMPLE_LIMIT`` training images spread over all of them.
"""

from __future__ import annotations

import itertools
import math
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from domain.datasets.image_facts import (
    SIZE_PROBE_IMAGES,
    STATISTICS_SAMPLE_LIMIT,
    ChannelMoments,
    evenly_spaced_indices,
    pipeline_and_size,
    size_summary,
)
from domain.datasets.ingestion_errors import IngestionError
from domain.datasets.ingestion_report import IngestionReport
from domain.datasets.layouts import ShardFiles
from domain.datasets.sample_grid import SampleGrid
from domain.datasets.source_files import S3Files
from domain.datasets.source_listing import is_image_path
from sdd_core.data.image_bytes import image_size_of, rgb_image
from sdd_core.data.shard_index import LABEL_EXTENSION, ShardRef, SplitShards
from sdd_core.data.statistics import Triple
from sdd_core.data.transforms import PipelineKind
from sdd_core.errors import DataError
from service.artifacts import sha256_file

_MEMBER_NAME = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")  # (key, extension), as WebDataset splits a name


@dataclass(frozen=True)
class IndexedShards:
    """Both splits' shards (keyed by their ``s3://`` addresses) and what indexing them learnt."""

    train: SplitShards
    val: SplitShards
    pipeline: PipelineKind
    image_size: int
    mean: Triple
    std: Triple
    image_sizes: dict[str, list[int]]
    measured_images: int
    grid_png: bytes


@dataclass(frozen=True)
class _Sample:
    """A sample of an open shard: its key and class, and its image's tar member."""

    key: str
    label: int
    image: tarfile.TarInfo


def index_shards(files: S3Files, layout: ShardFiles, work_dir: Path, report: IngestionReport) -> IndexedShards:
    """Index the registered shards (see the module docstring)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    indexer = _Indexer(layout.classes, math.ceil(STATISTICS_SAMPLE_LIMIT / max(len(layout.train), 1)))
    report.stage("indexing", len(layout.train) + len(layout.val),
                 f"indexing {len(layout.train)} train and {len(layout.val)} val shards")  # fmt: skip
    splits: dict[str, SplitShards] = {}
    for split, paths in (("train", layout.train), ("val", layout.val)):
        refs: list[ShardRef] = []
        counts = [0] * len(layout.classes)
        for path in paths:
            local = work_dir / "shard.tar"
            try:
                files.download(path, local)
            except OSError as exc:
                raise IngestionError(f"cannot read shard {files.location.object_uri(path)}: {exc}",
                                     code="source_unreadable") from exc  # fmt: skip
            try:
                samples = indexer.shard(local, path, split, counts)
                refs.append(
                    ShardRef(files.location.object_uri(path), sha256_file(local), local.stat().st_size, samples)
                )
            finally:
                local.unlink(missing_ok=True)
            report.advance(len(refs) + (len(layout.train) if split == "val" else 0))
        splits[split] = SplitShards(tuple(refs), tuple(counts))
    empty = [layout.classes[label] for label, n in enumerate(splits["train"].class_counts) if n == 0]
    if empty:
        raise IngestionError(f"class {empty[0]!r} of classes.txt has no sample in the train shards",
                             code="empty_class")  # fmt: skip
    moments = indexer.moments
    assert moments is not None  # set by the first training shard, which has samples
    mean, std = moments.mean_std()
    return IndexedShards(
        train=splits["train"],
        val=splits["val"],
        pipeline=moments.kind,
        image_size=moments.size,
        mean=mean,
        std=std,
        image_sizes=size_summary(indexer.sizes),
        measured_images=moments.images,
        grid_png=indexer.grid.png(),
    )


class _Indexer:
    """What indexing learns shard after shard: sizes, statistics, the sample grid."""

    def __init__(self, classes: tuple[str, ...], measured_per_shard: int) -> None:
        self.classes = classes
        self.measured_per_shard = measured_per_shard
        self.grid = SampleGrid(classes)
        self.sizes: list[tuple[int, int]] = []
        self.moments: ChannelMoments | None = None

    def shard(self, local: Path, path: str, split: str, counts: list[int]) -> int:
        """Check and learn from the shard at ``local`` (``path`` in the source); its sample count."""
        try:
            with tarfile.open(local, mode="r:") as tar:
                samples = _samples(tar, path, len(self.classes))
                if not samples:
                    raise IngestionError(f"shard {path} holds no sample", code="bad_shard")
                images = [_read(tar, sample.image) for sample in samples]  # one shard's images at a time
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise IngestionError(f"shard {path} is not a readable tar: {exc}", code="bad_shard") from exc
        wheres = [f"{path}:{sample.image.name}" for sample in samples]
        try:
            sizes = [image_size_of(image, where) for image, where in zip(images, wheres, strict=True)]
            if self.moments is None:  # the first training shard decides the pipeline and working size
                probes = evenly_spaced_indices(len(sizes), SIZE_PROBE_IMAGES)
                self.moments = ChannelMoments(*pipeline_and_size([sizes[i] for i in probes]))
            if split == "train":
                for i in evenly_spaced_indices(len(samples), self.measured_per_shard):
                    if self.moments.wants(*sizes[i]):
                        self.moments.add(rgb_image(images[i], wheres[i]))
                for sample, image, where in zip(samples, images, wheres, strict=True):
                    if self.grid.wants(sample.label):
                        self.grid.add(sample.label, rgb_image(image, where))
        except DataError as exc:
            raise IngestionError(f"shard {path}: {exc.message}", code="bad_shard") from exc
        for sample in samples:
            counts[sample.label] += 1
        self.sizes += sizes
        return len(samples)


def _samples(tar: tarfile.TarFile, path: str, num_classes: int) -> list[_Sample]:
    """The shard's samples in order, from its headers; ``bad_shard`` naming what is wrong."""
    members = [(match, info) for info in tar if info.isfile() and (match := _MEMBER_NAME.match(info.name))]
    samples: list[_Sample] = []
    for key, group in itertools.groupby(members, key=lambda item: item[0].group(1)):
        label: int | None = None
        image: tarfile.TarInfo | None = None
        for match, info in group:
            if match.group(2).lower() == LABEL_EXTENSION:
                label = _label(_read(tar, info), path, key, num_classes)
            elif image is None and is_image_path(info.name):
                image = info
        if image is None or label is None:
            missing = "an image member" if image is None else f"its .{LABEL_EXTENSION} member"
            raise IngestionError(f"shard {path}: sample {key!r} lacks {missing}", code="bad_shard")
        samples.append(_Sample(key, label, image))
    return samples


def _read(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(info)
    assert handle is not None  # a regular file
    return handle.read()


def _label(data: bytes, path: str, key: str, num_classes: int) -> int:
    try:
        label = int(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError) as exc:
        raise IngestionError(f"shard {path}: sample {key!r} has a .cls that is not a number", code="bad_shard") from exc
    if not 0 <= label < num_classes:
        raise IngestionError(
            f"shard {path}: sample {key!r} is of class {label}; classes.txt names {num_classes} (0 to {num_classes - 1})",
            code="bad_shard",
        )
    return label
