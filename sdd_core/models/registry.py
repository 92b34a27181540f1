"""The model registry: every architecture ``create_model`` accepts, by name.

CIFAR models of the CRD benchmark go by their plain names (``resnet32x4``, ``wrn_40_2``, ...);
torchvision's ImageNet classifiers go by ``tv/<torchvision name>``, timm's architectures by
``timm/<timm name>``. ``list_models`` lists the first two (the timm list has over a thousand
names; ``is_known_model`` accepts them all). Whether SDD can use a model (``sd_support``) is known
from the table for the first two, and measured once per name for timm's.

Pretrained weights (``pretrained_weights``) exist for ``tv/`` and ``timm/`` models and are read
from local caches only: torch hub's for torchvision, Hugging Face's for timm.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from sdd_core.errors import ModelError, UnsupportedForSDError, WeightsUnavailableError, unknown_name
from sdd_core.models import (
    cifar_resnet,
    cifar_resnet50,
    mobilenet_v2,
    pretrained_weights,
    shufflenet_v1,
    shufflenet_v2,
    timm_zoo,
    torchvision_zoo,
    vgg,
    wide_resnet,
)
from sdd_core.models.base import PooledLinearClassifier

ModelBuilder = Callable[..., PooledLinearClassifier]


@dataclass(frozen=True)
class ModelEntry:
    """One registered architecture: its builder and, if SDD cannot use it, why not."""

    name: str
    builder: ModelBuilder
    sd_unsupported_reason: str | None = None

    @property
    def options(self) -> tuple[str, ...]:
        """Keyword options the builder takes besides ``num_classes``."""
        parameters = inspect.signature(self.builder).parameters
        return tuple(name for name in parameters if name != "num_classes")


_CIFAR_BUILDERS: dict[str, ModelBuilder] = {
    "resnet8": cifar_resnet.resnet8,
    "resnet14": cifar_resnet.resnet14,
    "resnet20": cifar_resnet.resnet20,
    "resnet32": cifar_resnet.resnet32,
    "resnet44": cifar_resnet.resnet44,
    "resnet56": cifar_resnet.resnet56,
    "resnet110": cifar_resnet.resnet110,
    "resnet8x4": cifar_resnet.resnet8x4,
    "resnet32x4": cifar_resnet.resnet32x4,
    "resnet50": cifar_resnet50.resnet50,
    "wrn_16_1": wide_resnet.wrn_16_1,
    "wrn_16_2": wide_resnet.wrn_16_2,
    "wrn_40_1": wide_resnet.wrn_40_1,
    "wrn_40_2": wide_resnet.wrn_40_2,
    "vgg8": vgg.vgg8,
    "vgg11": vgg.vgg11,
    "vgg13": vgg.vgg13,
    "vgg16": vgg.vgg16,
    "vgg19": vgg.vgg19,
    "shufflenetv1": shufflenet_v1.shufflenetv1,
    "shufflenetv2": shufflenet_v2.shufflenetv2,
    "mobilenetv2": mobilenet_v2.mobilenetv2,
}


def _collect_entries() -> dict[str, ModelEntry]:
    entries = {name: ModelEntry(name, builder) for name, builder in _CIFAR_BUILDERS.items()}
    for tv_name in torchvision_zoo.torchvision_model_names():
        name = torchvision_zoo.PREFIX + tv_name
        builder = partial(torchvision_zoo.build_torchvision_model, tv_name)
        entries[name] = ModelEntry(name, builder, torchvision_zoo.sd_unsupported_reason(tv_name))
    return entries


_ENTRIES: dict[str, ModelEntry] = _collect_entries()


def list_models() -> list[str]:
    """Sorted names of every architecture ``create_model`` accepts."""
    return sorted(_ENTRIES)


def _entry(name: str) -> ModelEntry:
    entry = _ENTRIES.get(name)
    if entry is None:
        if timm_zoo.is_timm_name(name):
            timm_zoo.check_name(name)
            return ModelEntry(name, partial(timm_zoo.build_timm_model, name))
        raise ModelError(unknown_name("model", name, list_models()))
    return entry


def check_model_name(name: str) -> str:
    """``name`` if ``create_model`` accepts it; else ``ModelError`` with a short list of close names."""
    _entry(name)
    return name


def create_model(name: str, num_classes: int, **kwargs: object) -> PooledLinearClassifier:
    """Build architecture ``name`` with a ``num_classes``-way linear head.

    The model's ``forward`` returns global logits ``(B, K)``; it also exposes
    ``forward_features`` and ``get_classifier`` (see ``sdd_core.models.base``).

    Raises:
        ModelError: unknown name, ``num_classes < 1``, or options the model does not take.
        WeightsUnavailableError: ``pretrained=True`` for a ``tv/`` model whose weights file is
            not in the local torch hub cache.
    """
    entry = _entry(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ModelError(f"{name}: num_classes must be an integer >= 1, got {num_classes!r}")
    unknown = sorted(set(kwargs) - set(entry.options))
    if unknown:
        accepted = ", ".join(entry.options) or "none"
        raise ModelError(f"{name}: unknown option(s) {', '.join(unknown)}; options it accepts: {accepted}")
    return entry.builder(num_classes=num_classes, **kwargs)


def sd_support(name: str) -> str | None:
    """None if SDD can use ``name`` (its head is global average pooling + one Linear).

    Otherwise a one-sentence reason why not. Builds nothing, except for a ``timm/`` model the
    first time it is asked about (its head is measured, see ``timm_zoo``).
    """
    if timm_zoo.is_timm_name(name):
        return timm_zoo.sd_unsupported_reason(check_model_name(name))
    return _entry(name).sd_unsupported_reason


def require_sd_support(name: str) -> None:
    """Raise ``UnsupportedForSDError`` with the reason if SDD cannot use ``name``."""
    reason = sd_support(name)
    if reason is not None:
        raise UnsupportedForSDError(reason)


@dataclass(frozen=True)
class PretrainedWeights:
    """An architecture's pretrained weights: what they predict and where their file lies.

    ``file`` is the cached file on this machine, None when it is not there (``expected`` says
    where it would lie; ``missing_message`` how to put it there).
    """

    arch: str
    num_classes: int
    file: Path | None
    expected: Path
    missing_message: str


def pretrained_weights_of(name: str) -> PretrainedWeights | None:
    """The pretrained weights of ``name``; None for an architecture without any (the CIFAR zoo)."""
    _entry(name)
    if timm_zoo.is_timm_name(name):
        if timm_zoo.weights_repo(name) is None:
            return None
        return PretrainedWeights(
            name,
            timm_zoo.pretrained_classes(name),
            timm_zoo.cached_weights_file(name),
            timm_zoo.expected_weights_path(name),
            timm_zoo.missing_weights_message(name),
        )
    if not name.startswith(torchvision_zoo.PREFIX):
        return None
    tv_name = name.removeprefix(torchvision_zoo.PREFIX)
    expected = pretrained_weights.expected_weights_path(tv_name)
    return PretrainedWeights(
        name,
        pretrained_weights.IMAGENET_CLASSES,
        expected if expected.is_file() else None,
        expected,
        pretrained_weights.missing_weights_message(tv_name),
    )


def require_pretrained_weights(name: str) -> PretrainedWeights:
    """``pretrained_weights_of(name)``, refusing an architecture without any or with its file absent.

    Raises:
        ModelError: ``name`` has no pretrained weights.
        WeightsUnavailableError: they exist but their file is not in the local cache.
    """
    weights = pretrained_weights_of(name)
    if weights is None:
        raise ModelError(f"{name} has no pretrained weights; the tv/<name> and timm/<name> architectures have them")
    if weights.file is None:
        raise WeightsUnavailableError(weights.missing_message)
    return weights


def download_pretrained_weights(name: str) -> Path:
    """Fetch ``name``'s pretrained weights into its local cache; only where a setting allows downloads."""
    if pretrained_weights_of(name) is None:
        require_pretrained_weights(name)  # raises, naming the architectures that have weights
    if timm_zoo.is_timm_name(name):
        return timm_zoo.download_weights(name)
    return pretrained_weights.download_weights(name.removeprefix(torchvision_zoo.PREFIX))
