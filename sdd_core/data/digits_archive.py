"""scikit-learn's digits as an image-folder archive, to try a dataset upload without one of your own.

``write_digits_archive`` writes a zip of ``train/<digit>/<n>.png`` and ``val/<digit>/<n>.png``:
the built-in ``digits`` split (1,437 / 360 images), as the 8-bit grey images the device path
holds, at ``image_size`` pixels (32 by default, CIFAR-sized: the CIFAR zoo and SD's scales fit).
That is the layout ``imagefolder:<path>`` and ``sdd datasets upload`` read. The archive's bytes
depend only on ``image_size`` (members in one order, with one timestamp), so writing it again gives
the same file: an interrupted upload of it resumes.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from PIL import Image

from sdd_core.data.digits import DIGITS_CLASSES, digits_tensors
from sdd_core.data.image_tensors import ImageTensors

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the bytes do not depend on when they were written


def write_digits_archive(path: Path, image_size: int = 32) -> tuple[int, int]:
    """Write the archive to ``path`` (replaced atomically); the numbers of train and val images."""
    train, val, _ = digits_tensors(image_size)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for split, tensors in (("train", train), ("val", val)):
                _write_split(archive, split, tensors)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return len(train), len(val)


def _write_split(archive: zipfile.ZipFile, split: str, tensors: ImageTensors) -> None:
    for index, (image, label) in enumerate(zip(tensors.images, tensors.labels.tolist(), strict=True)):
        grey = image[0].numpy()  # (3, S, S) -> (S, S): the three channels are copies of one
        png = io.BytesIO()
        Image.fromarray(grey).save(png, format="PNG")
        member = zipfile.ZipInfo(f"{split}/{DIGITS_CLASSES[label]}/{index:04d}.png", date_time=FIXED_TIME)
        member.compress_type = zipfile.ZIP_STORED  # PNG is compressed already
        archive.writestr(member, png.getvalue())
