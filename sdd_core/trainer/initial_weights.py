"""Where a job's models get their first weights: a file, pretrained weights, or a fresh init.

Pretrained weights are read from the local caches (torch hub for ``tv/``, Hugging Face for
``timm/``); with ``allow_download`` a missing file is fetched into its cache first, else the job
fails naming the file and where it must lie. A warm start loads a file saved from the student's
own architecture; its head is kept only when the class counts agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdd_core.errors import ModelError, TeacherError
from sdd_core.models import (
    PooledLinearClassifier,
    PretrainedWeights,
    create_model,
    download_pretrained_weights,
    pretrained_weights_of,
    require_pretrained_weights,
)
from sdd_core.spec import JobSpec, TeacherCheckpoint, WarmStart
from sdd_core.trainer.export import sha256_file
from sdd_core.trainer.teacher import head_weight_key, load_teacher, load_weights


def available_pretrained(arch: str, allow_download: bool) -> PretrainedWeights:
    """``arch``'s pretrained weights, fetched into the cache first if absent and downloads are allowed."""
    weights = pretrained_weights_of(arch)
    if weights is not None and weights.file is None and allow_download:
        download_pretrained_weights(arch)
    return require_pretrained_weights(arch)


def build_teacher(
    teacher: TeacherCheckpoint, num_classes: int, allow_download: bool
) -> tuple[PooledLinearClassifier, str]:
    """The teacher model and the SHA-256 of the weights file it was loaded from."""
    if not teacher.pretrained:
        assert teacher.checkpoint is not None
        return load_teacher(teacher.arch, teacher.checkpoint, num_classes), sha256_file(Path(teacher.checkpoint))
    try:
        weights = available_pretrained(teacher.arch, allow_download)
        model = create_model(teacher.arch, num_classes, pretrained=True)
    except ModelError as exc:
        raise TeacherError(f"teacher {teacher.arch}: {exc}") from exc
    assert weights.file is not None
    return model, sha256_file(weights.file)


def build_student(
    spec: JobSpec, num_classes: int, allow_download: bool
) -> tuple[PooledLinearClassifier, dict[str, Any]]:
    """The student before its first epoch, and what the card records of its start (``init``)."""
    init = spec.init
    if init == "scratch":
        return create_model(spec.student, num_classes), {"from": "scratch"}
    if init == "pretrained":
        weights = available_pretrained(spec.student, allow_download)
        assert weights.file is not None
        model = create_model(spec.student, num_classes, pretrained=True)
        head = "loaded" if weights.num_classes == num_classes else "fresh"
        return model, {"from": "pretrained", "weights_sha256": sha256_file(weights.file), "head": head}
    assert isinstance(init, WarmStart)
    model = create_model(spec.student, num_classes)
    head = warm_start_(model, spec.student, Path(init.checkpoint))
    return model, {"from": "warm start", "weights_sha256": sha256_file(Path(init.checkpoint)), "head": head}


def warm_start_(model: PooledLinearClassifier, arch: str, path: Path) -> str:
    """Load ``path`` into ``model`` in place: every tensor, or all but the head when its class
    count differs. Returns ``"loaded"`` or ``"fresh"`` (the head's state).

    Raises:
        ModelError: the file is unreadable or was not saved from ``arch``.
    """
    try:
        state = load_weights(path)
    except TeacherError as exc:  # the same reader as a teacher's; the message names the file
        raise ModelError(str(exc).replace("teacher checkpoint", "warm-start weights")) from exc
    key = head_weight_key(arch)
    head_prefix = key.removesuffix("weight")
    own = model.state_dict()
    if key in state and key in own and state[key].shape != own[key].shape:
        state = {k: v for k, v in state.items() if not k.startswith(head_prefix)}
        head = "fresh"
    else:
        head = "loaded"
    try:
        result = model.load_state_dict(state, strict=head == "loaded")
    except RuntimeError as exc:
        raise ModelError(f"warm-start weights {path} do not fit {arch}: {str(exc).splitlines()[0]}") from exc
    missing = [k for k in result.missing_keys if not k.startswith(head_prefix)]
    if missing or result.unexpected_keys:
        raise ModelError(
            f"warm-start weights {path} do not fit {arch}: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    return head
