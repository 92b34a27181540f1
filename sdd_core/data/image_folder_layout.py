"""The on-disk layout of an image-folder dataset: ``<root>/{train,val}/<class>/<image>``.

Class names come from ``train/``'s sub-folders, sorted; ``val/`` may lack some of them but must
not add any. Hidden entries (names starting with a dot) and files that are not images by their
extension are ignored; images may sit in nested folders below their class folder.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sdd_core.data.image_files import IMAGE_EXTENSIONS, is_image_file
from sdd_core.errors import DataError

Sample = tuple[Path, int]


@dataclass(frozen=True)
class ImageFolderLayout:
    """The classes of an image folder and its (path, label) samples, in a stable order."""

    root: Path
    classes: list[str]
    train_samples: list[Sample]
    val_samples: list[Sample]

    def train_fingerprint(self) -> str:
        """A digest of the training files and labels: changes when images are added or removed."""
        digest = hashlib.sha256()
        for path, label in self.train_samples:
            digest.update(f"{path.relative_to(self.root)}\t{label}\n".encode())
        return digest.hexdigest()


def scan_image_folder(root: Path) -> ImageFolderLayout:
    """Read the layout under ``root``; DataError naming the path if any part of it is wrong."""
    expected = f"expected {root}/train/<class>/<image> and {root}/val/<class>/<image>"
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a folder; {expected}")
    train_dir, val_dir = root / "train", root / "val"
    for split_dir in (train_dir, val_dir):
        if not split_dir.is_dir():
            raise DataError(f"image folder {root} has no {split_dir.name}/ sub-folder; {expected}")
    classes = _class_names(train_dir)
    val_classes = _class_names(val_dir)
    unknown = sorted(set(val_classes) - set(classes))
    if unknown:
        raise DataError(
            f"{val_dir} has class folders that {train_dir} lacks: {', '.join(unknown)} "
            "(every validation class must also be a training class)"
        )
    index = {name: label for label, name in enumerate(classes)}
    train = _samples(train_dir, classes, index)
    val = _samples(val_dir, val_classes, index)
    return ImageFolderLayout(root=root, classes=classes, train_samples=train, val_samples=val)


def _class_names(split_dir: Path) -> list[str]:
    """Sorted names of the visible sub-folders; DataError if there are none."""
    names = sorted(entry.name for entry in os.scandir(split_dir) if entry.is_dir() and not entry.name.startswith("."))
    if not names:
        raise DataError(f"{split_dir} has no class sub-folders; put each class's images in {split_dir}/<class name>/")
    return names


def _samples(split_dir: Path, classes: list[str], index: dict[str, int]) -> list[Sample]:
    """(path, label) of every image under each class folder; DataError for an empty class."""
    samples: list[Sample] = []
    for name in classes:
        images = _images_below(split_dir / name)
        if not images:
            raise DataError(
                f"class folder {split_dir / name} holds no images "
                f"(looked for files ending in {', '.join(IMAGE_EXTENSIONS)})"
            )
        samples.extend((path, index[name]) for path in images)
    return samples


def _images_below(class_dir: Path) -> list[Path]:
    """Image files in ``class_dir`` and its visible sub-folders, sorted by path."""
    found: list[Path] = []
    for folder, sub_folders, files in os.walk(class_dir):
        sub_folders[:] = [name for name in sub_folders if not name.startswith(".")]
        found.extend(path for path in (Path(folder) / name for name in files) if is_image_file(path))
    return sorted(found)
