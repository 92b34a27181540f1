"""Latency of an exported student on the machine that trained it: median milliseconds per forward.

    onnx_cpu_latency(onnx_path, image_size)       # onnxruntime, CPUExecutionProvider
    torch_cuda_latency(model, image_size, device) # PyTorch on a GPU, timed with CUDA events

Both run the student on ``BATCHES`` (1 and 64) random float32 images (B, 3, S, S) and return one
``LatencyMeasurement`` per batch size, naming the hardware and runtime they ran on.

The protocol, the same for every job so that a sweep's students compare:

* onnxruntime on the CPU with ``CPU_THREADS`` intra-op thread (1: a figure that does not depend
  on how many cores a worker has or how busy its neighbours keep them), one inter-op thread,
  sequential execution, every graph optimisation on; the ONNX file is the one the job exported;
* CUDA: the PyTorch student in eval mode, float32, under ``torch.inference_mode``; each forward is
  timed between two CUDA events, so the figure is the GPU's time, not the launch overhead seen
  from the host;
* ``WARMUP`` runs first (allocations, cuDNN's algorithm choice), then as many timed runs as fit in
  ``BUDGET_S`` judged by the last warm-up run, at least ``MIN_REPEATS`` and at most ``MAX_REPEATS``
  (a tiny student is timed 50 times in a few milliseconds, a large one 3 times), and the median.
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime
import torch
from torch import nn

BATCHES = (1, 64)
CPU_THREADS = 1
WARMUP = 2
MIN_REPEATS = 3
MAX_REPEATS = 50
BUDGET_S = 0.2
"""Seconds of timed runs aimed at per (device, batch), judged by the last warm-up run."""
SEED = 0  # the random images timed (values do not change the time; the seed keeps runs identical)


@dataclass(frozen=True)
class LatencyMeasurement:
    """The median time of one forward of ``batch`` images on ``device``, and how it was measured."""

    device: Literal["cpu", "cuda"]
    batch: int
    median_ms: float
    repeats: int
    warmup: int
    runtime: str  # "onnxruntime 1.22.0", "torch 2.8.0 (CUDA 12.8)"
    hardware: str  # the CPU's model name, the GPU's name
    threads: int | None  # onnxruntime's intra-op threads (CPU only)

    def card_entry(self) -> dict[str, Any]:
        return asdict(self)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s ``model name``, else ``platform``'s), e.g. ``AMD EPYC 7B13``."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name") and ":" in line:
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _images(batch: int, image_size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(SEED)
    return torch.randn(batch, 3, image_size, image_size, generator=generator)  # (B, 3, S, S)


def _median_ms(run: Callable[[], float]) -> tuple[float, int]:
    """``run`` returns one forward's milliseconds; the median over the repeats, and their count."""
    last = 0.0
    for _ in range(WARMUP):
        last = run()
    repeats = min(MAX_REPEATS, max(MIN_REPEATS, int(BUDGET_S * 1000 / max(last, 1e-3))))
    return statistics.median(run() for _ in range(repeats)), repeats


def onnx_cpu_latency(onnx_path: Path, image_size: int) -> list[LatencyMeasurement]:
    """The exported student in onnxruntime on the CPU (``CPU_THREADS`` thread), at each of ``BATCHES``."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = CPU_THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    measurements = []
    for batch in BATCHES:
        feed = {input_name: np.ascontiguousarray(_images(batch, image_size).numpy())}

        def run(feed: dict[str, np.ndarray] = feed) -> float:
            start = time.perf_counter()
            session.run(None, feed)
            return (time.perf_counter() - start) * 1000

        median, repeats = _median_ms(run)
        measurements.append(
            LatencyMeasurement(
                device="cpu",
                batch=batch,
                median_ms=median,
                repeats=repeats,
                warmup=WARMUP,
                runtime=f"onnxruntime {onnxruntime.__version__}",
                hardware=f"{cpu_name()} ({os.cpu_count()} logical CPUs)",
                threads=CPU_THREADS,
            )
        )
    return measurements


def torch_cuda_latency(model: nn.Module, image_size: int, device: torch.device) -> list[LatencyMeasurement]:
    """A copy of ``model`` on ``device`` (float32, eval mode) timed with CUDA events, at each of ``BATCHES``."""
    if device.type != "cuda":
        raise ValueError(f"CUDA latency needs a CUDA device, not {device}")
    model = copy.deepcopy(model).float().to(device).to(memory_format=torch.contiguous_format).eval()
    measurements = []
    with torch.inference_mode(), torch.cuda.device(device):
        for batch in BATCHES:
            images = _images(batch, image_size).to(device)  # (B, 3, S, S)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

            def run(images: torch.Tensor = images, start: Any = start, end: Any = end) -> float:
                start.record()
                model(images)
                end.record()
                end.synchronize()
                return float(start.elapsed_time(end))

            median, repeats = _median_ms(run)
            measurements.append(
                LatencyMeasurement(
                    device="cuda",
                    batch=batch,
                    median_ms=median,
                    repeats=repeats,
                    warmup=WARMUP,
                    runtime=f"torch {torch.__version__} (CUDA {torch.version.cuda})",
                    hardware=torch.cuda.get_device_name(device),
                    threads=None,
                )
            )
    return measurements
