"""The held-out validation part: stratified, seeded, disjoint from what is trained on, the same on both paths."""

import hashlib

import pytest
import torch

from sdd_core.data import build_image_tensors
from sdd_core.data.holdout import held_out_part
from sdd_core.spec import JobSpec
from sdd_core.trainer.data_path import prepare_data
from sdd_core.trainer.options import TrainOptions

CPU = torch.device("cpu")


def test_each_class_gives_its_share_and_keeps_an_image_to_train_on():
    labels = torch.tensor([0] * 50 + [1] * 20 + [2] * 3 + [3] * 1)
    part = held_out_part(labels, 0.1, seed=7)
    assert torch.bincount(labels[part.held], minlength=4).tolist() == [5, 2, 1, 0]  # round(0.1 n), at least 1
    assert set(part.held.tolist()).isdisjoint(part.kept.tolist())
    assert sorted(part.held.tolist() + part.kept.tolist()) == list(range(labels.numel()))
    assert part.held.tolist() == sorted(part.held.tolist())
    assert held_out_part(labels, 0.1, seed=7).held.tolist() == part.held.tolist()  # seeded
    assert held_out_part(labels, 0.1, seed=8).held.tolist() != part.held.tolist()
    expected = hashlib.sha256(b"".join(i.to_bytes(8, "little") for i in part.held.tolist())).hexdigest()
    assert part.digest == expected and part.describe()["images"] == 8
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        held_out_part(labels, 1.0, seed=0)


def test_both_data_paths_hold_out_the_same_images_and_never_train_on_them(tmp_path):
    spec = JobSpec(dataset="digits", student="resnet8", method="ce", hyperparameters={"batch_size": 100})
    hp = spec.resolved_hyperparameters
    common = {"image_size": 8, "seed": 3, "device": CPU, "memory_format": torch.contiguous_format}
    held_out = {"protocol": "held_out", "holdout_fraction": 0.2}
    device = prepare_data("digits", hp, options=TrainOptions(data_root=tmp_path), **common, **held_out)
    loader = prepare_data(
        "digits", hp, options=TrainOptions(data_root=tmp_path, device_data_max_bytes=0), **common, **held_out
    )
    train_split, val_split, _ = build_image_tensors("digits", data_root=tmp_path, image_size=8)
    assert device.path == "device" and loader.path == "loader"
    part = device.held_out
    assert part is not None and loader.held_out is not None and part.digest == loader.held_out.digest
    counts = torch.bincount(train_split.labels[part.held], minlength=10)
    assert counts.tolist() == [round(0.2 * n) for n in torch.bincount(train_split.labels).tolist()]  # stratified
    held = set(part.held.tolist())

    # device path: the training tensors are the kept images only; validation the held-out ones; test the val split
    assert torch.equal(device.train.split.images, train_split.images[part.kept])
    assert torch.equal(device.val.split.labels, train_split.labels[part.held])
    assert torch.equal(device.test.split.images, val_split.images)
    # loader path: two epochs of training draw every kept index once each, never a held-out one
    for seed in (11, 12):
        loader.train.sampler.set_epoch(seed)
        drawn = [index for batch in loader.train.sampler for index, _ in batch]
        assert sorted(drawn) == part.kept.tolist() and held.isdisjoint(drawn)
    loader.val.sampler.set_epoch(None)
    assert [index for batch in loader.val.sampler for index, _ in batch] == part.held.tolist()
    # the held-out images are seen unaugmented: the evaluation transform, as the device path's
    images, labels = next(iter(loader.val.batches()))
    first = device.val.split.images[:100].float()
    assert torch.equal(labels, train_split.labels[part.held[:100]])
    assert (
        images.shape == (100, 3, 8, 8) and torch.corrcoef(torch.stack([images.flatten(), first.flatten()]))[0, 1] > 0.99
    )
    assert loader.test.images == len(val_split) and len(loader.train) == len(device.train)
    assert device.describe_protocol()["held_out"] == part.describe()


def test_the_literature_protocol_keeps_the_splits_as_they_were(tmp_path):
    spec = JobSpec(dataset="digits", student="resnet8", method="ce", hyperparameters={"batch_size": 100})
    data = prepare_data("digits", spec.resolved_hyperparameters, image_size=8, seed=0, device=CPU,
                        memory_format=torch.contiguous_format, options=TrainOptions(data_root=tmp_path))  # fmt: skip
    assert data.held_out is None and data.test is None and data.report is data.val
    assert data.train.images == 1437 and data.describe_protocol()["reported_on"] == "val"
