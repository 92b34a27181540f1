"""Checks that refuse an impossible job before any training starts.

``check_compatibility(spec, options)`` is the one check of a whole ``JobSpec`` (its dataset
readable, its teacher's weights, the architectures); ``train`` trusts a spec that passed it.
``check_architectures`` is its part that needs neither data nor weights:

* the teacher, the student and the dataset must agree on the class count (a pretrained teacher's
  weights predict their own dataset's classes: ImageNet's 1000 for most);
* SD methods need models whose head is global pooling + one linear layer;
* every SDD scale must fit both final feature maps (scale <= min(H, W)).

Feature-map sizes come from a forward pass on the ``meta`` device: shapes only, no memory, no
compute, so the REST API can run these checks on every submission.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sdd_core.data import DatasetInfo, describe_dataset
from sdd_core.errors import ModelError, SpecError
from sdd_core.models import create_model, pretrained_weights_of, sd_support
from sdd_core.spec import SD_METHODS, JobSpec
from sdd_core.trainer.options import TrainOptions
from sdd_core.trainer.teacher import classes_in_weights, load_weights


def check_compatibility(spec: JobSpec, options: TrainOptions | None = None) -> DatasetInfo:
    """Refuse an impossible job before training: dataset readable, class counts, scales vs maps.

    Raises ``SDDError``s (``SpecError`` naming the field, ``DataError``, ``TeacherError``); returns
    what the dataset turned out to be.
    """
    options = options or TrainOptions()
    info = describe_dataset(
        spec.dataset, data_root=options.data_root, image_size=spec.image_size, download=options.allow_download
    )
    teacher_classes = None
    if spec.teacher is not None and spec.teacher.pretrained:
        teacher_classes = pretrained_classes(spec.teacher.arch, "teacher")
    elif spec.teacher is not None:
        assert spec.teacher.checkpoint is not None
        teacher_classes = classes_in_weights(load_weights(spec.teacher.checkpoint), spec.teacher.arch)
    if spec.init == "pretrained":
        pretrained_classes(spec.student, "init")
    check_architectures(
        method=spec.method,
        scales=spec.scales or (),
        student=spec.student,
        teacher_arch=spec.teacher.arch if spec.teacher else None,
        num_classes=info.num_classes,
        teacher_num_classes=teacher_classes,
        image_size=info.image_size,
        teacher_pretrained=spec.teacher is not None and spec.teacher.pretrained,
    )
    return info


def pretrained_classes(arch: str, field: str) -> int:
    """The class count of ``arch``'s pretrained weights; a ``SpecError`` on ``field`` if it has none."""
    weights = pretrained_weights_of(arch)
    if weights is None:
        raise SpecError(
            field, f"{arch} has no pretrained weights; the tv/<name> and timm/<name> architectures have them"
        )
    return weights.num_classes


def feature_map_size(arch: str, num_classes: int, image_size: int) -> tuple[int, int]:
    """(H, W) of ``arch``'s final feature map for square inputs of ``image_size`` pixels."""
    with torch.device("meta"):
        model = create_model(arch, num_classes).eval()  # eval: batch norm accepts a 1x1 map of batch 1
        features = model.forward_features(torch.empty(1, 3, image_size, image_size))  # (1, C, H, W)
    return int(features.shape[2]), int(features.shape[3])


def check_architectures(
    *,
    method: str,
    scales: Sequence[int],
    student: str,
    teacher_arch: str | None,
    num_classes: int,
    teacher_num_classes: int | None,
    image_size: int,
    teacher_pretrained: bool = False,
) -> None:
    """Raise ``SpecError`` naming the field at fault if this combination cannot be trained."""
    if teacher_pretrained and teacher_num_classes != num_classes:
        raise SpecError(
            "teacher",
            f"pretrained {teacher_arch} predicts the {teacher_num_classes} classes of the data its weights were "
            f"trained on, but the dataset has {num_classes}; fine-tune a teacher on this dataset first (a 'ce' job "
            f"with student {teacher_arch} and init 'pretrained') and name that job as the teacher",
        )
    if teacher_arch is not None and teacher_num_classes is not None and teacher_num_classes != num_classes:
        raise SpecError(
            "teacher",
            f"the teacher predicts {teacher_num_classes} classes but the dataset has {num_classes}",
        )
    if method not in SD_METHODS:
        return
    for field, arch in (("student", student), ("teacher", teacher_arch)):
        if arch is None:
            continue
        reason = sd_support(arch)
        if reason is not None:
            raise SpecError(field, f"{arch} cannot be used with {method}: {reason}")
        try:
            height, width = feature_map_size(arch, num_classes, image_size)
        except (RuntimeError, ModelError) as exc:  # e.g. an input too small for the network
            raise SpecError("image_size", f"{arch} cannot process {image_size}px images: {exc}") from exc
        too_big = [s for s in scales if s > min(height, width)]
        if too_big:
            raise SpecError(
                "scales",
                f"scale(s) {too_big} exceed {arch}'s {height}x{width} final feature map at {image_size}px; "
                f"use scales no larger than {min(height, width)}",
            )
