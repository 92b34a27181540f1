"""Early stopping (``early_stopping_patience``) and ``export: best|last`` on real digits trainings:
the stop, the exported weights, the card, and resumes that end where an uninterrupted run ends."""

import json

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file

from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainCallbacks, TrainOptions, load_checkpoint, train

EPOCHS = 4


def _spec(**hyperparameters):
    # lr 0.1 from scratch on digits: top-1 drops after the first epoch (19.2% then 10.3% on the CPU),
    # so patience 1 stops at epoch 2 and the best epoch is not the last one.
    return JobSpec(
        dataset="digits",
        student="resnet8",
        method="ce",
        seed=0,
        hyperparameters={"epochs": EPOCHS, "batch_size": 128, "lr": 0.1, "lr_decay_epochs": [3], "device": "cpu"}
        | hyperparameters,
    )


def _expected_stop(top1s, patience):
    """The first epoch after which ``patience`` epochs brought no gain over the best (ties: no gain)."""
    best_epoch, best = 1, top1s[0]
    for epoch, top1 in enumerate(top1s, start=1):
        if top1 > best:
            best_epoch, best = epoch, top1
        if epoch - best_epoch >= patience:
            return epoch, best_epoch
    return None, best_epoch


class Recorder:
    """Every epoch's metrics and the student weights its checkpoint holds."""

    def __init__(self):
        self.metrics, self.weights = [], {}

    def on_epoch_end(self, metrics):
        self.metrics.append(metrics)

    def on_checkpoint(self, epoch, path):
        self.weights[epoch] = load_checkpoint(path)["model"]

    def callbacks(self, **more):
        return TrainCallbacks(on_epoch_end=self.on_epoch_end, on_checkpoint=self.on_checkpoint, **more)


def _untimed(metrics):
    """An epoch's metrics without its wall-clock ones (a resumed epoch took another time)."""
    return {key: value for key, value in metrics.items() if key not in ("seconds", "images_per_s")}


def _same_weights(path, state):
    exported = load_file(str(path))
    assert exported.keys() == state.keys()
    return all(torch.equal(exported[name], state[name]) for name in exported)


@pytest.mark.slow
def test_patience_stops_a_stalled_run_and_export_best_exports_the_best_epoch(data_root, tmp_path):
    seen = Recorder()
    options = TrainOptions(data_root=data_root)
    spec = _spec(early_stopping_patience=1, export="best")
    result = train(spec, tmp_path / "full", options=options, callbacks=seen.callbacks())

    top1s = [m["val_top1"] for m in seen.metrics]
    stop, best_epoch = _expected_stop(top1s, patience=1)
    assert stop is not None and stop < EPOCHS, top1s  # the run stalls, as this recipe does
    assert result.status == "completed" and result.epochs_completed == stop == len(top1s)
    assert result.stopped_early_at_epoch == stop and result.exported_epoch == best_epoch != stop
    # The exported student is the best epoch's checkpointed weights, not the last epoch's.
    assert _same_weights(result.student_path, seen.weights[best_epoch])
    assert not _same_weights(result.student_path, seen.weights[stop])
    # The final evaluation is of those weights: a fresh pass over the 360 digits gives the recorded best top-1.
    assert result.final == seen.metrics[best_epoch - 1]
    assert result.best_val_top1 == result.final["val_top1"] == max(top1s)
    assert sum(result.per_class["correct"]) == round(max(top1s) * 360 / 100)
    card = json.loads(result.card_path.read_text())
    assert card["export"] == "best" and card["exported_epoch"] == best_epoch
    assert card["training"]["early_stopping"] == {
        "patience": 1,
        "stopped_at_epoch": stop,
        "best_epoch": best_epoch,
        "best_top1": max(top1s),
    }
    assert card["final_metrics"]["epoch"] == best_epoch

    # Stopped inside the epoch that stops it early, then resumed: the same exported student.
    batches = []

    def should_stop():
        return batches[-1] == (stop, 3)

    def on_batch_end(epoch, batch, total, parts):
        batches.append((epoch, batch))

    part = train(spec, tmp_path / "part", options=options, callbacks=TrainCallbacks(on_batch_end=on_batch_end,
                                                                                    should_stop=should_stop))  # fmt: skip
    assert part.status == "stopped" and part.stopped_at.epoch == stop
    assert "best_model" in load_checkpoint(part.checkpoint_path)
    resumed = train(spec, tmp_path / "part", options=options, resume_from=part.checkpoint_path)
    assert (resumed.status, resumed.stopped_early_at_epoch, resumed.exported_epoch) == ("completed", stop, best_epoch)
    assert load_file(str(resumed.student_path)).keys() == load_file(str(result.student_path)).keys()
    assert _same_weights(resumed.student_path, load_file(str(result.student_path)))
    assert _untimed(resumed.final) == _untimed(result.final) and resumed.per_class == result.per_class

    # Resumed from the checkpoint of the epoch that stopped it (the export did not happen): exported
    # at once, no epoch trained again.
    again = Recorder()
    late = train(spec, tmp_path / "late", options=options, callbacks=again.callbacks(),
                 resume_from=result.checkpoint_path)  # fmt: skip
    assert again.metrics == [] and late.epochs_completed == stop and late.exported_epoch == best_epoch
    assert _same_weights(late.student_path, load_file(str(result.student_path)))


@pytest.mark.slow
def test_export_last_without_patience_trains_every_epoch_and_exports_the_last(data_root, tmp_path):
    seen = Recorder()
    result = train(_spec(epochs=2), tmp_path, options=TrainOptions(data_root=data_root), callbacks=seen.callbacks())
    assert result.epochs_completed == 2 and result.stopped_early_at_epoch is None and result.exported_epoch == 2
    assert _same_weights(result.student_path, seen.weights[2])
    card = json.loads(result.card_path.read_text())
    assert card["export"] == "last" and card["exported_epoch"] == 2
    assert card["training"]["early_stopping"]["patience"] is None
    assert card["training"]["early_stopping"]["stopped_at_epoch"] is None


@pytest.mark.parametrize("patience", [0, -1, 100_001])
def test_a_patience_out_of_range_is_refused_naming_the_field(patience):
    with pytest.raises(ValidationError) as refused:
        _spec(early_stopping_patience=patience)
    (error,) = refused.value.errors()
    assert error["loc"] == ("hyperparameters", "early_stopping_patience")
    assert "leave it unset to train every epoch" in error["msg"]


def test_export_takes_best_or_last_only():
    assert _spec().resolved_hyperparameters.export == "last"
    assert _spec(export="best").resolved_hyperparameters.export == "best"
    with pytest.raises(ValidationError) as refused:
        _spec(export="first")
    assert refused.value.errors()[0]["loc"] == ("hyperparameters", "export")
