"""Which files are images, by name alone (no decoder, no torch): what listing a dataset's folder or
an uploaded archive needs. Reading them: ``image_decoding``."""

from __future__ import annotations

from pathlib import Path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def is_image_file(path: Path) -> bool:
    """True for a visible file with one of ``IMAGE_EXTENSIONS`` (case-insensitive)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS
