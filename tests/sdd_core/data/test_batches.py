"""Both data paths' batches: an epoch follows its seed alone, a skipped epoch yields the rest of it."""

import torch
from torch.utils.data import Dataset

from sdd_core.data import Augmentation, ImageTensors, build_datasets, build_image_tensors
from sdd_core.data.loader_batches import EpochBatchSampler, LoaderBatches, SeededItems
from sdd_core.data.tensor_batches import DeviceBatches

CPU = torch.device("cpu")
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _numbered_split(count=50, size=8):
    """Image i is filled with the value i, so a batch shows which images it holds."""
    images = torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 3, size, size).contiguous()
    return ImageTensors(images, torch.arange(count))


def _epoch(source, seed, skip=0):
    return [(images.clone(), labels.clone()) for images, labels in source.batches(seed, skip=skip)]


def test_device_batches_follow_the_seed_and_a_skipped_epoch_is_the_rest_of_it():
    split = _numbered_split()
    source = DeviceBatches(split, batch_size=8, mean=MEAN, std=STD, augmentation=Augmentation(), device=CPU)
    assert len(source) == 7 and source.images == 50
    whole, again, other = _epoch(source, 3), _epoch(source, 3), _epoch(source, 4)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(whole, again, strict=True))
    assert not torch.equal(whole[0][1], other[0][1])
    rest = _epoch(source, 3, skip=4)
    assert len(rest) == 3 and all(torch.equal(a[0], b[0]) for a, b in zip(whole[4:], rest, strict=True))
    labels = torch.cat([labels for _, labels in whole])
    assert sorted(labels.tolist()) == list(range(50))  # every image once per epoch
    for images, batch_labels in whole:  # each image is its label's (its centre is never padding)
        centre = images[:, 0, 4, 4] * STD[0] + MEAN[0]
        torch.testing.assert_close(centre * 255, batch_labels.float(), rtol=0, atol=1e-3)


def test_validation_batches_are_in_order_and_unaugmented():
    split = _numbered_split()
    source = DeviceBatches(split, batch_size=32, mean=MEAN, std=STD, augmentation=None, device=CPU)
    batches = _epoch(source, None)
    assert [labels.tolist() for _, labels in batches] == [list(range(32)), list(range(32, 50))]
    expected = (split.images.float() / 255 - 0.5) / 0.25
    torch.testing.assert_close(torch.cat([images for images, _ in batches]), expected, rtol=0, atol=1e-5)


def test_digits_tensors_are_the_loaders_images_to_a_255th():
    train, val, info = build_image_tensors("digits", data_root="unused")
    loader_val = build_datasets("digits", data_root="unused")[1]
    assert (len(train), len(val)) == (1437, 360) and val.labels.tolist() == loader_val.targets
    source = DeviceBatches(val, batch_size=400, mean=info.mean, std=info.std, augmentation=None, device=CPU)
    ((images, _),) = _epoch(source, None)
    expected = torch.stack([loader_val[i][0] for i in range(len(loader_val))])
    torch.testing.assert_close(images, expected, rtol=0, atol=0.5 / 255 / info.std[0] + 1e-5)


class _Noisy(Dataset):
    """Item i: i plus a draw from torch's global RNG (as a random transform would)."""

    def __len__(self):
        return 20

    def __getitem__(self, index):
        return torch.tensor([float(index)]) + torch.rand(1), index


def test_loader_items_depend_on_their_sample_seed_only_and_leave_the_global_rng_alone():
    items = SeededItems(_Noisy())
    torch.manual_seed(0)
    before = torch.get_rng_state()
    first = items[(3, 11)][0]
    assert torch.equal(torch.get_rng_state(), before)
    items[(5, 12)]
    assert torch.equal(items[(3, 11)][0], first) and not torch.equal(items[(3, 12)][0], first)


def test_the_loader_sampler_skips_batches_of_the_same_permutation():
    sampler = EpochBatchSampler(50, 8, shuffle=True)
    sampler.set_epoch(11)
    whole = list(sampler)
    sampler.set_epoch(11, skip=3)
    assert len(whole) == 7 and list(sampler) == whole[3:] and len(sampler) == 4
    sampler.set_epoch(12)
    assert list(sampler) != whole


def test_loader_batches_are_the_same_with_any_number_of_workers():
    dataset = build_datasets("digits", data_root="unused", image_size=8, augmentation=Augmentation(flip=True))[0]
    epochs = []
    for workers in (0, 2):
        source = LoaderBatches(dataset, batch_size=256, shuffle=True, workers=workers, device=CPU, seed=1)
        epochs.append([_epoch(source, seed) for seed in (5, 6)])
        epochs[-1].append(_epoch(source, 5, skip=2))
    for a, b in zip(epochs[0], epochs[1], strict=True):
        assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    no_workers = epochs[0]
    assert not torch.equal(no_workers[0][0][0], no_workers[1][0][0])  # another epoch, other draws
    assert all(torch.equal(x[0], y[0]) for x, y in zip(no_workers[0][2:], no_workers[2], strict=True))
