"""What a student costs to run, for its model card's ``cost`` block: parameters, FLOPs, latency.

    student_cost(model, image_size, onnx_path=..., device=...) -> StudentCost

* ``parameters``: every element of every parameter (the card's top-level ``parameters`` too);
* ``flops_per_image``: ``torch.utils.flop_counter.FlopCounterMode`` over one forward of one image
  (1, 3, S, S) at the job's image size, on a CPU float32 copy in eval mode. PyTorch counts 2 FLOPs
  per multiply-add of convolutions and matrix products and nothing for elementwise work (BatchNorm,
  activations, pooling), so this is the usual "2 × MACs" figure;
* ``latency``: the exported ONNX student in onnxruntime on the CPU, and the PyTorch student on the
  GPU the job trained on when it trained on one (``latency.py`` has the protocol).

A measurement that cannot be made (no ONNX export, no GPU, an error) is left out and its reason kept
in ``skipped`` (``{"cuda": "the job trained on the CPU ..."}``): a cost figure never fails a job.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sdd_core.cost.latency import CPU_THREADS, LatencyMeasurement, onnx_cpu_latency, torch_cuda_latency

log = logging.getLogger(__name__)

FLOP_COUNTER = "torch.utils.flop_counter.FlopCounterMode"


@dataclass
class StudentCost:
    """A student's size, work per image and measured latencies (``card_entry`` is the card's ``cost``)."""

    parameters: int
    flops_per_image: int | None
    image_size: int
    latency: list[LatencyMeasurement] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def card_entry(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "flops_per_image": self.flops_per_image,
            "flop_counter": FLOP_COUNTER,
            "image_size": self.image_size,
            "latency": [measurement.card_entry() for measurement in self.latency],
            "skipped": self.skipped,
        }


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_image(model: nn.Module, image_size: int) -> int:
    """FLOPs of one forward of one (1, 3, S, S) image, counted by PyTorch on a CPU float32 copy in eval mode."""
    reference = copy.deepcopy(model).float().cpu().to(memory_format=torch.contiguous_format).eval()
    image = torch.zeros(1, 3, image_size, image_size)  # (1, 3, S, S)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        reference(image)
    return int(counter.get_total_flops())


def student_cost(
    model: nn.Module,
    image_size: int,
    *,
    onnx_path: Path | None,
    device: torch.device,
    onnx_missing_reason: str | None = None,
) -> StudentCost:
    """Parameters, FLOPs per image and the latencies that can be measured here; never raises for a
    measurement, only records why it is missing."""
    cost = StudentCost(parameters=count_parameters(model), flops_per_image=None, image_size=image_size)
    try:
        cost.flops_per_image = flops_per_image(model, image_size)
    except Exception as exc:  # an op the counter cannot trace: the other figures still stand
        log.warning("FLOPs not counted: %s", exc, exc_info=True)
        cost.skipped["flops"] = f"PyTorch's FLOP counter failed: {type(exc).__name__}: {exc}"[:300]
    if onnx_path is None:
        cost.skipped["cpu"] = f"no ONNX export to time ({onnx_missing_reason or 'not exported'})"[:300]
    else:
        try:
            cost.latency += onnx_cpu_latency(onnx_path, image_size)
        except Exception as exc:
            log.warning("CPU latency not measured: %s", exc, exc_info=True)
            cost.skipped["cpu"] = f"onnxruntime failed: {type(exc).__name__}: {exc}"[:300]
    if device.type != "cuda":
        cost.skipped["cuda"] = "the job trained on the CPU: no GPU to time it on"
    else:
        try:
            cost.latency += torch_cuda_latency(model, image_size, device)
        except Exception as exc:
            log.warning("CUDA latency not measured: %s", exc, exc_info=True)
            cost.skipped["cuda"] = f"timing on {device} failed: {type(exc).__name__}: {exc}"[:300]
    for m in cost.latency:
        log.info("latency %s batch %d: %.3f ms (median of %d, %s)", m.device, m.batch, m.median_ms, m.repeats,
                 f"{CPU_THREADS} thread" if m.device == "cpu" else m.hardware)  # fmt: skip
    return cost
