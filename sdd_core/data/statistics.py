"""Per-channel normalisation statistics of a training split, and their JSON cache.

The cache (``.sdd_stats.json`` beside an image folder's ``train/`` and ``val/``) maps an image
size to the statistics measured at that size, with a fingerprint of the training file list so
that adding or removing images invalidates it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import torch

from sdd_core.data.info import Triple

STATS_CACHE_FILE = ".sdd_stats.json"
_CACHE_VERSION = 1
MIN_STD = 1e-3
"""A channel whose std is below this (a constant channel) is left unscaled: std 1.0."""


def channel_statistics(batches: Iterable[torch.Tensor]) -> tuple[Triple, Triple]:
    """Mean and (population) std of each channel over every pixel of every image given.

    Args:
        batches: tensors (3, H, W) or (N, 3, H, W) with values in [0, 1]; sizes may differ.
    Returns:
        ``(mean, std)``, three floats each.
    """
    total = torch.zeros(3, dtype=torch.float64)
    total_sq = torch.zeros(3, dtype=torch.float64)
    count = 0
    for batch in batches:
        pixels = batch.to(torch.float64).reshape(-1, 3, batch.shape[-2] * batch.shape[-1])
        pixels = pixels.transpose(0, 1).reshape(3, -1)  # (3, N * H * W)
        total += pixels.sum(dim=1)
        total_sq += pixels.square().sum(dim=1)
        count += pixels.shape[1]
    if count == 0:
        raise ValueError("channel_statistics needs at least one image")
    mean = total / count
    variance = (total_sq / count - mean.square()).clamp_min(0.0)
    std = [math.sqrt(v) for v in variance.tolist()]
    std = [s if s >= MIN_STD else 1.0 for s in std]
    return _triple(mean.tolist()), _triple(std)


def evenly_spaced_indices(count: int, limit: int) -> list[int]:
    """At most ``limit`` indices spread evenly over ``range(count)``: a deterministic sample."""
    if count <= limit:
        return list(range(count))
    return [i * count // limit for i in range(limit)]


def read_cached_statistics(folder: Path, image_size: int, fingerprint: str) -> tuple[Triple, Triple] | None:
    """Statistics cached in ``folder`` for this size and file list, or None (absent, stale, unreadable)."""
    entry = _read_cache(folder / STATS_CACHE_FILE).get("entries", {}).get(str(image_size))
    if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint:
        return None
    try:
        mean, std = _triple(entry["mean"]), _triple(entry["std"])
    except (KeyError, TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (*mean, *std)) or min(std) <= 0:
        return None
    return mean, std


def write_cached_statistics(
    folder: Path, image_size: int, fingerprint: str, mean: Triple, std: Triple, num_images: int
) -> bool:
    """Record statistics in ``folder``'s cache; False (and nothing written) if it is not writable."""
    path = folder / STATS_CACHE_FILE
    cache = _read_cache(path)
    cache.setdefault("entries", {})[str(image_size)] = {
        "fingerprint": fingerprint,
        "mean": list(mean),
        "std": list(std),
        "num_images": num_images,
    }
    cache["version"] = _CACHE_VERSION
    try:
        handle, temporary = tempfile.mkstemp(prefix=STATS_CACHE_FILE, suffix=".tmp", dir=folder)
    except OSError:
        return False
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(cache, stream, indent=2)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        return False
    return True


def _read_cache(path: Path) -> dict:
    """The cache's content, or an empty cache when the file is absent or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _CACHE_VERSION:
        return {}
    if not isinstance(data.get("entries"), dict):
        return {}
    return data


def _triple(values: Iterable[float]) -> Triple:
    a, b, c = (float(v) for v in values)
    return a, b, c
