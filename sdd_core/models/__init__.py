"""The model zoo: CIFAR models of the CRD benchmark and torchvision's ImageNet classifiers.

Every model from ``create_model`` returns global logits ``(B, K)`` and exposes
``forward_features(x) -> (B, C, H, W)`` and ``get_classifier() -> nn.Linear``, so SDD can pool
the feature map at several scales and reuse the head (see ``base.PooledLinearClassifier``).
"""

from sdd_core.models.base import PooledLinearClassifier
from sdd_core.models.registry import (
    create_model,
    list_models,
    require_sd_support,
    sd_support,
)

__all__ = [
    "PooledLinearClassifier",
    "create_model",
    "list_models",
    "require_sd_support",
    "sd_support",
]
