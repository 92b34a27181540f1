import torch

from sdd_core.models import create_model
from sdd_core.spec import JobSpec
from sdd_core.trainer.distillation_step import LossConfig, student_loss, teacher_targets
from sdd_core.trainer.teacher import FrozenTeacher


def _config(method: str) -> LossConfig:
    return LossConfig.from_spec(
        JobSpec(
            dataset="digits",
            student="tv/mobilenet_v2",
            method=method,
            scales=[1, 2] if method.startswith("sd-") else None,
            teacher={"arch": "resnet8", "checkpoint": "unused.safetensors"},
        )
    )


def test_a_student_with_head_dropout_trains_with_it_under_sd_kd_as_under_kd():
    torch.manual_seed(0)
    teacher, student = FrozenTeacher(create_model("resnet8", 10)), create_model("tv/mobilenet_v2", 10).train()
    images, labels = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 3])
    outs = {}
    for method in ("kd", "sd-kd"):
        config = _config(method)
        targets = teacher_targets(teacher, images, config)
        torch.manual_seed(1)  # the same dropout mask for both, if both apply it
        outs[method] = student_loss(student, images, labels, targets, config=config, epoch=1)
    torch.testing.assert_close(outs["sd-kd"]["logits"], outs["kd"]["logits"])
    torch.testing.assert_close(outs["sd-kd"]["ce"], outs["kd"]["ce"])
    with torch.no_grad():
        undropped = student.get_classifier()(student.forward_features(images).mean((2, 3)))  # (B, K)
    assert not torch.allclose(outs["sd-kd"]["logits"], undropped)
