"""The layouts datasets are distributed in, told apart from a listing and parsed into samples.

A source is a listing of relative file paths (``source_listing.Listing``) and a way to read the
small text files some layouts describe their images with. Four layouts are known:

* ``imagefolder`` — ``train/<class>/…/<image>`` and ``val/<class>/…/<image>``; class names from
  ``train/``'s folders, sorted (``sdd_core.data.image_folder_layout``'s rule); val may lack a
  class, not add one;
* ``cub200`` — CUB-200-2011 as distributed (``cub200_layout``);
* ``imagenet`` — ILSVRC-2012 as distributed (``imagenet_layout``);
* ``shards`` — WebDataset tars already: ``train/*.tar``, ``val/*.tar`` and ``classes.txt`` (one
  class name a line, in class-index order), indexed as they are (``registered_shards``).

Each may sit below a folder (``CUB_200_2011/``, ``ILSVRC/Data/CLS-LOC/``): the shallowest folder
holding the layout's marks is its root. ``detect_layout`` names the layout a listing holds when a
registration leaves it out; ``parse_layout`` turns a listing into classes and ``(split, label,
path)`` samples, or an ``IngestionError`` naming what is missing (a file, a split, a class's
images). Files a layout names but cannot use (listed in ``images.txt`` but absent, a flat val
image without a label) are bad files, not refusals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from domain.datasets.cub200_layout import is_cub200, parse_cub200
from domain.datasets.imagenet_layout import is_imagenet, parse_imagenet
from domain.datasets.ingestion_errors import IngestionError
from domain.datasets.source_listing import (
    Listing,
    ParsedLayout,
    SourceSample,
    folder_of,
    images_by_class,
    is_direct_child,
    require_images,
    split_roots,
)

LAYOUTS = ("imagefolder", "cub200", "imagenet", "shards")
SHARD_CLASSES = "classes.txt"


@dataclass(frozen=True)
class ShardFiles:
    """The ``shards`` layout: class names and each split's tar files, in name order."""

    root: str
    classes: tuple[str, ...]
    train: tuple[str, ...]
    val: tuple[str, ...]


def detect_layout(listing: Listing) -> str:
    """The layout the listing holds (the first of shards, cub200, imagenet, imagefolder whose
    marks it has); ``unknown_layout`` when none."""
    if _shard_root(listing) is not None:
        return "shards"
    if is_cub200(listing):
        return "cub200"
    if is_imagenet(listing):
        return "imagenet"
    if split_roots(listing, "train"):
        return "imagefolder"
    raise IngestionError(
        f"{listing.description} holds no layout this service reads: expected train/<class>/<image> and "
        "val/<class>/<image> (imagefolder), images.txt, image_class_labels.txt, train_test_split.txt and "
        "classes.txt beside images/ (cub200), train/<wnid>/<image> and val/ (imagenet), or train/*.tar, "
        "val/*.tar and classes.txt (shards)",
        code="unknown_layout",
    )


def parse_layout(listing: Listing, layout: str, *, crop_to_boxes: bool = False) -> ParsedLayout:
    """The classes and samples of an image layout (``imagefolder``, ``cub200``, ``imagenet``)."""
    if layout not in LAYOUTS:
        raise IngestionError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}", code="unknown_layout")
    if crop_to_boxes and layout != "cub200":
        raise IngestionError(f"crop_to_boxes applies to the cub200 layout, not {layout}", code="layout_mismatch")
    if layout == "cub200":
        return parse_cub200(listing, crop_to_boxes)
    if layout == "imagenet":
        return parse_imagenet(listing)
    if layout == "imagefolder":
        return _image_folder(listing)
    raise ValueError("the shards layout is indexed, not parsed into images: parse_shard_files")


def _image_folder(listing: Listing) -> ParsedLayout:
    roots = split_roots(listing, "train")
    if not roots:
        raise IngestionError(
            f"{listing.description} has no train/<class>/<image> (the imagefolder layout: train/<class>/ and "
            "val/<class>/ folders of images)",
            code="layout_mismatch",
        )
    root = roots[0]
    train = images_by_class(listing, f"{root}train/")
    classes = list(train)
    require_images(train, f"{root}train/")
    val = images_by_class(listing, f"{root}val/")
    if not any(val.values()):
        raise IngestionError(
            f"{listing.description} has no {root}val/<class>/<image>: the imagefolder layout needs a val split",
            code="layout_mismatch",
        )
    unknown = sorted(set(val) - set(classes))
    if unknown:
        raise IngestionError(
            f"{root}val/ has class folders that {root}train/ lacks: {', '.join(unknown[:10])} "
            "(every validation class must also be a training class)",
            code="layout_mismatch",
        )
    samples = [SourceSample("train", label, path) for label, name in enumerate(classes) for path in train[name]]
    samples += [SourceSample("val", label, path) for label, name in enumerate(classes) for path in val.get(name, [])]
    return ParsedLayout("imagefolder", root, tuple(classes), tuple(samples))


def _shard_root(listing: Listing) -> str | None:
    """The shallowest folder holding ``classes.txt`` beside ``train/*.tar``, or None."""
    candidates = sorted((p for p in listing.sizes if PurePosixPath(p).name == SHARD_CLASSES), key=len)
    for root in map(folder_of, candidates):
        if any(is_direct_child(path, f"{root}train/") and path.endswith(".tar") for path in listing.sizes):
            return root
    return None


def parse_shard_files(listing: Listing) -> ShardFiles:
    """The ``shards`` layout's classes and tar files; ``IngestionError`` naming what is missing."""
    root = _shard_root(listing)
    if root is None:
        raise IngestionError(
            f"{listing.description} is not a shards layout: expected {SHARD_CLASSES} beside train/*.tar and val/*.tar",
            code="layout_mismatch",
        )
    classes = tuple(line.strip() for line in listing.text(f"{root}{SHARD_CLASSES}").splitlines() if line.strip())
    if not classes:
        raise IngestionError(f"{root}{SHARD_CLASSES} names no class", code="layout_mismatch")
    twice = sorted({name for name in classes if classes.count(name) > 1})
    if twice:
        raise IngestionError(f"{root}{SHARD_CLASSES} names class {twice[0]!r} twice", code="layout_mismatch")
    train, val = (
        tuple(sorted(p for p in listing.sizes if is_direct_child(p, f"{root}{split}/") and p.endswith(".tar")))
        for split in ("train", "val")
    )
    if not val:
        raise IngestionError(f"{listing.description} has no {root}val/*.tar: the shards layout needs a val split",
                             code="layout_mismatch")  # fmt: skip
    return ShardFiles(root, classes, train, val)
