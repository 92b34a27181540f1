"""The image decoders every pipeline uses: TorchCodec's where it is installed and loads, torchvision's otherwise.

torchvision's image decoders are deprecated since torchvision 0.29 in favour of TorchCodec's
(``torchcodec.decoders``, from torchcodec 0.16), which take the same arguments and give the same
tensors. TorchCodec is a compiled extension built for one torch release: where it is missing or does
not load against the installed torch, torchvision's decoders (still shipped) do the work, and
``DECODER`` says which one runs.

* ``decode_rgb(encoded)``: one PNG or JPEG (a 1-D uint8 tensor) -> (3, H, W) uint8 RGB (16-bit PNGs
  scaled to 8 bits);
* ``decode_jpegs_rgb(items, device)``: several JPEGs in one call, on ``device`` (nvJPEG on CUDA).

Both raise ``DECODE_FAILURES`` on corrupt data.
"""

from __future__ import annotations

import torch
from torchvision.transforms.v2.functional import to_dtype

try:
    from torchcodec.decoders import ImageReadMode, decode_image, decode_jpeg

    DECODER = "torchcodec"
except (ImportError, OSError, RuntimeError):  # not installed, or built for another torch
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg  # type: ignore[no-redef]

    DECODER = "torchvision.io"

DECODE_FAILURES = (RuntimeError, ValueError)


def decode_rgb(encoded: torch.Tensor) -> torch.Tensor:
    """A PNG or JPEG's bytes (n,) -> its pixels (3, H, W) uint8 RGB."""
    image = decode_image(encoded, mode=ImageReadMode.RGB)  # (3, H, W)
    return image if image.dtype == torch.uint8 else to_dtype(image, torch.uint8, scale=True)  # 16-bit PNGs


def decode_jpegs_rgb(items: list[torch.Tensor], device: torch.device | str) -> list[torch.Tensor]:
    """JPEG bytes [(n_i,)] -> [(3, H_i, W_i) uint8] on ``device``, in one call."""
    return list(decode_jpeg(items, mode=ImageReadMode.RGB, device=device))
