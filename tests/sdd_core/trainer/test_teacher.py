import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from sdd_core.errors import TeacherError
from sdd_core.models import create_model
from sdd_core.spec import JobSpec
from sdd_core.trainer.distillation_step import LossConfig, student_loss, teacher_targets
from sdd_core.trainer.teacher import FrozenTeacher, classes_in_weights, load_teacher, load_weights


def _saved_resnet8(path, classes=10):
    model = create_model("resnet8", classes)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model


def test_frozen_teacher_stays_in_eval_mode_without_gradients(tmp_path):
    teacher = FrozenTeacher(create_model("resnet8", 10))
    teacher.train()
    assert not teacher.training and not teacher.model.training
    assert all(not p.requires_grad for p in teacher.parameters())
    assert not teacher(torch.randn(2, 3, 32, 32)).requires_grad


@pytest.mark.parametrize("method", ["kd", "sd-kd", "sd-dkd", "sd-nkd"])
def test_a_step_gives_the_teacher_no_gradient_and_the_student_one(method):
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method=method,
        teacher={"arch": "resnet8", "checkpoint": "unused.safetensors"},
    )
    config = LossConfig.from_spec(spec)
    teacher, student = FrozenTeacher(create_model("resnet8", 10)), create_model("resnet8", 10)
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    out = student_loss(student, images, labels, teacher_targets(teacher, images, config), config=config, epoch=1)
    out["loss"].backward()
    assert set(out) >= {"loss", "ce", "kd"}
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    if method.startswith("sd-"):
        assert 0.0 <= float(out["complementary"]) <= 1.0


def test_load_teacher_strictly_and_count_its_classes(tmp_path):
    path = tmp_path / "t.safetensors"
    model = _saved_resnet8(path, classes=7)
    assert classes_in_weights(load_weights(path), "resnet8") == 7
    loaded = load_teacher("resnet8", path, 7)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    with pytest.raises(TeacherError, match="does not fit"):
        load_teacher("resnet20", path, 7)


def test_missing_and_corrupt_teacher_files(tmp_path):
    with pytest.raises(TeacherError, match="does not exist"):
        load_weights(tmp_path / "absent.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(TeacherError, match="cannot be read"):
        load_weights(bad)


class _RunsCode:
    def __reduce__(self):
        return (open, ("/tmp/sdd-pickle-ran", "w"))


def test_a_pickle_that_would_run_code_never_does(tmp_path):
    marker = "/tmp/sdd-pickle-ran"
    if os.path.exists(marker):
        os.remove(marker)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"fc.weight": _RunsCode()}, handle)
    with pytest.raises(TeacherError):
        load_weights(path)
    assert not os.path.exists(marker)
