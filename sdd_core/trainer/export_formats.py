"""The student as ONNX and TorchScript, each checked against the PyTorch student before it is kept.

``export_student(model, images, out_dir)`` writes, from a CPU float32 copy of the model in eval mode:

* ``student.onnx``: ``torch.onnx.export`` (opset ``ONNX_OPSET``; by tracing, else by torch.export),
  input ``images`` (B, 3, H, W) with a dynamic batch axis, output ``logits`` (B, K); runs with
  ``onnxruntime``;
* ``student.pt``: ``torch.jit.trace``, saved with ``torch.jit.save``; loads with ``torch.jit.load``.

Each file is run on the validation images given (all of them, then the first alone, so the batch
axis is checked too) and kept only if its logits are within ``EXPORT_TOLERANCE`` of the student's.
A refused or failed export is reported in ``Exports.refused``, never raised: the safetensors
weights are what a run must produce, the other formats are a convenience.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime
import torch
from torch import nn

from sdd_core.trainer.checkpoint import atomic_write
from sdd_core.trainer.export import sha256_file
from sdd_core.trainer.student_formats import STUDENT_SUFFIXES

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("onnx", "torchscript")
"""The formats exported besides safetensors."""
ONNX_OPSET = 18  # the newest opset onnxruntime has supported for years (1.14+): wide reach for users
EXPORT_TOLERANCE = 1e-3
"""Largest absolute difference of any logit between an export and the PyTorch student."""
CHECK_IMAGES = 8
"""Validation images an export is checked on."""
INPUT_NAME, OUTPUT_NAME = "images", "logits"


@dataclass(frozen=True)
class StudentExport:
    """One kept export: its file, SHA-256 and largest logit difference from the PyTorch student."""

    format: str
    path: Path
    sha256: str
    max_abs_diff: float

    def card_entry(self) -> dict[str, Any]:
        """What the model card records of it (``exports[format]``)."""
        entry: dict[str, Any] = {
            "file": self.path.name,
            "sha256": self.sha256,
            "max_abs_diff": self.max_abs_diff,
            "tolerance": EXPORT_TOLERANCE,
        }
        if self.format == "onnx":
            entry.update(opset=ONNX_OPSET, input=INPUT_NAME, output=OUTPUT_NAME, dynamic_axes={"batch": 0})
        return entry


@dataclass
class Exports:
    """What ``export_student`` kept, by format, and why it refused the others."""

    kept: dict[str, StudentExport] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def card(self) -> dict[str, dict[str, Any]]:
        return {name: export.card_entry() for name, export in self.kept.items()}


def _onnx_by_tracing(model: nn.Module, images: torch.Tensor, tmp: Path) -> None:
    """torch.onnx's TorchScript-based exporter: about 0.3 s for a CIFAR ResNet on a CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated upstream in favour of the dynamo exporter
        torch.onnx.export(
            model,
            (images,),
            str(tmp),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=ONNX_OPSET,
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            dynamo=False,
        )


def _onnx_by_dynamo(model: nn.Module, images: torch.Tensor, tmp: Path) -> None:
    """torch.onnx's torch.export-based exporter: slower (seconds), for what tracing cannot express."""
    torch.onnx.export(
        model,
        (images,),
        str(tmp),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        opset_version=ONNX_OPSET,
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        dynamo=True,
        external_data=False,  # one file, as the artifact store keeps it
        verbose=False,
    )


def _export_onnx(model: nn.Module, images: torch.Tensor, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    try:
        atomic_write(path, lambda tmp: _onnx_by_tracing(model, images, tmp))
    except Exception as exc:  # an op the tracing exporter lacks, or a torch without it
        log.info("ONNX export by tracing failed (%s); exporting with torch.export", exc)
        atomic_write(path, lambda tmp: _onnx_by_dynamo(model, images, tmp))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run(None, {INPUT_NAME: x.numpy()})[0])


def _export_torchscript(model: nn.Module, images: torch.Tensor, path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream, still loadable everywhere
        traced = torch.jit.trace(model, images, check_trace=False)  # checked below, once
        atomic_write(path, lambda tmp: torch.jit.save(traced, str(tmp)))
        loaded = torch.jit.load(str(path), map_location="cpu")
    return lambda x: loaded(x)


EXPORTERS = {"onnx": _export_onnx, "torchscript": _export_torchscript}


def export_student(
    model: nn.Module,
    images: torch.Tensor,
    out_dir: Path,
    *,
    name: str = "student",
    formats: tuple[str, ...] = EXPORT_FORMATS,
    tolerance: float = EXPORT_TOLERANCE,
) -> Exports:
    """Export ``model`` as each of ``formats`` into ``out_dir/<name><suffix>``, checked on ``images``
    (B, 3, H, W) normalised as in training; files that fail the check are deleted."""
    reference = copy.deepcopy(model).float().cpu().to(memory_format=torch.contiguous_format).eval()
    images = images[:CHECK_IMAGES].detach().float().cpu().contiguous()  # (b, 3, H, W), b <= CHECK_IMAGES
    exports = Exports()
    if images.shape[0] == 0:
        exports.refused = {fmt: "no validation images to check the export against" for fmt in formats}
        return exports
    with torch.no_grad():
        checks = [(x, reference(x)) for x in (images, images[:1])]  # (b, K) logits, then (1, K)
        for fmt in formats:
            path = out_dir / f"{name}{STUDENT_SUFFIXES[fmt]}"
            try:
                run = EXPORTERS[fmt](reference, images, path)
                diff = max(float((run(x) - want).abs().max()) for x, want in checks)
            except Exception as exc:  # an architecture the exporter cannot express: keep the others
                log.warning("%s export failed: %s", fmt, exc, exc_info=True)
                exports.refused[fmt] = f"the {fmt} export failed: {type(exc).__name__}: {exc}"[:500]
                path.unlink(missing_ok=True)
                continue
            if not diff <= tolerance:  # also refuses NaN
                exports.refused[fmt] = (
                    f"its logits differ from the PyTorch student's by {diff:.3g} (tolerance {tolerance:g})"
                )
                path.unlink(missing_ok=True)
                continue
            exports.kept[fmt] = StudentExport(fmt, path, sha256_file(path), diff)
    for fmt, reason in exports.refused.items():
        log.warning("student not exported as %s: %s", fmt, reason)
    return exports
