"""``StudentCost``: what a finished job's student costs to run (its result's and model card's ``cost``),
as ``sdd_core.cost`` measured it on the worker that trained it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class LatencyMeasurement(BaseModel):
    """The median time of one forward of ``batch`` images, and where and how it was measured."""

    device: Literal["cpu", "cuda"] = Field(
        description="cpu: the exported ONNX student in onnxruntime; cuda: the PyTorch student (float32) on the GPU "
        "the job trained on, timed with CUDA events."
    )
    batch: int = Field(description="Images per forward (1 and 64).", examples=[1])
    median_ms: float = Field(description="Median milliseconds per forward over the timed runs.", examples=[0.42])
    repeats: int = Field(description="Timed runs (fewer for a slow student).", examples=[50])
    warmup: int = Field(description="Untimed runs before them.", examples=[2])
    runtime: str = Field(examples=["onnxruntime 1.22.0"])
    hardware: str = Field(
        description="The CPU's model name or the GPU's name.", examples=["AMD EPYC 7B13 (16 logical CPUs)"]
    )
    threads: int | None = Field(None, description="onnxruntime's intra-op threads (CPU only).", examples=[1])


class StudentCost(BaseModel):
    """The student's parameters, FLOPs per image and measured latencies."""

    parameters: int = Field(examples=[78042])
    flops_per_image: int | None = Field(
        None,
        description="FLOPs of one forward of one image at image_size, as PyTorch's FLOP counter counts them "
        "(2 per multiply-add of convolutions and matrix products); null when it could not count them.",
        examples=[25003264],
    )
    image_size: int = Field(description="The image size the FLOPs and latencies are for.", examples=[32])
    latency: list[LatencyMeasurement] = Field(
        default_factory=list, description="One per device and batch size measured."
    )
    skipped: dict[str, str] = Field(
        default_factory=dict,
        description="Why a figure is missing, by device (cpu, cuda) or 'flops': e.g. no GPU on the worker.",
    )
