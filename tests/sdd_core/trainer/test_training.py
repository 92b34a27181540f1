"""Real (short) trainings on the digits set: accuracy, resume equivalence, stopping, failure."""
import json

import pytest
import torch
from safetensors.torch import load_file

from sdd_core.errors import NonFiniteTrainingError
from sdd_core.spec import JobSpec
from sdd_core.trainer import CheckpointError, TrainCallbacks, TrainOptions, load_checkpoint, train


def test_teacher_beats_chance_by_far(digits_teacher):
    assert digits_teacher["val_top1"] > 60.0  # chance is 10%


@pytest.mark.slow
def test_sd_kd_student_learns_and_writes_every_artifact(digits_teacher, data_root, tmp_path):
    spec = JobSpec(dataset="digits", student="resnet8", method="sd-kd", seed=1,
                   teacher={"arch": digits_teacher["arch"], "checkpoint": digits_teacher["checkpoint"]},
                   hyperparameters={"epochs": 3, "lr": 0.1, "lr_decay_epochs": [2]})
    seen = []
    result = train(spec, tmp_path, options=TrainOptions(data_root=data_root),
                   callbacks=TrainCallbacks(on_epoch_end=seen.append))
    assert result.status == "completed" and result.final["val_top1"] > 40.0
    assert [m["epoch"] for m in seen] == [1, 2, 3]
    assert all(0.0 <= m["complementary_share"] <= 1.0 and m["train_kd"] > 0 for m in seen)
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    card = json.loads(result.card_path.read_text())
    assert card["arch"] == "resnet8" and card["method"] == "sd-kd" and card["scales"] == [1, 2, 4]
    assert card["num_classes"] == 10 and card["teacher"]["arch"] == "resnet8"
    assert card["hyperparameters"]["ce_weight"] == 0.1
    assert len(card["weights_sha256"]) == 64
    assert set(load_file(str(result.student_path))) >= {"fc.weight"} or load_file(str(result.student_path))


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(digits_teacher, data_root, tmp_path):
    spec = JobSpec(dataset="digits", student="resnet8", method="sd-kd", seed=3,
                   teacher={"arch": digits_teacher["arch"], "checkpoint": digits_teacher["checkpoint"]},
                   hyperparameters={"epochs": 3, "batch_size": 128, "lr_decay_epochs": [2]})
    options = TrainOptions(data_root=data_root)
    full = train(spec, tmp_path / "full", options=options)

    class StopAfterTwoEpochs:
        def __init__(self):
            self.epochs = 0

        def on_epoch_end(self, metrics):
            self.epochs = metrics["epoch"]

        def should_stop(self):
            return self.epochs == 2

    stopper = StopAfterTwoEpochs()
    part = train(spec, tmp_path / "part", options=options,
                 callbacks=TrainCallbacks(on_epoch_end=stopper.on_epoch_end, should_stop=stopper.should_stop))
    assert part.status == "stopped" and part.epochs_completed == 2
    assert load_checkpoint(part.checkpoint_path)["epoch"] == 2
    resumed = train(spec, tmp_path / "part", options=options, resume_from=part.checkpoint_path)
    assert resumed.status == "completed"
    full_weights, resumed_weights = load_file(str(full.student_path)), load_file(str(resumed.student_path))
    assert full_weights.keys() == resumed_weights.keys()
    for name in full_weights:
        assert torch.equal(full_weights[name], resumed_weights[name]), name
    assert resumed.final["val_top1"] == full.final["val_top1"]
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_resume_under_another_spec_is_refused(data_root, tmp_path):
    spec = JobSpec(dataset="digits", student="resnet8", method="ce", hyperparameters={"epochs": 1, "batch_size": 256})
    done = train(spec, tmp_path, options=TrainOptions(data_root=data_root))
    other = spec.model_copy(update={"seed": 9})
    with pytest.raises(CheckpointError, match="another job spec"):
        train(other, tmp_path / "other", options=TrainOptions(data_root=data_root), resume_from=done.checkpoint_path)


def test_non_finite_training_fails_with_a_clear_error(data_root, tmp_path):
    spec = JobSpec(dataset="digits", student="resnet8", method="ce",
                   hyperparameters={"epochs": 1, "lr": 1e12, "momentum": 0.0, "weight_decay": 0.0})
    with pytest.raises(NonFiniteTrainingError, match="non-finite"):
        train(spec, tmp_path, options=TrainOptions(data_root=data_root))
