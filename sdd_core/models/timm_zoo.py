"""timm's architectures in the zoo, under the names ``timm/<timm name>`` (optionally ``.<weights tag>``).

timm's models already expose ``forward_features`` and ``get_classifier``, the contract of
``sdd_core.models.base``. Whether SDD can use one is measured, not assumed: a model qualifies
when its feature map is ``(B, C, H, W)``, its classifier one ``nn.Linear``, and timm's own head
equals that Linear applied to the feature map's global average (checked once per architecture on
a random input in eval mode). The measurement costs what the head costs, whatever the model's
size: the model is built on the meta device (no memory, no weights), its feature map's shape
comes from a meta forward, and only the modules its head runs are made real to compare on random
numbers (``vit_huge_patch14_clip_224`` once took 40 s and 2.2 GB of an API process to refuse; now
well under a second and nothing kept). Every other timm model is still usable for CE and KD.

Pretrained weights come from the local Hugging Face cache only (``hf_cache_dir``), as the file
``model.safetensors`` (or ``pytorch_model.bin``) of the weights' Hugging Face repository.

timm is imported when a ``timm/`` name is first used (it takes about a second), not with the zoo.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sdd_core.errors import ModelError, UnsupportedForSDError, WeightsUnavailableError, unknown_name
from sdd_core.models.base import PooledLinearClassifier

PREFIX = "timm/"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm's Hugging Face repositories hold
_NO_LOCAL_LOGITS = "so local logits cannot be formed from the feature map"


def is_timm_name(name: str) -> bool:
    return name.startswith(PREFIX)


@lru_cache(maxsize=1)
def _architectures() -> frozenset[str]:
    import timm

    return frozenset(timm.list_models())


def _pretrained_cfg(name: str) -> Any:
    from timm.models import get_pretrained_cfg

    return get_pretrained_cfg(check_name(name).removeprefix(PREFIX), allow_unregistered=False)


def architecture_count() -> int:
    """How many architectures ``timm/<name>`` may name."""
    return len(_architectures())


def check_name(name: str) -> str:
    """``name`` (``timm/<arch>[.<tag>]``) if timm knows it; else ``ModelError`` with close names."""
    arch, dot, tag = name.removeprefix(PREFIX).partition(".")
    if dot and not tag:
        raise ModelError(f"{name!r} ends in a dot without a weights tag; write {PREFIX}{arch} or {PREFIX}{arch}.<tag>")
    if arch not in _architectures():
        raise ModelError(
            unknown_name(
                "timm architecture",
                name,
                [PREFIX + a for a in sorted(_architectures())],
                listed_in="timm.list_models()",
            )
        )
    import timm

    if tag and f"{arch}.{tag}" not in timm.list_pretrained(f"{arch}.*"):
        tags = [PREFIX + n for n in timm.list_pretrained(f"{arch}.*")]
        raise ModelError(unknown_name(f"weights tag of {PREFIX}{arch}", name, tags))
    return name


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment on each call (``HF_HUB_CACHE``, else
    ``HF_HOME``/hub, else ``~/.cache/huggingface/hub``), as ``huggingface_hub`` resolves it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def weights_repo(name: str) -> str | None:
    """The Hugging Face repository of ``name``'s default (or tagged) weights; None if it has none."""
    cfg = _pretrained_cfg(name)
    return None if cfg is None else cfg.hf_hub_id


def pretrained_classes(name: str) -> int:
    """How many classes the head of ``name``'s pretrained weights predicts (1000 for ImageNet-1k)."""
    cfg = _pretrained_cfg(name)
    if cfg is None:
        raise ModelError(f"{name} has no pretrained weights in timm")
    return int(cfg.num_classes)


def cached_weights_file(name: str) -> Path | None:
    """The cached weights file of ``name`` if it is on this machine, else None."""
    from huggingface_hub import try_to_load_from_cache

    repo = weights_repo(name)
    if repo is None:
        return None
    for file_name in WEIGHT_FILES:
        found = try_to_load_from_cache(repo, file_name, cache_dir=hf_cache_dir())
        if isinstance(found, str):
            return Path(found)
    return None


