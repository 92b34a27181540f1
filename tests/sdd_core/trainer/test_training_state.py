"""The loop's state through checkpoints: plain dicts on disk, dataclasses in memory, old formats read."""

import json
import shutil
from dataclasses import asdict

import torch
from safetensors.torch import load_file

from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainCallbacks, TrainOptions, load_checkpoint, train
from sdd_core.trainer.checkpoint import save_checkpoint
from sdd_core.trainer.runtime import rng_state
from sdd_core.trainer.training_state import BestEpoch, EpochSums, PartialEpoch

METRIC_KEYS = [
    "epoch",
    "epochs",
    "lr",
    "train_loss",
    "train_ce",
    "train_kd",
    "train_top1",
    "val_loss",
    "val_top1",
    "val_top5",
    "images_per_s",
    "complementary_share",
    "nonfinite_steps",
    "seconds",
    "best_val_top1",
    "data_path",
]


def test_a_partial_epoch_round_trips_through_a_weights_only_checkpoint(tmp_path):
    partial = PartialEpoch(epoch=3, batch=7, sums=EpochSums(loss=1.5, correct=12, images=64, steps=7), rng=rng_state())
    best = BestEpoch(2, 50.0, 90.0)
    save_checkpoint(tmp_path / "c.pt", {"epoch": 2, "best": asdict(best), "partial": asdict(partial)})
    state = load_checkpoint(tmp_path / "c.pt")
    assert set(state["partial"]) == {"epoch", "batch", "sums", "rng"}
    assert set(state["partial"]["sums"]) == {
        "loss",
        "ce",
        "kd",
        "correct",
        "images",
        "steps",
        "nonfinite",
        "complementary",
        "seconds",
    }
    again = PartialEpoch.from_state(state["partial"])
    assert (again.epoch, again.batch, again.sums) == (3, 7, partial.sums)
    assert torch.equal(again.rng["torch"], partial.rng["torch"])
    assert BestEpoch.from_state(state["best"]) == best


def test_state_written_by_earlier_versions_is_read():
    sums = {
        "loss": 7.5,
        "ce": 7.5,
        "kd": 0.0,
        "complementary": 0.0,
        "correct": 237.0,
        "images": 512.0,
        "steps": 4.0,
        "nonfinite": 0.0,
        "seconds": 0.05,
    }
    assert EpochSums.from_state(sums) == EpochSums(loss=7.5, ce=7.5, correct=237, images=512, steps=4, seconds=0.05)
    assert EpochSums.from_state({}) == EpochSums()
    assert BestEpoch.from_state({"val_top1": 0.0}) == BestEpoch()  # before the first epoch


def test_a_format_1_checkpoint_resumes_to_the_weights_of_an_uninterrupted_run(data_root, tmp_path):
    spec = JobSpec(
        dataset="digits",
        student="resnet8",
        method="ce",
        seed=2,
        image_size=8,
        hyperparameters={"epochs": 2, "batch_size": 256, "lr_decay_epochs": [2]},
    )
    options = TrainOptions(data_root=data_root)
    old = tmp_path / "epoch1.pt"

    def keep_epoch_1(epoch, path):
        if epoch == 1:
            shutil.copy(path, old)

    full = train(spec, tmp_path / "full", options=options, callbacks=TrainCallbacks(on_checkpoint=keep_epoch_1))
    state = load_checkpoint(old)
    assert "partial" not in state  # an end-of-epoch checkpoint, as format 1 wrote them
    state["format"] = 1
    state["best"] = {key: float(value) if key != "epoch" else value for key, value in state["best"].items()}
    torch.save(state, old)

    resumed = train(spec, tmp_path / "resumed", options=options, resume_from=old)
    assert resumed.status == "completed" and resumed.best_val_top1 == full.best_val_top1
    a, b = load_file(str(full.student_path)), load_file(str(resumed.student_path))
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)
    cards = [json.loads(result.card_path.read_text()) for result in (full, resumed)]
    assert cards[0]["best_metrics"] == cards[1]["best_metrics"]
    lines = [json.loads(line) for line in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [list(line) for line in lines] == [METRIC_KEYS, METRIC_KEYS]
    assert list(full.final) == METRIC_KEYS and isinstance(full.final["nonfinite_steps"], int)
