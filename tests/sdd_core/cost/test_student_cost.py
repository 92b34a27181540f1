"""``sdd_core.cost``: parameters, FLOPs per image and latency of an exported student, on the CPU here
and on CUDA where there is a GPU."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from torch import nn

from sdd_core.cost import BATCHES, CPU_THREADS, student_cost
from sdd_core.cost.latency import MAX_REPEATS, MIN_REPEATS, WARMUP, cpu_name, torch_cuda_latency
from sdd_core.cost.student_cost import flops_per_image
from sdd_core.models import create_model
from sdd_core.trainer.export_formats import export_student

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_flops_by_hand() -> None:
    """A 3x3 convolution (3 -> 4 channels, 8x8 output) and a linear layer: 2 FLOPs per multiply-add."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    conv = 2 * (4 * 8 * 8) * (3 * 3 * 3)  # outputs x multiply-adds per output
    linear = 2 * (4 * 8 * 8) * 10
    assert flops_per_image(model, 8) == conv + linear == 18944
    assert model.training  # counted on a copy: the model keeps its mode


def test_a_tiny_student_s_cost_on_the_cpu(tmp_path: Path) -> None:
    model = create_model("resnet8", 10)
    exports = export_student(model, torch.randn(4, 3, 16, 16), tmp_path, formats=("onnx",))
    started = time.perf_counter()
    cost = student_cost(model, 16, onnx_path=exports.kept["onnx"].path, device=torch.device("cpu"))
    seconds = time.perf_counter() - started
    assert seconds < 2.0  # cheap enough to run after every job
    assert cost.parameters == sum(p.numel() for p in model.parameters()) == 78042
    # resnet8 at 32 px is the textbook 12.5 M multiply-adds; at 16 px a quarter of the positions
    assert cost.flops_per_image == flops_per_image(model, 16) and 5e6 < cost.flops_per_image < 7e6
    assert (
        [(m.device, m.batch) for m in cost.latency]
        == [("cpu", batch) for batch in BATCHES]
        == [("cpu", 1), ("cpu", 64)]
    )
    one, many = cost.latency
    assert 0 < one.median_ms < many.median_ms  # 64 images take longer than one
    for m in cost.latency:
        assert MIN_REPEATS <= m.repeats <= MAX_REPEATS and m.warmup == WARMUP
        assert m.threads == CPU_THREADS == 1 and m.runtime.startswith("onnxruntime ")
        assert m.hardware.startswith(cpu_name()) and "logical CPUs" in m.hardware
    assert cost.skipped == {"cuda": "the job trained on the CPU: no GPU to time it on"}
    entry = cost.card_entry()
    assert entry["flop_counter"] == "torch.utils.flop_counter.FlopCounterMode" and entry["image_size"] == 16
    assert entry["latency"][0] == {
        "device": "cpu", "batch": 1, "median_ms": one.median_ms, "repeats": one.repeats, "warmup": WARMUP,
        "runtime": one.runtime, "hardware": one.hardware, "threads": 1,
    }  # fmt: skip


def test_without_an_onnx_export_the_cpu_latency_says_why() -> None:
    cost = student_cost(
        create_model("resnet8", 10), 8, onnx_path=None, device=torch.device("cpu"),
        onnx_missing_reason="the onnx export failed: RuntimeError: unsupported op",
    )  # fmt: skip
    assert cost.latency == [] and cost.parameters == 78042 and cost.flops_per_image
    assert cost.skipped["cpu"] == "no ONNX export to time (the onnx export failed: RuntimeError: unsupported op)"


@needs_cuda
def test_cuda_latency_on_the_gpu() -> None:
    model = create_model("resnet8", 10)
    device = torch.device("cuda", 0)
    measurements = torch_cuda_latency(model, 16, device)
    assert [(m.device, m.batch) for m in measurements] == [("cuda", 1), ("cuda", 64)]
    for m in measurements:
        assert m.median_ms > 0 and m.hardware == torch.cuda.get_device_name(device) and m.threads is None
        assert m.runtime.startswith(f"torch {torch.__version__} (CUDA ")
    assert next(model.parameters()).device.type == "cpu"  # timed on a copy
    cost = student_cost(model, 16, onnx_path=None, device=device)
    assert "cuda" not in cost.skipped and [m.device for m in cost.latency] == ["cuda", "cuda"]