def expected_weights_path(name: str) -> Path:
    """Where the weights file of ``name`` lies once cached (the revision folder is the commit hash)."""
    repo = weights_repo(name)
    if repo is None:
        raise ModelError(f"{name} has no pretrained weights in timm")
    folder = "models--" + repo.replace("/", "--")
    return hf_cache_dir() / folder / "snapshots" / "<revision>" / WEIGHT_FILES[0]


def missing_weights_message(name: str) -> str:
    repo = weights_repo(name)
    return (
        f"pretrained weights for {name} are not on this machine: expected the file "
        f"{expected_weights_path(name)} in the Hugging Face cache. Nothing is downloaded here; run "
        f"`hf download {repo} {WEIGHT_FILES[0]}` on a machine with internet access and copy "
        f"its cache folder ({hf_cache_dir()}, set by HF_HUB_CACHE or HF_HOME) here."
    )


def download_weights(name: str) -> Path:
    """Fetch ``name``'s weights file into the Hugging Face cache (only where downloads are allowed)."""
    from huggingface_hub import hf_hub_download

    repo = weights_repo(name)
    if repo is None:
        raise ModelError(f"{name} has no pretrained weights in timm")
    return Path(hf_hub_download(repo, WEIGHT_FILES[0], cache_dir=hf_cache_dir()))


def cached_names() -> list[str]:
    """``timm/<repository name>`` for each timm weights repository in the local cache, sorted."""
    root = hf_cache_dir()
    if not root.is_dir():
        return []
    names = []
    for folder in root.glob("models--timm--*"):
        name = PREFIX + folder.name.removeprefix("models--timm--")
        try:
            if cached_weights_file(check_name(name)) is not None:
                names.append(name)
        except ModelError:  # a repository of a timm version other than this one
            continue
    return sorted(names)


class TimmAdapter(PooledLinearClassifier):
    """A timm model whose head is global average pooling + (dropout +) one Linear.

    ``forward`` is the base class's (pool, dropout at timm's ``drop_rate`` in train mode, Linear),
    which equals timm's own forward in eval mode (checked by ``sd_unsupported_reason``).
    """

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net: Any = net
        self.drop_rate = float(getattr(net, "drop_rate", 0.0) or 0.0)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.net.forward_features(x)  # (B, C, H', W')

    def get_classifier(self) -> nn.Linear:
        head = self.net.get_classifier()
        assert isinstance(head, nn.Linear)
        return head

    def pre_logits(self, pooled: Tensor) -> Tensor:
        return F.dropout(pooled, self.drop_rate, self.training) if self.drop_rate else pooled


class TimmUnpooledAdapter(PooledLinearClassifier):
    """A timm model whose head is not pooling + one Linear: timm's forward, for CE and KD only."""

    def __init__(self, net: Any, reason: str) -> None:
        super().__init__()
        self.net: Any = net
        self.sd_unsupported_reason = reason

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)  # (B, K)

    def forward_features(self, x: Tensor) -> Tensor:
        raise UnsupportedForSDError(self.sd_unsupported_reason or "no pooled feature map")

    def get_classifier(self) -> nn.Linear:
        head = self.net.get_classifier()
        if not isinstance(head, nn.Linear):
            raise UnsupportedForSDError(self.sd_unsupported_reason or "its classifier is not one Linear")
        return head


