"""A source's listing, as the layouts read it: visible files, their sizes, and the small text files.

Also what every layout's parser shares: the sample and bad-file records, finding a layout's root
below folders, the class folders of a split and their images, and the refusals of a class
without images. Paths are relative to the source and ``/``-separated; a folder is written with
its trailing slash (``""`` for the source itself, ``CUB_200_2011/``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from domain.datasets.ingestion_errors import IngestionError
from sdd_core.data.image_files import IMAGE_EXTENSIONS

Split = Literal["train", "val"]
Box = tuple[float, float, float, float]  # x, y, width, height in pixels
ReadFile = Callable[[str], bytes]

METADATA_MAX_BYTES = 64 << 20  # a layout's text files (ImageNet's largest, LOC_val_solution.csv, is 2.5 MB)
_IGNORED = "__MACOSX"


@dataclass(frozen=True)
class SourceSample:
    """One image of a source: its split, class index and path (``box``: the crop to apply)."""

    split: Split
    label: int
    path: str
    box: Box | None = None


@dataclass(frozen=True)
class BadFile:
    """A file left out of the dataset, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ParsedLayout:
    """A layout's classes and samples (train, then val; each by class, then path)."""

    layout: str
    root: str
    classes: tuple[str, ...]
    samples: tuple[SourceSample, ...]
    bad_files: tuple[BadFile, ...] = field(default=())


class Listing:
    """The visible files of a source (hidden files and ``__MACOSX/`` left out), with their sizes."""

    def __init__(self, files: dict[str, int], read: ReadFile, description: str) -> None:
        self.sizes = {path: size for path, size in files.items() if _visible(path)}
        self.read = read
        self.description = description

    def __contains__(self, path: str) -> bool:
        return path in self.sizes

    def find(self, name: str) -> str | None:
        """The shallowest file called ``name`` (ties: the first by path), or None."""
        found = [path for path in self.sizes if PurePosixPath(path).name == name]
        return min(found, key=lambda path: (path.count("/"), path)) if found else None

    def text(self, path: str) -> str:
        """A layout's text file, read (``IngestionError`` if it is too large or cannot be read)."""
        return self.data(path).decode("utf-8-sig", errors="replace")

    def data(self, path: str) -> bytes:
        if self.sizes.get(path, 0) > METADATA_MAX_BYTES:
            raise IngestionError(
                f"{path} takes {self.sizes[path]:,} bytes; a layout's files may take {METADATA_MAX_BYTES:,}",
                code="layout_mismatch",
            )
        try:
            return self.read(path)
        except OSError as exc:
            raise IngestionError(f"cannot read {path}: {exc}", code="source_unreadable") from exc


def _visible(path: str) -> bool:
    return not any(part.startswith(".") or part == _IGNORED for part in path.split("/"))


def is_image_path(path: str) -> bool:
    """True for a file whose extension is an image's (``sdd_core.data.image_decoding``)."""
    return PurePosixPath(path).suffix.lower() in IMAGE_EXTENSIONS


def folder_of(path: str) -> str:
    """The folder a file lies in, with its trailing slash (``""`` at the top)."""
    parent = str(PurePosixPath(path).parent)
    return "" if parent == "." else f"{parent}/"


def is_direct_child(path: str, folder: str) -> bool:
    return path.startswith(folder) and "/" not in path[len(folder) :]


def split_roots(listing: Listing, split: Split) -> list[str]:
    """Folders ``R`` holding ``R<split>/<class>/…/<image>``, shallowest first."""
    roots: set[str] = set()
    for path in listing.sizes:
        if is_image_path(path):
            parts = path.split("/")
            roots.update("".join(f"{p}/" for p in parts[:i]) for i, part in enumerate(parts[:-2]) if part == split)
    return sorted(roots, key=lambda root: (root.count("/"), root))


def class_folders(listing: Listing, split_dir: str) -> list[str]:
    """Sorted names of the folders directly below ``split_dir`` (those holding any file)."""
    names = set()
    for path in listing.sizes:
        if path.startswith(split_dir):
            name, slash, _ = path[len(split_dir) :].partition("/")
            if slash:
                names.add(name)
    return sorted(names)


def images_by_class(listing: Listing, split_dir: str) -> dict[str, list[str]]:
    """``{class folder: its image paths, sorted}`` below ``split_dir``; files directly in it are ignored."""
    found: dict[str, list[str]] = {name: [] for name in class_folders(listing, split_dir)}
    for path in sorted(listing.sizes):
        if path.startswith(split_dir) and is_image_path(path):
            rest = path[len(split_dir) :].split("/")
            if len(rest) >= 2:
                found[rest[0]].append(path)
    return found


def require_images(by_class: dict[str, list[str]], split_dir: str) -> None:
    """``empty_class`` naming the first class folder of ``by_class`` without an image."""
    empty = [name for name, paths in by_class.items() if not paths]
    if empty:
        raise IngestionError(
            f"class {empty[0]!r} has no images in {split_dir}{empty[0]}/"
            + (f" (nor do {len(empty) - 1} other classes)" if len(empty) > 1 else "")
            + f"; images end in {', '.join(IMAGE_EXTENSIONS)}",
            code="empty_class",
        )


def require_train_images(classes: Sequence[str], samples: Sequence[SourceSample], where: str) -> None:
    """``empty_class`` naming the first class without a training sample."""
    counts = [0] * len(classes)
    for sample in samples:
        if sample.split == "train":
            counts[sample.label] += 1
    empty = [classes[label] for label, count in enumerate(counts) if count == 0]
    if empty:
        raise IngestionError(
            f"class {empty[0]!r} has no training images in {where}"
            + (f" (nor do {len(empty) - 1} other classes)" if len(empty) > 1 else ""),
            code="empty_class",
        )


def in_order(samples: list[SourceSample]) -> tuple[SourceSample, ...]:
    """Train before val, each by class, then path: the order every layout hands its samples in."""
    return tuple(sorted(samples, key=lambda s: (s.split != "train", s.label, s.path)))
