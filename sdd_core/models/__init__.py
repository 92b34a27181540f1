"""The model zoo: CIFAR models of the CRD benchmark, torchvision's ImageNet classifiers and timm's models.

Every model from ``create_model`` returns global logits ``(B, K)`` and exposes
``forward_features(x) -> (B, C, H, W)`` and ``get_classifier() -> nn.Linear``, so SDD can pool
the feature map at several scales and reuse the head (see ``base.PooledLinearClassifier``).
"""

from sdd_core.models.base import PooledLinearClassifier
from sdd_core.models.registry import (
    PretrainedWeights,
    check_model_name,
    create_model,
    download_pretrained_weights,
    list_models,
    pretrained_weights_of,
    require_pretrained_weights,
    require_sd_support,
    sd_support,
)

__all__ = [
    "PooledLinearClassifier",
    "PretrainedWeights",
    "check_model_name",
    "create_model",
    "download_pretrained_weights",
    "list_models",
    "pretrained_weights_of",
    "require_pretrained_weights",
    "require_sd_support",
    "sd_support",
]
