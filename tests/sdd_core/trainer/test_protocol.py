"""The held_out protocol through the trainer: every choice reads the held-out validation part, the
test split is evaluated once on the exported weights, and the card says which protocol ran."""

import json

import torch
from safetensors.torch import load_file

from sdd_core.spec import JobSpec, with_stored_protocol
from sdd_core.trainer import train
from sdd_core.trainer.options import TrainCallbacks, TrainOptions
from sdd_core.trainer.shared import Shared
from sdd_core.trainer.student import spec_fingerprint


def _spec(**fields):
    hyperparameters = {"epochs": 2, "batch_size": 128, "lr": 0.1, "export": "best"}
    return JobSpec(dataset="digits", student="resnet8", method="ce", image_size=8, seed=1,
                   hyperparameters=hyperparameters, **fields)  # fmt: skip


def test_held_out_chooses_on_validation_and_tests_once_at_the_end(data_root, tmp_path, monkeypatch):
    happened: list[str] = []
    evaluate_test = Shared.evaluate_test

    def spy(self, model):
        happened.append("test")
        return evaluate_test(self, model)

    monkeypatch.setattr(Shared, "evaluate_test", spy)
    metrics: list[dict] = []
    callbacks = TrainCallbacks(on_epoch_end=lambda m: (metrics.append(m), happened.append(f"epoch {m['epoch']}")))
    spec = _spec(protocol="held_out", holdout_fraction=0.2)
    result = train(spec, tmp_path / "out", options=TrainOptions(data_root=data_root), callbacks=callbacks)

    assert happened == ["epoch 1", "epoch 2", "test"]  # the test split: once, after every choice
    val_top1s = [m["val_top1"] for m in metrics]
    assert result.best_val_top1 == max(val_top1s)  # the best epoch is chosen on the validation part
    assert result.exported_epoch == 1 + val_top1s.index(max(val_top1s))
    card = json.loads(result.card_path.read_text())
    protocol = card["protocol"]
    assert protocol == result.protocol and protocol["name"] == "held_out" and protocol["reported_on"] == "test"
    assert protocol["held_out"]["fraction"] == 0.2 and len(protocol["held_out"]["indices_sha256"]) == 64
    assert protocol["val_top1"] == max(val_top1s) and protocol["test_top1"] == result.test_top1
    # per class on the test split (the digits' 360 val images); the validation part is 20% of 1437
    assert sum(result.per_class["total"]) == 360
    assert round(result.test_top1 * 360 / 100) == sum(result.per_class["correct"])
    assert protocol["held_out"]["images"] == 287


def test_literature_reports_on_val_and_reads_as_before(data_root, tmp_path):
    spec = _spec()
    assert spec.protocol == "literature"  # the library's default: spec files written before protocols
    result = train(spec, tmp_path / "out", options=TrainOptions(data_root=data_root))
    assert result.test_top1 is None and result.protocol["name"] == "literature"
    assert result.protocol["val_top1"] == result.best_val_top1 and sum(result.per_class["total"]) == 360
    # a literature spec's checkpoint fingerprint is the one written before specs named a protocol
    fingerprint = spec_fingerprint(spec)
    assert "protocol" not in fingerprint and "holdout_fraction" not in fingerprint
    assert "protocol" in spec_fingerprint(_spec(protocol="held_out"))


def test_a_stored_spec_without_a_protocol_trained_on_the_literatures():
    assert with_stored_protocol({"dataset": "digits"})["protocol"] == "literature"
    assert with_stored_protocol({"protocol": "held_out"})["protocol"] == "held_out"


def test_a_held_out_run_stopped_inside_an_epoch_resumes_to_the_same_weights(data_root, tmp_path):
    spec = _spec(protocol="held_out")
    options = TrainOptions(data_root=data_root)
    full = train(spec, tmp_path / "full", options=options)
    seen: list[tuple[int, int]] = []
    callbacks = TrainCallbacks(
        on_batch_end=lambda epoch, batch, batches, parts: seen.append((epoch, batch)),
        should_stop=lambda: seen[-1] == (2, 3) and len(seen) == 14,  # inside epoch 2 (11 batches of 128)
    )
    part = train(spec, tmp_path / "part", options=options, callbacks=callbacks)
    assert part.status == "stopped" and (part.stopped_at.epoch, part.stopped_at.batch) == (2, 3)
    again = train(spec, tmp_path / "part", options=options, resume_from=part.checkpoint_path)
    assert again.status == "completed" and again.test_top1 == full.test_top1
    assert again.protocol == full.protocol
    assert load_file(str(again.student_path)).keys() == load_file(str(full.student_path)).keys()
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            load_file(str(again.student_path)).values(), load_file(str(full.student_path)).values(), strict=True
        )
    )
