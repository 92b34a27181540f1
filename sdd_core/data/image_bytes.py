"""Decoding an image held as bytes (a member of a shard), as ``image_decoding`` decodes a file.

The same decoders and the same pixel cap as for files, so a sharded dataset yields the tensors
its images give in an image folder: ``rgb_image`` is PIL's (the small-image pipeline),
``rgb_tensor`` is ``image_codecs``' for PNG and JPEG and PIL's otherwise (the large-image
pipeline, the device-resident path), ``checked_encoded`` hands the bytes on for a decoder on the
training device after the header passed the cap. ``where`` names the image in every
``DataError`` (a shard and its member).
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from sdd_core.data.image_codecs import DECODE_FAILURES, decode_rgb
from sdd_core.data.image_decoding import MAX_IMAGE_PIXELS, TENSOR_DECODED_EXTENSIONS
from sdd_core.errors import DataError

_PIL_FAILURES = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def image_size_of(data: bytes, where: str, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """(width, height) from the header, checked against ``max_pixels``; no pixel decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_pixels(where, image, max_pixels)
            return image.size
    except _PIL_FAILURES as exc:
        raise DataError(f"cannot read image {where}: {exc}") from exc


def rgb_image(data: bytes, where: str, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """The decoded image in RGB (PIL); DataError if unreadable, corrupt or too large."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_pixels(where, image, max_pixels)
            return image.convert("RGB")
    except _PIL_FAILURES as exc:
        raise DataError(f"cannot read image {where}: {exc}") from exc


def rgb_tensor(data: bytes, extension: str, where: str, max_pixels: int = MAX_IMAGE_PIXELS) -> torch.Tensor:
    """The decoded image as a uint8 RGB tensor (3, H, W); ``extension`` (``jpg``, ``png``, ...)
    picks the decoder as a file's suffix does."""
    if f".{extension.lower()}" not in TENSOR_DECODED_EXTENSIONS:
        return torch.from_numpy(np.array(rgb_image(data, where, max_pixels))).permute(2, 0, 1).contiguous()
    encoded = checked_encoded(data, where, max_pixels)
    try:
        return decode_rgb(encoded)  # (3, H, W)
    except DECODE_FAILURES as exc:
        raise DataError(f"cannot read image {where}: {exc}") from exc


def checked_encoded(data: bytes, where: str, max_pixels: int = MAX_IMAGE_PIXELS) -> torch.Tensor:
    """The bytes as a (n,) uint8 tensor after the header passed the pixel cap."""
    image_size_of(data, where, max_pixels)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def _check_pixels(where: str, image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise DataError(
            f"image {where} is too large to decode safely: {width}x{height} pixels (limit {max_pixels:,} pixels)"
        )
