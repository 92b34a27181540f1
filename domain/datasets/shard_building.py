"""A parsed layout's images into shards: each read once, checked, measured, written and stored.

One pass per split over the samples in a shuffled order (a fixed seed: the same source gives the
same shards), since the trainer reads a few shards at a time and shards written class by class
would give batches of few classes. Each image is read from the source (many at once,
``source_files.read_in_order``), its header checked against the pixel cap as every decoder
checks it (``sdd_core.data.image_bytes``), cropped to its box where the registration asked
(``crop_to_boxes``: re-encoded, JPEG at quality 95 or PNG), and handed to the shard writer
(``sdd_core.data.shard_writer``) as the bytes it came with, which stores each shard as it closes
(``stored_shards.ShardUploader``). On the way, the training images of the statistics sample are
decoded and measured (``image_facts``) and a few of each class kept for the sample grid.

A file that cannot be used (unreadable, not an image, too large, a decoding error where it was
decoded) is a bad file: left out, named with its reason. A class left without a training image,
or a split left empty, fails the ingestion naming it.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

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
from domain.datasets.sample_grid import SampleGrid
from domain.datasets.source_files import SourceFiles, read_in_order
from domain.datasets.source_listing import BadFile, Box, ParsedLayout, SourceSample
from domain.datasets.stored_shards import ShardUploader
from sdd_core.data.image_bytes import image_size_of, rgb_image
from sdd_core.data.shard_index import SplitShards
from sdd_core.data.shard_writer import SHUFFLE_SEED, ShardSample, write_split_shards
from sdd_core.data.statistics import Triple
from sdd_core.data.transforms import PipelineKind
from sdd_core.errors import DataError

BAD_FILES_KEPT = 100  # the first ones are listed; all are counted
CROP_JPEG_QUALITY = 95
PROBE_TRIES = 16  # images tried in turn for one probe of the size (an unusable one replaced by the next)


@dataclass
class BadFiles:
    """The first ``BAD_FILES_KEPT`` bad files, and how many there were in all."""

    first: list[BadFile] = field(default_factory=list)
    count: int = 0

    def add(self, bad: BadFile) -> None:
        self.count += 1
        if len(self.first) < BAD_FILES_KEPT:
            self.first.append(bad)


@dataclass(frozen=True)
class BuiltShards:
    """Both splits' shards (keyed by their file names) and what the pass learnt."""

    train: SplitShards
    val: SplitShards
    pipeline: PipelineKind
    image_size: int
    mean: Triple
    std: Triple
    image_sizes: dict[str, list[int]]
    measured_images: int
    bad_files: BadFiles
    grid_png: bytes


@dataclass(frozen=True)
class PreparedImage:
    """An image as it goes into a shard: its bytes, extension and size."""

    data: bytes
    extension: str
    width: int
    height: int


def build_shards(
    files: SourceFiles,
    parsed: ParsedLayout,
    uploader: ShardUploader,
    work_dir: Path,
    *,
    max_bytes: int,
    report: IngestionReport,
) -> BuiltShards:
    """Write ``parsed``'s samples as stored shards (see the module docstring)."""
    train = [sample for sample in parsed.samples if sample.split == "train"]
    val = [sample for sample in parsed.samples if sample.split == "val"]
    bad = BadFiles()
    for known in parsed.bad_files:
        bad.add(known)
    kind, size = pipeline_and_size(_probe(files, train))
    measured = {train[i].path for i in evenly_spaced_indices(len(train), STATISTICS_SAMPLE_LIMIT)}
    pass_ = _Pass(files, ChannelMoments(kind, size), SampleGrid(parsed.classes), measured, bad, report)
    report.stage("writing", len(parsed.samples), f"writing {len(parsed.samples)} images into shards")
    splits: dict[str, SplitShards] = {}
    for split, samples in (("train", train), ("val", val)):
        order = list(samples)
        random.Random(SHUFFLE_SEED).shuffle(order)
        splits[split] = write_split_shards(
            pass_.images(order), work_dir, split=split, num_classes=len(parsed.classes), max_bytes=max_bytes,
            on_shard=uploader,
        )  # fmt: skip
    _require_usable(parsed.classes, splits["train"], splits["val"], bad)
    mean, std = pass_.moments.mean_std()
    return BuiltShards(
        train=splits["train"],
        val=splits["val"],
        pipeline=kind,
        image_size=size,
        mean=mean,
        std=std,
        image_sizes=size_summary(pass_.sizes),
        measured_images=pass_.moments.images,
        bad_files=bad,
        grid_png=pass_.grid.png(),
    )


class _Pass:
    """The state of the pass over the images: statistics, grid, sizes, bad files, progress."""

    def __init__(
        self,
        files: SourceFiles,
        moments: ChannelMoments,
        grid: SampleGrid,
        measured: set[str],
        bad: BadFiles,
        report: IngestionReport,
    ) -> None:
        self.files, self.moments, self.grid, self.measured = files, moments, grid, measured
        self.bad, self.report = bad, report
        self.sizes: list[tuple[int, int]] = []
        self.done = 0

    def images(self, samples: list[SourceSample]) -> Iterator[ShardSample]:
        """The usable images of ``samples``, in order, as the shard writer takes them."""
        for sample, data in read_in_order(samples, lambda s: self.files.read(s.path)):
            self.done += 1
            self.report.advance(self.done)
            if isinstance(data, OSError):
                self.bad.add(BadFile(sample.path, f"cannot be read: {data}"))
                continue
            try:
                image = prepare(sample, data)
                self._look_at(sample, image)
            except DataError as exc:
                self.bad.add(BadFile(sample.path, exc.message))
                continue
            self.sizes.append((image.width, image.height))
            yield ShardSample(image.data, image.extension, sample.label)

    def _look_at(self, sample: SourceSample, image: PreparedImage) -> None:
        """Decode a training image the statistics sample or the grid wants."""
        if sample.split != "train":
            return
        measure = sample.path in self.measured and self.moments.wants(image.width, image.height)
        if measure or self.grid.wants(sample.label):
            decoded = rgb_image(image.data, sample.path)
            if measure:
                self.moments.add(decoded)
            if self.grid.wants(sample.label):
                self.grid.add(sample.label, decoded)


def prepare(sample: SourceSample, data: bytes) -> PreparedImage:
    """The image as it is stored: its header checked (``DataError`` naming the path), cropped to
    its box when it has one."""
    extension = PurePosixPath(sample.path).suffix.lower().lstrip(".")
    width, height = image_size_of(data, sample.path)
    if sample.box is None:
        return PreparedImage(data, extension, width, height)
    return _cropped(data, extension, sample.box, sample.path)


def _cropped(data: bytes, extension: str, box: Box, where: str) -> PreparedImage:
    image = rgb_image(data, where)
    x, y, box_width, box_height = box
    left, top = max(0, math.floor(x)), max(0, math.floor(y))
    right, bottom = min(image.width, math.ceil(x + box_width)), min(image.height, math.ceil(y + box_height))
    if right <= left or bottom <= top:
        raise DataError(
            f"the bounding box of {where} ({x:g}, {y:g}, {box_width:g}, {box_height:g}) lies outside the image"
        )
    crop = image.crop((left, top, right, bottom))
    out = io.BytesIO()
    if extension in ("jpg", "jpeg"):
        crop.save(out, format="JPEG", quality=CROP_JPEG_QUALITY)
        extension = "jpg"
    else:
        crop.save(out, format="PNG")
        extension = "png"
    return PreparedImage(out.getvalue(), extension, crop.width, crop.height)


def _probe(files: SourceFiles, train: list[SourceSample]) -> list[tuple[int, int]]:
    """Sizes of ``SIZE_PROBE_IMAGES`` usable training images spread over the split (an unusable
    one replaced by the next)."""
    sizes: list[tuple[int, int]] = []
    first_failure = ""
    for start in evenly_spaced_indices(len(train), SIZE_PROBE_IMAGES):
        for sample in train[start : start + PROBE_TRIES]:
            try:
                image = prepare(sample, files.read(sample.path))
            except (OSError, DataError) as exc:
                first_failure = first_failure or f"{sample.path}: {getattr(exc, 'message', exc)}"
                continue
            sizes.append((image.width, image.height))
            break
    if not sizes:
        raise IngestionError(f"no training image can be read (the first: {first_failure})", code="no_images")
    return sizes


def _require_usable(classes: tuple[str, ...], train: SplitShards, val: SplitShards, bad: BadFiles) -> None:
    """``empty_class`` for a class left without training images, ``no_images`` for an empty val split."""
    empty = [classes[label] for label, count in enumerate(train.class_counts) if count == 0]
    if empty:
        raise IngestionError(
            f"class {empty[0]!r} has no usable training image"
            + (f" (nor do {len(empty) - 1} other classes)" if len(empty) > 1 else "")
            + f"; {bad.count} bad file(s) were left out",
            code="empty_class",
        )
    if val.samples == 0:
        raise IngestionError(f"the val split has no usable image; {bad.count} bad file(s) were left out",
                             code="no_images")  # fmt: skip
