"""Lockstep groups: one teacher forward per batch for several students, each ending with exactly
the weights it ends with when trained alone; a student that stops or fails leaves the group."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sdd_core.spec import JobSpec
from sdd_core.trainer import CheckpointError, GroupMember, TrainCallbacks, TrainOptions, train, train_group
from sdd_core.trainer.distillation_step import TeacherTargets


def _spec(teacher: dict, **fields) -> JobSpec:
    body = {
        "dataset": "digits",
        "student": "resnet8",
        "method": "sd-kd",
        "seed": 5,
        "image_size": 16,
        "teacher": {"arch": teacher["arch"], "checkpoint": teacher["checkpoint"]},
        "hyperparameters": {"epochs": 2, "batch_size": 256, "lr": 0.1, "device": "cpu"},
    }
    return JobSpec.model_validate(body | fields)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_members_end_bit_identical_to_their_solo_runs(digits_teacher, data_root, tmp_path):
    """Two SD-KD students of different beta and scales and a KD one, in one group and alone."""
    specs = [
        _spec(digits_teacher, beta=1.0, scales=[1, 2]),
        _spec(digits_teacher, beta=4.0, scales=[1, 2, 4]),
        _spec(digits_teacher, method="kd", student="resnet14"),
    ]
    options = TrainOptions(data_root=data_root)
    calls = {"n": 0}
    original = TeacherTargets._forward

    def counted(self, images):
        calls["n"] += 1
        return original(self, images)

    TeacherTargets._forward = counted  # count teacher forwards
    try:
        grouped = train_group([GroupMember(s, tmp_path / f"g{i}") for i, s in enumerate(specs)], options=options)
        group_forwards = calls["n"]
    finally:
        TeacherTargets._forward = original
    assert all(result.status == "completed" for result in grouped)
    assert group_forwards == 2 * 6  # one per batch (6 of 256 images per epoch) for all three students
    for i, spec in enumerate(specs):
        alone = train(spec, tmp_path / f"s{i}", options=options)
        assert _same(_weights(grouped[i].student_path), _weights(alone.student_path)), spec.method
        assert grouped[i].final == {**alone.final, "seconds": grouped[i].final["seconds"],
                                    "images_per_s": grouped[i].final["images_per_s"]}  # fmt: skip


def test_a_student_that_stops_leaves_and_the_others_train_on(digits_teacher, data_root, tmp_path):
    specs = [_spec(digits_teacher, beta=1.0), _spec(digits_teacher, beta=2.0)]
    options = TrainOptions(data_root=data_root)
    calls = {"n": 0}

    def stop_after_three() -> bool:
        calls["n"] += 1
        return calls["n"] >= 3

    members = [
        GroupMember(specs[0], tmp_path / "cancelled", TrainCallbacks(should_stop=stop_after_three)),
        GroupMember(specs[1], tmp_path / "kept"),
    ]
    stopped, kept = train_group(members, options=options)
    assert stopped.status == "stopped" and stopped.stopped_at.epoch == 1 and stopped.stopped_at.batch == 3
    assert kept.status == "completed"
    alone = train(specs[1], tmp_path / "alone", options=options)
    assert _same(_weights(kept.student_path), _weights(alone.student_path))
    # the stopped one resumes from its checkpoint, alone, and ends as if never stopped
    resumed = train(specs[0], tmp_path / "cancelled", options=options, resume_from=stopped.checkpoint_path)
    uninterrupted = train(specs[0], tmp_path / "straight", options=options)
    assert _same(_weights(resumed.student_path), _weights(uninterrupted.student_path))


def test_a_stop_for_the_whole_process_stops_every_student_at_the_same_batch(digits_teacher, data_root, tmp_path):
    """A shutdown flag raised just after the first student read it (a signal between two reads):
    the second student sees it, the first is asked again, and both stop at batch 2 of epoch 1;
    the group then resumes together and ends as it would have uninterrupted."""
    specs = [_spec(digits_teacher, beta=1.0, scales=[1, 2]), _spec(digits_teacher, beta=4.0)]
    options = TrainOptions(data_root=data_root)
    shutdown = {"flag": False, "first_reads": 0}

    def first_student_asks() -> bool:
        seen = shutdown["flag"]
        shutdown["first_reads"] += 1
        if shutdown["first_reads"] == 2:  # the signal lands right after its read of batch 2
            shutdown["flag"] = True
        return seen

    members = [
        GroupMember(specs[0], tmp_path / "a", TrainCallbacks(should_stop=first_student_asks)),
        GroupMember(specs[1], tmp_path / "b", TrainCallbacks(should_stop=lambda: shutdown["flag"])),
    ]
    first, second = train_group(members, options=options)
    assert first.status == second.status == "stopped"
    assert (
        (first.stopped_at.epoch, first.stopped_at.batch) == (second.stopped_at.epoch, second.stopped_at.batch) == (1, 2)
    )
    again = train_group(
        [
            GroupMember(s, tmp_path / n, resume_from=r.checkpoint_path)
            for s, n, r in zip(specs, "ab", (first, second), strict=True)
        ],
        options=options,
    )
    for spec, result, name in zip(specs, again, "ab", strict=True):
        alone = train(spec, tmp_path / f"alone_{name}", options=options)
        assert result.status == "completed" and _same(_weights(result.student_path), _weights(alone.student_path))


def test_a_failing_student_leaves_the_group(digits_teacher, data_root, tmp_path):
    def boom(metrics) -> None:
        raise RuntimeError("the database went away for good")

    specs = [_spec(digits_teacher, beta=1.0), _spec(digits_teacher, beta=2.0)]
    members = [
        GroupMember(specs[0], tmp_path / "a", TrainCallbacks(on_epoch_end=boom)),
        GroupMember(specs[1], tmp_path / "b"),
    ]
    failed, kept = train_group(members, options=TrainOptions(data_root=data_root))
    assert isinstance(failed, RuntimeError) and kept.status == "completed"


def test_specs_that_draw_different_batches_are_refused(digits_teacher, data_root, tmp_path):
    members = [
        GroupMember(_spec(digits_teacher), tmp_path / "a"),
        GroupMember(_spec(digits_teacher, seed=6), tmp_path / "b"),
    ]
    with pytest.raises(ValueError, match="different batches"):
        train_group(members, options=TrainOptions(data_root=data_root))
    with pytest.raises(CheckpointError):
        train_group(
            [GroupMember(_spec(digits_teacher), tmp_path / "c", resume_from=tmp_path / "missing.pt")],
            options=TrainOptions(data_root=data_root),
        )
