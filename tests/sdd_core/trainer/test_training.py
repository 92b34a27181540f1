"""Real (short) trainings on the digits set: accuracy, resume equivalence on both data paths,
stopping, failure, the final evaluation per class."""

import json

import pytest
import torch
from safetensors.torch import load_file

from sdd_core.errors import NonFiniteTrainingError
from sdd_core.models import create_model
from sdd_core.spec import JobSpec
from sdd_core.trainer import CheckpointError, TrainCallbacks, TrainOptions, load_checkpoint, train


def test_teacher_beats_chance_by_far(digits_teacher):
    assert digits_teacher["val_top1"] > 60.0  # chance is 10%


@pytest.mark.slow
def test_sd_kd_student_learns_and_writes_every_artifact(digits_teacher, data_root, tmp_path):
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method="sd-kd",
        seed=1,
        teacher={"arch": digits_teacher["arch"], "checkpoint": digits_teacher["checkpoint"]},
        hyperparameters={"epochs": 3, "lr": 0.1, "lr_decay_epochs": [2]},
    )
    seen = []
    result = train(
        spec, tmp_path, options=TrainOptions(data_root=data_root), callbacks=TrainCallbacks(on_epoch_end=seen.append)
    )
    assert result.status == "completed" and result.final["val_top1"] > 40.0
    assert [m["epoch"] for m in seen] == [1, 2, 3]
    assert all(0.0 <= m["complementary_share"] <= 1.0 and m["train_kd"] > 0 for m in seen)
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    card = json.loads(result.card_path.read_text())
    assert card["arch"] == "resnet8" and card["method"] == "sd-kd" and card["scales"] == [1, 2, 4]
    assert card["num_classes"] == 10 and card["teacher"]["arch"] == "resnet8"
    assert card["hyperparameters"]["ce_weight"] == 0.1
    assert len(card["weights_sha256"]) == 64
    assert set(load_file(str(result.student_path))) == set(create_model("resnet8", 10).state_dict())
    assert all(m["data_path"] == "device" for m in seen) and card["training"]["data"]["path"] == "device"
    assert card["training"]["data"]["augmentation"] == {"flip": False, "crop_padding": 4, "crop_scale_min": 0.08}
    # The final evaluation per class: 360 validation digits, the right ones on the diagonal.
    assert card["per_class"] == result.per_class and card["confusion"] == result.confusion
    assert sum(result.per_class["total"]) == 360 and len(result.confusion) == 10
    assert [row[i] for i, row in enumerate(result.confusion)] == result.per_class["correct"]
    assert [sum(row) for row in result.confusion] == result.per_class["total"]
    assert sum(result.per_class["correct"]) == round(result.final["val_top1"] * 360 / 100)
    # The student's top-1 agreement with its teacher, from one more pass over the 360 digits.
    assert card["agreement_top1"] == result.agreement_top1 and result.agreement_top1 is not None
    assert 0.0 <= result.agreement_top1 <= 100.0 and round(result.agreement_top1 * 360 / 100, 6).is_integer()
    assert card["val_loss"] == result.final["val_loss"]


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(digits_teacher, data_root, tmp_path):
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method="sd-kd",
        seed=3,
        teacher={"arch": digits_teacher["arch"], "checkpoint": digits_teacher["checkpoint"]},
        hyperparameters={"epochs": 3, "batch_size": 128, "lr_decay_epochs": [2]},
    )
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
    part = train(
        spec,
        tmp_path / "part",
        options=options,
        callbacks=TrainCallbacks(on_epoch_end=stopper.on_epoch_end, should_stop=stopper.should_stop),
    )
    assert part.status == "stopped" and part.epochs_completed == 2
    assert load_checkpoint(part.checkpoint_path)["epoch"] == 2
    resumed = train(spec, tmp_path / "part", options=options, resume_from=part.checkpoint_path)
    assert resumed.status == "completed"
    _same_weights(full.student_path, resumed.student_path)
    assert resumed.final["val_top1"] == full.final["val_top1"]
    lines = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


class StopAtBatches:
    """should_stop that answers True after the given (epoch, batch) points, once each."""

    def __init__(self, *points):
        self.points = list(points)
        self.at = None

    def on_batch_end(self, epoch, batch, batches, parts):
        self.at = (epoch, batch, batches)

    def should_stop(self):
        if self.points and self.at[:2] == self.points[0]:
            self.points.pop(0)
            return True
        return False


