import json

import pytest
import torch

from sdd_core.data import build_datasets, dataset_shape, describe_dataset


@pytest.fixture(scope="module")
def digits():
    return build_datasets("digits", data_root="unused")


def _stack(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))])  # (N, 3, S, S)


def test_sizes_and_classes(digits):
    train, val, info = digits
    assert (len(train), len(val)) == (1437, 360)
    assert (info.train_size, info.val_size) == (1437, 360)
    assert info.num_classes == 10 and info.classes == [str(d) for d in range(10)]
    assert info.image_size == 32 and info.name == "digits"
    json.dumps(info.to_dict())


def test_split_is_stratified_and_disjoint(digits):
    train, val, _ = digits
    val_counts = torch.bincount(torch.tensor(val.targets), minlength=10)
    train_counts = torch.bincount(torch.tensor(train.targets), minlength=10)
    assert (val_counts >= 30).all()
    ratio = val_counts.float() / (val_counts + train_counts).float()
    assert torch.allclose(ratio, torch.full((10,), 0.2), atol=0.02)


def test_split_does_not_depend_on_the_torch_seed():
    torch.manual_seed(1)
    first = build_datasets("digits", data_root="unused")[1]
    torch.manual_seed(2)
    second = build_datasets("digits", data_root="unused")[1]
    assert first.targets == second.targets
    torch.testing.assert_close(_stack(first), _stack(second))


def test_items_are_normalised_rgb_tensors(digits):
    train, val, info = digits
    image, label = train[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert isinstance(label, int)
    torch.testing.assert_close(image[0], image[2])
    torch.manual_seed(0)
    train_images = _stack(train)
    assert train_images.mean(dim=(0, 2, 3)).abs().max() < 0.1  # padding shifts it a little
    assert (train_images.std(dim=(0, 2, 3)) - 1).abs().max() < 0.1
    assert info.mean[0] == info.mean[1] == info.mean[2] and 0 < info.mean[0] < 1


def test_val_items_are_deterministic(digits):
    _, val, _ = digits
    torch.manual_seed(0)
    first = val[5][0]
    torch.manual_seed(1)
    torch.testing.assert_close(val[5][0], first)


def test_augmentation_follows_torch_global_rng(digits):
    train, _, _ = digits
    torch.manual_seed(3)
    first = _stack(train)
    torch.manual_seed(3)
    again = _stack(train)
    torch.manual_seed(4)
    other = _stack(train)
    torch.testing.assert_close(first, again)
    assert not torch.equal(first, other)


def test_random_crop_shifts_by_at_most_the_padding(digits):
    train, val, _ = digits
    background = val[0][0].min()
    torch.manual_seed(0)
    shifted = [train[0][0] for _ in range(20)]
    assert any(not torch.equal(image, shifted[0]) for image in shifted)
    for image in shifted:
        assert image.shape == (3, 32, 32)
        assert image.min() >= background - 1e-6


def test_image_size_override():
    train, val, info = build_datasets("digits", data_root="unused", image_size=16)
    assert info.image_size == 16
    assert train[0][0].shape == (3, 16, 16) and val[0][0].shape == (3, 16, 16)


def test_describe_matches_build(digits):
    assert describe_dataset("digits", data_root="unused") == digits[2]


@pytest.mark.parametrize("size", [None, 16, 511])
def test_shape_is_the_info_without_touching_an_image(size, monkeypatch):
    expected = describe_dataset("digits", data_root="unused", image_size=size) if size != 511 else None
    import sdd_core.data.digits as digits_module

    monkeypatch.setattr(digits_module, "_load_split", lambda size: pytest.fail("the shape loaded the images"))
    shape = dataset_shape("digits", data_root="unused", image_size=size)
    assert (shape.num_classes, shape.image_size) == (10, size or 32)
    if expected is not None:  # the constants are the real split's sizes
        assert (shape.train_size, shape.val_size, shape.classes) == (
            expected.train_size,
            expected.val_size,
            expected.classes,
        )
