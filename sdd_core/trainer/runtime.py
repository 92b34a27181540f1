"""Device choice, mixed precision, compilation and seeding, decided at run time (CPU and CUDA alike)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from sdd_core.errors import SpecError


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; an explicit CUDA device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SpecError(
                "hyperparameters.device", f"{name!r} asked for but no CUDA device is available", ["auto", "cpu"]
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise SpecError(
                "hyperparameters.device", f"{name!r} does not exist; {torch.cuda.device_count()} CUDA device(s) found"
            )
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' on a CUDA device that supports it, else 'fp32'; bf16 is CUDA-only."""
    if device.type != "cuda":
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA when asked; a no-op otherwise (fp32 everywhere on CPU)."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


COMPILE_AUTO_MIN_STEPS = 10_000
"""``compile: auto`` compiles a job of at least this many training steps (epochs x batches).

Measured on this project's 2-core CPU (batch 64, 32 px, SD-KD; ``benchmarks/epoch_throughput.py
--compile`` and the trainer's ``TrainStep``): resnet32x4 -> resnet8x4 compiles in about 40 s and
then takes 0.53 s a step instead of 0.71 s, paying back after about 220 steps; resnet8 -> resnet8
compiles in 30-40 s (20 s with inductor's cache warm) and then takes 24 ms instead of 37-44 ms,
paying back after 2,000-2,700 steps. 10,000 steps leaves a margin for pairs that gain less; on
CUDA, where a small pair's eager step is bound by kernel launches, the gain is expected to be
larger and the same threshold is kept until ``benchmarks/gpu_check.sh`` measures it. CIFAR-100's
240 epochs at batch 64 are 187,680 steps (compiled); a 10-epoch digits job is 230 (eager). The
decision depends on the job alone, not on how far it got, so a resumed run makes the same one.
"""


def resolve_compile(mode: str, total_steps: int) -> bool:
    """Whether to ``torch.compile`` the step: 'on', 'off', or 'auto' (long jobs, see above)."""
    if mode == "auto":
        return total_steps >= COMPILE_AUTO_MIN_STEPS
    return mode == "on"


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch: every epoch's randomness derives from (seed, epoch) alone, so a run
    resumed at epoch e draws exactly what the uninterrupted run drew."""
    return (seed * 1_000_003 + epoch) % (2**63 - 1)


def data_seed(epoch_seed_value: int) -> int:
    """The seed of an epoch's data (shuffle and augmentation), a stream apart from the global
    RNGs that the same epoch seed seeds for the model (dropout)."""
    return (epoch_seed_value * 6_364_136_223_846_793_005 + 1_442_695_040_888_963_407) % (2**63 - 1)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain numbers (loadable with ``weights_only=True``)."""
    version, keys, gauss = random.getstate()
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)  # legacy=True: ("MT19937", keys, pos, has_gauss, gauss)
    _, np_keys, np_pos, np_has_gauss, np_gauss = np_state
    state: dict[str, Any] = {
        "python": {"version": version, "keys": torch.tensor(keys, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(k) for k in py["keys"].tolist()), py["gauss"]))
    npst = state["numpy"]
    np_keys = npst["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", np_keys, npst["pos"], npst["has_gauss"], npst["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def inference(model: torch.nn.Module) -> Iterator[None]:
    """Evaluate ``model`` without gradients and restore its train/eval mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)
