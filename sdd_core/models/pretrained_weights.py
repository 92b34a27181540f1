"""Pretrained torchvision weights, read from the local torch hub cache only: never downloaded.

The file expected for ``tv/<name>`` is the one torchvision itself would cache for the model's
default weights: ``torch.hub.get_dir()/checkpoints/<file name of DEFAULT weights' url>``.
The file's hash (part of its name) is not checked: a file put there by hand is trusted.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision
from torch import nn

from sdd_core.errors import ModelError, WeightsUnavailableError

IMAGENET_CLASSES = 1000


def default_weights_url(tv_name: str) -> str:
    """The download address of torchvision's default ImageNet weights for ``tv_name``."""
    return torchvision.models.get_model_weights(tv_name).DEFAULT.url


def expected_weights_path(tv_name: str) -> Path:
    """Where the default weights file of ``tv_name`` must lie for ``pretrained=True``."""
    file_name = Path(urlparse(default_weights_url(tv_name)).path).name
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def missing_weights_message(tv_name: str) -> str:
    return (
        f"pretrained weights for tv/{tv_name} are not on this machine: expected the file "
        f"{expected_weights_path(tv_name)}. Nothing is downloaded here; fetch {default_weights_url(tv_name)} on a "
        f"machine with internet access and copy it to that path (the folder is "
        f"torch.hub.get_dir()/checkpoints, which follows $TORCH_HOME)."
    )


def download_weights(tv_name: str) -> Path:
    """Fetch the default weights file of ``tv_name`` into the torch hub cache (where downloads are allowed)."""
    path = expected_weights_path(tv_name)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(default_weights_url(tv_name), str(path), progress=False)
    return path


def load_pretrained_(net: nn.Module, tv_name: str, head_name: str, num_classes: int) -> None:
    """Load the cached default weights into the torchvision model ``net`` in place.

    With ``num_classes != 1000`` every tensor but the head's (``<head_name>.weight`` and
    ``.bias``) is loaded and the freshly initialised head is kept.

    Raises:
        WeightsUnavailableError: the file is absent or cannot be read as a state dict.
        ModelError: the file's tensors do not fit the architecture.
    """
    path = expected_weights_path(tv_name)
    if not path.is_file():
        raise WeightsUnavailableError(missing_weights_message(tv_name))
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unreadable file: a truncated download, a wrong format
        raise WeightsUnavailableError(f"cannot read weights file {path}: {error}") from error
    if not isinstance(state_dict, dict):
        raise WeightsUnavailableError(f"weights file {path} does not hold a state dict")

    head_keys = {f"{head_name}.weight", f"{head_name}.bias"}
    if num_classes != IMAGENET_CLASSES:
        kept = OrderedDict((k, v) for k, v in state_dict.items() if k not in head_keys)
        # Keep the per-module version numbers that some modules read while loading.
        metadata = getattr(state_dict, "_metadata", None)
        if metadata is not None:
            kept._metadata = metadata  # type: ignore[attr-defined]  # an attribute torch sets on state dicts
        state_dict = kept
    try:
        result = net.load_state_dict(state_dict, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise ModelError(f"weights file {path} does not fit tv/{tv_name}: {error}") from error

    allowed_missing = head_keys if num_classes != IMAGENET_CLASSES else set()
    missing = sorted(set(result.missing_keys) - allowed_missing)
    unexpected = sorted(result.unexpected_keys)
    if missing or unexpected:
        raise ModelError(
            f"weights file {path} does not fit tv/{tv_name}: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
