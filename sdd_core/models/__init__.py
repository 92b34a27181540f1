"""The model zoo: CIFAR models of the CRD benchmark, torchvision's ImageNet classifiers and timm's models.

Every model from ``create_model`` returns global logits ``(B, K)`` and exposes
``forward_features(x) -> (B, C, H, W)`` and ``get_classifier() -> nn.Linear``, so SDD can pool
the feature map at several scales and reuse the head (see ``base.PooledLinearClassifier``).

The zoo needs torch and torchvision: its names (and ``timm_zoo``) load when first used
(``sdd_core.lazy_exports``), so a process that imports the package without asking it anything,
the REST API at start, does not pay for them.
"""

from typing import TYPE_CHECKING

from sdd_core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from sdd_core.models import timm_zoo
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
else:  # at run time each name loads its module when first read
    __getattr__ = lazy_exports(
        __name__,
        {
            "base": ["PooledLinearClassifier"],
            "registry": [
                "PretrainedWeights",
                "check_model_name",
                "create_model",
                "download_pretrained_weights",
                "list_models",
                "pretrained_weights_of",
                "require_pretrained_weights",
                "require_sd_support",
                "sd_support",
            ],
            "timm_zoo": ["timm_zoo"],
        },
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
    "timm_zoo",
]
