"""A job's first weights: pretrained (from the caches the loaders read), a warm start from a file,
or scratch; and the pretrained teacher's class-count rule."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sdd_core.errors import ModelError, SpecError, WeightsUnavailableError
from sdd_core.spec import JobSpec, TeacherCheckpoint, WarmStart
from sdd_core.trainer import TrainOptions, train
from sdd_core.trainer.compatibility import check_compatibility
from sdd_core.trainer.initial_weights import build_teacher
from tests.fixtures.weights_caches import write_timm_weights

# lr 1e-9 and no weight decay: the weights the student ends with are the ones it started from
# (batch-norm statistics aside), so the test sees exactly what initialised it.
FROZEN = {"epochs": 1, "batch_size": 256, "lr": 1e-9, "weight_decay": 0.0, "device": "cpu", "compile": "off"}


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    yield tmp_path / "hf"


def _card(out: Path) -> dict:
    return json.loads((out / "card.json").read_text())


def _trained(spec: JobSpec, out: Path) -> dict[str, torch.Tensor]:
    train(spec, out, options=TrainOptions(data_root=out / "data"))
    return load_file(str(out / "student.safetensors"))


def test_a_pretrained_timm_student_starts_from_the_cached_weights_with_a_fresh_head(
    hf_cache: Path, tmp_path: Path
) -> None:
    stored = write_timm_weights(hf_cache, "timm/test_resnet")
    spec = JobSpec(
        dataset="digits",
        student="timm/test_resnet",
        method="ce",
        image_size=32,
        init="pretrained",
        hyperparameters=FROZEN,
    )
    weights = _trained(spec, tmp_path / "run")
    for key, tensor in stored.items():
        if key.endswith(".weight") and not key.startswith("fc.") and "bn" not in key:
            torch.testing.assert_close(weights[f"net.{key}"], tensor, rtol=0, atol=1e-6)
    assert weights["net.fc.weight"].shape == (10, stored["fc.weight"].shape[1])
    init = _card(tmp_path / "run")["training"]["init"]
    assert init["from"] == "pretrained" and init["head"] == "fresh" and len(init["weights_sha256"]) == 64


def test_a_missing_pretrained_file_fails_the_job_naming_it(hf_cache: Path, tmp_path: Path) -> None:
    spec = JobSpec(
        dataset="digits",
        student="timm/test_resnet",
        method="ce",
        image_size=32,
        init="pretrained",
        hyperparameters=FROZEN,
    )
    with pytest.raises(WeightsUnavailableError, match="models--timm--test_resnet.r160_in1k"):
        train(spec, tmp_path / "run", options=TrainOptions(data_root=tmp_path / "data"))


def test_a_warm_start_loads_every_tensor_of_a_file_of_the_same_architecture(tmp_path: Path) -> None:
    first = JobSpec(dataset="digits", student="resnet8", method="ce", hyperparameters=FROZEN | {"lr": 0.05})
    trained = _trained(first, tmp_path / "first")
    warm = first.model_copy(update={"init": WarmStart(checkpoint=str(tmp_path / "first" / "student.safetensors"))})
    warm = JobSpec.model_validate(warm.model_dump() | {"hyperparameters": FROZEN})
    again = _trained(warm, tmp_path / "warm")
    for key, tensor in trained.items():
        if key.endswith("weight") and "bn" not in key:
            torch.testing.assert_close(again[key], tensor, rtol=0, atol=1e-6)
    assert _card(tmp_path / "warm")["training"]["init"]["head"] == "loaded"


def test_a_warm_start_from_another_architecture_is_refused(tmp_path: Path) -> None:
    first = JobSpec(dataset="digits", student="resnet8", method="ce", hyperparameters=FROZEN)
    _trained(first, tmp_path / "first")
    wrong = JobSpec(
        dataset="digits",
        student="resnet14",
        method="ce",
        init={"checkpoint": str(tmp_path / "first" / "student.safetensors")},
        hyperparameters=FROZEN,
    )
    with pytest.raises(ModelError, match="warm-start weights .* do not fit resnet14"):
        train(wrong, tmp_path / "wrong", options=TrainOptions(data_root=tmp_path / "data"))


def test_a_pretrained_teacher_loads_from_the_cache_and_must_predict_the_datasets_classes(
    hf_cache: Path, tmp_path: Path
) -> None:
    stored = write_timm_weights(hf_cache, "timm/test_resnet")
    model, digest = build_teacher(TeacherCheckpoint(arch="timm/test_resnet", pretrained=True), 1000, False)
    torch.testing.assert_close(model.net.state_dict()["fc.weight"], stored["fc.weight"], rtol=0, atol=0)
    assert len(digest) == 64

    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method="kd",
        teacher={"arch": "timm/test_resnet", "pretrained": True},
        hyperparameters=FROZEN,
    )
    with pytest.raises(SpecError) as caught:
        check_compatibility(spec, TrainOptions(data_root=tmp_path / "data"))
    assert caught.value.field == "teacher"
    assert "predicts the 1000 classes" in str(caught.value) and "init 'pretrained'" in str(caught.value)


def test_a_teacher_names_exactly_one_source_and_a_cifar_model_has_no_pretrained_weights(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="either a checkpoint file or pretrained"):
        TeacherCheckpoint(arch="resnet8", checkpoint="x.safetensors", pretrained=True)
    with pytest.raises(ValueError, match="either a checkpoint file or pretrained"):
        TeacherCheckpoint(arch="resnet8")
    spec = JobSpec(dataset="digits", student="resnet8", method="ce", init="pretrained", hyperparameters=FROZEN)
    with pytest.raises(SpecError, match="resnet8 has no pretrained weights"):
        check_compatibility(spec, TrainOptions(data_root=tmp_path / "data"))