def _same_weights(a_path, b_path):
    a, b = load_file(str(a_path)), load_file(str(b_path))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_a_stop_inside_an_epoch_resumes_at_the_next_batch_with_the_same_weights(digits_teacher, data_root, tmp_path):
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method="sd-kd",
        seed=5,
        teacher={"arch": digits_teacher["arch"], "checkpoint": digits_teacher["checkpoint"]},
        hyperparameters={"epochs": 2, "batch_size": 128, "lr_decay_epochs": [2]},
    )
    options = TrainOptions(data_root=data_root)
    full = train(spec, tmp_path / "full", options=options)

    stopper = StopAtBatches((2, 4), (2, 9))  # stopped twice inside epoch 2 (12 batches of 128)
    seen_batches = []

    def callbacks():
        def on_batch_end(epoch, batch, batches, parts):
            seen_batches.append((epoch, batch, batches))
            stopper.on_batch_end(epoch, batch, batches, parts)

        return TrainCallbacks(on_batch_end=on_batch_end, should_stop=stopper.should_stop)

    part = train(spec, tmp_path / "part", options=options, callbacks=callbacks())
    assert part.status == "stopped" and part.epochs_completed == 1
    assert (part.stopped_at.epoch, part.stopped_at.batch, part.stopped_at.batches) == (2, 4, 12)
    state = load_checkpoint(part.checkpoint_path)
    assert state["epoch"] == 1 and state["partial"]["epoch"] == 2 and state["partial"]["batch"] == 4

    again = train(spec, tmp_path / "part", options=options, callbacks=callbacks(), resume_from=part.checkpoint_path)
    assert again.status == "stopped" and (again.stopped_at.epoch, again.stopped_at.batch) == (2, 9)
    assert again.final["epoch"] == 1  # the last finished epoch's metrics, carried by the checkpoint
    done = train(spec, tmp_path / "part", options=options, callbacks=callbacks(), resume_from=again.checkpoint_path)
    assert done.status == "completed"
    # Every batch of epoch 2 was trained exactly once over the three runs, numbered from the epoch's start.
    assert [b for e, b, _ in seen_batches if e == 2] == list(range(1, 13))
    _same_weights(full.student_path, done.student_path)
    lines = [json.loads(line) for line in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2]
    for key in ("train_loss", "train_ce", "train_kd", "train_top1", "complementary_share", "val_top1"):
        assert lines[1][key] == full.final[key], key


def test_the_loader_path_with_workers_resumes_inside_an_epoch_to_the_same_weights(digits_teacher, data_root, tmp_path):
    """Above the device-resident cap, the loader path: a run stopped mid-epoch and resumed with two
    loader workers ends with the weights of an uninterrupted run without workers."""
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method="sd-kd",
        seed=6,
        image_size=16,
        teacher={"arch": digits_teacher["arch"], "checkpoint": digits_teacher["checkpoint"]},
        hyperparameters={"epochs": 2, "batch_size": 128, "lr_decay_epochs": [2], "flip": True},
    )
    seen = []
    full = train(
        spec,
        tmp_path / "full",
        options=TrainOptions(data_root=data_root, device_data_max_bytes=0, num_workers=0),
        callbacks=TrainCallbacks(on_epoch_end=seen.append),
    )
    assert [m["data_path"] for m in seen] == ["loader", "loader"]
    with_workers = TrainOptions(data_root=data_root, device_data_max_bytes=0, num_workers=2)
    stopper = StopAtBatches((2, 5))
    callbacks = TrainCallbacks(on_batch_end=stopper.on_batch_end, should_stop=stopper.should_stop)
    part = train(spec, tmp_path / "part", options=with_workers, callbacks=callbacks)
    assert part.status == "stopped" and (part.stopped_at.epoch, part.stopped_at.batch) == (2, 5)
    assert load_checkpoint(part.checkpoint_path)["data_path"] == "loader"
    # The device path would fit now; the resumed run keeps the path its checkpoint was written on.
    done = train(
        spec,
        tmp_path / "part",
        options=TrainOptions(data_root=data_root, num_workers=2),
        resume_from=part.checkpoint_path,
    )
    assert done.status == "completed" and done.final["data_path"] == "loader"
    _same_weights(full.student_path, done.student_path)
    assert done.final["train_loss"] == full.final["train_loss"] and done.per_class == full.per_class


def test_flip_follows_the_dataset_unless_the_job_says():
    digits = JobSpec(dataset="digits", student="resnet8", method="ce")
    cifar = JobSpec(dataset="cifar10", student="resnet8", method="ce")
    flipped = JobSpec(dataset="digits", student="resnet8", method="ce", hyperparameters={"flip": True})
    assert (digits.hyperparameters.flip, cifar.hyperparameters.flip, flipped.hyperparameters.flip) == (
        False,
        True,
        True,
    )
    assert digits.resolved_hyperparameters.crop_padding is None  # size / 8, decided with the data


def test_resume_under_another_spec_is_refused(data_root, tmp_path):
    spec = JobSpec(dataset="digits", student="resnet8", method="ce", hyperparameters={"epochs": 1, "batch_size": 256})
    done = train(spec, tmp_path, options=TrainOptions(data_root=data_root))
    other = spec.model_copy(update={"seed": 9})
    with pytest.raises(CheckpointError, match="another job spec"):
        train(other, tmp_path / "other", options=TrainOptions(data_root=data_root), resume_from=done.checkpoint_path)


def test_non_finite_training_fails_with_a_clear_error(data_root, tmp_path):
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method="ce",
        image_size=16,
        hyperparameters={"epochs": 1, "momentum": 0.0, "weight_decay": 0.0},
    )
    # The trainer trusts its spec: an lr far past the service's limit (10) makes every step overflow.
    spec.hyperparameters.lr = 1e12
    with pytest.raises(NonFiniteTrainingError, match="non-finite"):
        train(spec, tmp_path, options=TrainOptions(data_root=data_root))
