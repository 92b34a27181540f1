"""The teacher: loaded from a weights file and frozen in one place.

A ``FrozenTeacher`` is always in eval mode (``train()`` cannot switch it back), its parameters do
not require gradients, every forward runs under ``torch.no_grad()``, and it is never handed to
the optimiser (it is not a sub-module of the student).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from sdd_core.decouple import multiscale_logits, region_logits
from sdd_core.errors import ModelError, TeacherError
from sdd_core.models import PooledLinearClassifier, create_model


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors, or from .pt/.pth with ``weights_only=True`` (no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise TeacherError(f"teacher checkpoint {path} does not exist")
    try:
        if path.suffix in (".pt", ".pth"):
            state = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
                state = state["model"]  # a trainer checkpoint
        else:
            state = load_file(str(path), device="cpu")
    except Exception as exc:  # unreadable, truncated, or a pickle that is not plain weights
        raise TeacherError(f"teacher checkpoint {path} cannot be read: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TeacherError(f"teacher checkpoint {path} is not a state dict of tensors")
    return state


def head_weight_key(arch: str) -> str:
    """State-dict key of ``arch``'s classifier weight, e.g. ``fc.weight``."""
    with torch.device("meta"):
        model = create_model(arch, 2)
    head = model.get_classifier()
    return next(f"{name}.weight" for name, module in model.named_modules() if module is head)


def classes_in_weights(state: dict[str, torch.Tensor], arch: str) -> int:
    """Number of classes the head stored in ``state`` predicts."""
    key = head_weight_key(arch)
    if key not in state:
        raise TeacherError(f"teacher checkpoint has no {key!r}: it was not saved from a {arch}")
    return int(state[key].shape[0])


def load_teacher(arch: str, checkpoint: str | Path, num_classes: int) -> PooledLinearClassifier:
    """Build ``arch`` for ``num_classes`` and load the checkpoint strictly."""
    state = load_weights(checkpoint)
    try:
        model = create_model(arch, num_classes)
    except ModelError as exc:
        raise TeacherError(str(exc)) from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise TeacherError(
            f"teacher checkpoint {checkpoint} does not fit {arch} with {num_classes} classes: {exc}"
        ) from exc
    return model


class FrozenTeacher(nn.Module):
    """Wraps a teacher so it stays in eval mode without gradients."""

    def __init__(self, model: PooledLinearClassifier) -> None:
        super().__init__()
        self.model = model
        # A head that is not pool + pre_logits + linear (e.g. ConvNeXt's LayerNorm) keeps its own forward.
        self.pools_features = type(model).forward is PooledLinearClassifier.forward
        for param in self.model.parameters():
            param.requires_grad_(False)
        self.model.eval()

    def train(self, mode: bool = True) -> FrozenTeacher:
        """Ignore requests for train mode: BN statistics and dropout stay frozen."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Global logits (B, K)."""
        return self.model(images)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The final feature map (B, C, H, W): the expensive part, computed once per batch however
        many students learn from it (``distillation_step.TeacherTargets``)."""
        return self.model.forward_features(images)

    @torch.no_grad()
    def global_logits(self, features: torch.Tensor) -> torch.Tensor:
        """(B, K) from ``features``, exactly as ``forward`` computes them (pool, pre_logits, head)."""
        pooled = features.mean(dim=(2, 3))  # (B, C)
        return self.model.get_classifier()(self.model.pre_logits(pooled))

    @torch.no_grad()
    def region_logits(self, features: torch.Tensor, scales: Sequence[int]) -> torch.Tensor:
        """(B, K, N) from ``features``, exactly as ``multiscale`` computes them."""
        return region_logits(features, self.model.get_classifier(), scales, pre_logits=self.model.pre_logits)

    @torch.no_grad()
    def multiscale(self, images: torch.Tensor, scales: Sequence[int]) -> torch.Tensor:
        """Multi-scale logits (B, K, N) of ``sdd_core.decouple``."""
        return multiscale_logits(self.model, images, scales)
