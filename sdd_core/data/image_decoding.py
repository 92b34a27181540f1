"""Reading image files with PIL, with every failure turned into a ``DataError`` naming the file."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from sdd_core.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".gif", ".tif", ".tiff", ".webp")

MAX_IMAGE_PIXELS = 40_000_000
"""Largest image accepted (e.g. 8000 x 5000): a bigger one, such as a decompression bomb, is
refused from its header before any pixel is decoded. Below PIL's own limit, so PIL's global
``Image.MAX_IMAGE_PIXELS`` is left as it is."""

# What PIL raises on unreadable, truncated or oversized files.
_PIL_FAILURES = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def is_image_file(path: Path) -> bool:
    """True for a visible file with one of ``IMAGE_EXTENSIONS`` (case-insensitive)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def image_dimensions(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            _check_pixels(path, image, max_pixels)
            return image.size
    except _PIL_FAILURES as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def load_rgb_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """The decoded image in RGB; DataError if the file is unreadable, corrupt or too large."""
    try:
        with Image.open(path) as image:
            _check_pixels(path, image, max_pixels)
            return image.convert("RGB")
    except _PIL_FAILURES as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc


def _check_pixels(path: Path, image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise DataError(
            f"image {path} is too large to decode safely: {width}x{height} pixels (limit {max_pixels:,} pixels)"
        )
