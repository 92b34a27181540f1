"""Teacher–student top-1 agreement over a split: a known share, batches summed, no images."""

import pytest
import torch
from torch import nn

from sdd_core.trainer.evaluation import top1_agreement

CPU = torch.device("cpu")


def one_hot_batches(classes: list[int], num_classes: int, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Images that are one-hot rows of ``classes`` (so an identity model predicts that class)."""
    images = torch.eye(num_classes)[classes]  # (N, K)
    labels = torch.tensor(classes)  # (N,)
    return [(images[i : i + batch_size], labels[i : i + batch_size]) for i in range(0, len(classes), batch_size)]


def swapping_student(num_classes: int) -> nn.Linear:
    """Predicts class 1 for class 0 and 0 for 1, every other class unchanged."""
    student = nn.Linear(num_classes, num_classes, bias=False)
    order = list(range(num_classes))
    order[0], order[1] = 1, 0
    with torch.no_grad():
        student.weight.copy_(torch.eye(num_classes)[order])
    return student


def test_agreement_is_the_share_of_images_with_the_same_top1() -> None:
    teacher, student = nn.Identity(), swapping_student(4)
    batches = one_hot_batches([0, 1, 2, 3, 2, 3, 3, 0], num_classes=4, batch_size=3)  # 3 batches, the last short
    # images of class 2 and 3 agree (5 of 8), class 0 and 1 do not
    assert top1_agreement(student, teacher, batches, CPU) == pytest.approx(62.5)


def test_a_student_identical_to_its_teacher_agrees_everywhere_and_keeps_its_mode() -> None:
    teacher = swapping_student(5)
    student = swapping_student(5).train()
    assert top1_agreement(student, teacher, one_hot_batches([0, 1, 2, 3, 4], 5, 2), CPU) == 100.0
    assert student.training  # evaluated in eval mode, its train mode restored


def test_no_images_give_no_agreement() -> None:
    assert top1_agreement(swapping_student(3), nn.Identity(), [], CPU) is None