def _probe_reason(arch: str, name: str) -> str | None:
    """Why ``timm/<arch>`` is not pool + one Linear; None if it is (``name`` is how to call it)."""
    import timm

    with torch.device("meta"):  # shapes only: no memory, no weights
        net: Any = timm.create_model(arch, pretrained=False, num_classes=10)
    net.eval()
    head = net.get_classifier()
    if not isinstance(head, nn.Linear):
        return f"{name}: its classifier is a {type(head).__name__}, not one Linear, {_NO_LOCAL_LOGITS}"
    size = tuple(net.pretrained_cfg.get("input_size", (3, 224, 224)))
    with torch.no_grad():
        features = net.forward_features(torch.empty(2, *size, device="meta"))
    if features.ndim != 4:
        return (
            f"{name}: its forward_features returns a {features.ndim}-d tensor {tuple(features.shape)} "
            f"(tokens), not a feature map (B, C, H, W), {_NO_LOCAL_LOGITS}"
        )
    for module in _modules_run_by_head(net, features):  # made real, on random numbers
        module.to_empty(device="cpu")
        for tensor in (*module.parameters(recurse=False), *module.buffers(recurse=False)):
            if tensor.is_floating_point():
                tensor.data.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(tensor.numel()))
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(2, *features.shape[1:], generator=generator)  # (2, C, H, W)
    with torch.no_grad():
        try:
            own = net.forward_head(real)  # (2, K)
        except (RuntimeError, NotImplementedError):  # the head reached a tensor it did not run as a module
            return (
                f"{name}: its head uses more than its own modules after the feature map (a parameter or "
                f"buffer outside them), {_NO_LOCAL_LOGITS}"
            )
        try:
            pooled_linear: Tensor | None = head(real.mean(dim=(2, 3)))  # (2, K)
        except RuntimeError:  # the Linear takes another width than the feature map's channels
            pooled_linear = None
    if pooled_linear is None or not torch.allclose(own, pooled_linear, rtol=1e-4, atol=1e-5):
        return (
            f"{name}: its head does more than global average pooling + one Linear (a norm, a convolution "
            f"or an activation after pooling), {_NO_LOCAL_LOGITS}"
        )
    return None


def _modules_run_by_head(net: Any, features: Tensor) -> list[nn.Module]:
    """The modules ``net.forward_head`` runs on ``features`` (a meta forward, hooks record them)."""
    ran: dict[int, nn.Module] = {}

    def record(module: nn.Module, _args: Any) -> None:  # returns None: the input stays as it is
        ran.setdefault(id(module), module)

    hooks = [module.register_forward_pre_hook(record) for module in net.modules()]
    try:
        with torch.no_grad():
            net.forward_head(features)
    finally:
        for hook in hooks:
            hook.remove()
    return list(ran.values())


def sd_unsupported_reason(name: str) -> str | None:
    """Why SDD cannot use ``timm/<name>``: one sentence naming it; None when it can (measured once
    per architecture: weights tags share their architecture's head)."""
    arch = check_name(name).removeprefix(PREFIX).partition(".")[0]
    reason = _arch_reason(arch)
    return None if reason is None else reason.replace(f"{PREFIX}{arch}:", f"{name}:", 1)


@lru_cache(maxsize=256)
def _arch_reason(arch: str) -> str | None:
    return _probe_reason(arch, PREFIX + arch)


def build_timm_model(name: str, num_classes: int, pretrained: bool = False) -> PooledLinearClassifier:
    """Build ``timm/<name>`` with a ``num_classes``-way head, wrapped for the zoo.

    With ``pretrained=True`` the weights are read from the local Hugging Face cache (never
    downloaded here); timm drops the stored head when ``num_classes`` differs from its classes.

    Raises:
        WeightsUnavailableError: the weights file is not in the cache.
        ModelError: unknown name, or ``name`` has no pretrained weights.
    """
    if not isinstance(pretrained, bool):
        raise ModelError(f"{name}: pretrained must be true or false, got {pretrained!r}")
    import timm

    arch = check_name(name).removeprefix(PREFIX)
    if not pretrained:
        net = timm.create_model(arch, num_classes=num_classes)
    else:
        path = cached_weights_file(name)
        if path is None:
            if weights_repo(name) is None:
                raise ModelError(f"{name} has no pretrained weights in timm")
            raise WeightsUnavailableError(missing_weights_message(name))
        overlay: dict[str, Any] = {"file": str(path), "hf_hub_id": None}
        try:
            net = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=overlay, num_classes=num_classes)
        except (RuntimeError, ValueError, OSError) as error:  # a cached file that cannot be read or does not fit
            raise WeightsUnavailableError(f"cannot load the weights of {name} from {path}: {error}") from error
    reason = sd_unsupported_reason(name)
    return TimmAdapter(net) if reason is None else TimmUnpooledAdapter(net, reason)
