"""Tiny generated image folders for the sharded-dataset tests: small PNGs (the CIFAR pipeline) and
larger JPEGs (the ImageNet pipeline), each image different from every other."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("blue", "green", "red")
_COLOURS = ((30, 40, 220), (30, 200, 40), (220, 30, 30))


def image_folder(
    root: Path,
    *,
    train: int = 8,
    val: int = 2,
    size: tuple[int, int] = (16, 16),
    suffix: str = ".png",
    seed: int = 0,
) -> Path:
    """``root/{train,val}/<class>/<i><suffix>``: a class colour under noise, ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    width, height = size
    for split, count in (("train", train), ("val", val)):
        for name, colour in zip(CLASSES, _COLOURS, strict=True):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                noise = rng.integers(-40, 40, size=(height, width, 3))
                pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}{suffix}", **({"quality": 90} if suffix == ".jpg" else {}))
    return root
