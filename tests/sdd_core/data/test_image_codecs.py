"""sdd_core.data.image_codecs: TorchCodec decodes (no deprecated torchvision decoder), pixels as PIL reads them."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from sdd_core.data import image_codecs


def encoded(array: np.ndarray, fmt: str, **options: object) -> torch.Tensor:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **options)
    return torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)


def test_torchcodec_decodes_without_a_deprecation_warning() -> None:
    assert image_codecs.DECODER == "torchcodec"  # a declared dependency: torchvision's decoders are deprecated
    pixels = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        png = image_codecs.decode_rgb(encoded(pixels, "PNG"))
        (jpeg,) = image_codecs.decode_jpegs_rgb([encoded(pixels, "JPEG", quality=95)], "cpu")
    assert torch.equal(png, torch.from_numpy(pixels).permute(2, 0, 1))  # (3, H, W), lossless
    assert jpeg.shape == (3, 9, 7) and jpeg.dtype == torch.uint8


def test_sixteen_bit_and_grey_pngs_come_out_as_8_bit_rgb() -> None:
    grey16 = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    image = image_codecs.decode_rgb(encoded(grey16, "PNG"))
    assert image.shape == (3, 3, 4) and image.dtype == torch.uint8
    assert torch.equal(image[0], image[1]) and int(image.max()) == round(55000 / 65535 * 255)


def test_corrupt_bytes_raise_a_decode_failure() -> None:
    with pytest.raises(image_codecs.DECODE_FAILURES):
        image_codecs.decode_rgb(torch.tensor([0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3], dtype=torch.uint8))
