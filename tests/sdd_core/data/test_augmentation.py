"""The batched small-image pipeline: the same crop, flip and normalisation as per image."""

import torch
import torch.nn.functional as F

from sdd_core.data.augmentation import Augmentation, EpochDraws, Normaliser, crop_and_flip


def _one_by_one(images, offsets, flips, padding):
    """RandomCrop(padding) then RandomHorizontalFlip, image by image, by slicing."""
    size = images.shape[-1]
    out = []
    for image, (top, left), flip in zip(images, offsets.tolist(), flips.tolist(), strict=True):
        crop = F.pad(image, [padding] * 4)[:, top : top + size, left : left + size]
        out.append(crop.flip(-1) if flip else crop)
    return torch.stack(out)


def test_a_batch_is_cropped_and_flipped_as_each_image_would_be():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 12, 12), dtype=torch.uint8, generator=generator)
    offsets = torch.randint(0, 7, (16, 2), generator=generator)
    flips = torch.rand(16, generator=generator) < 0.5
    batched = crop_and_flip(images, offsets, flips, padding=3)
    assert batched.dtype == torch.uint8 and batched.shape == images.shape
    assert torch.equal(batched, _one_by_one(images, offsets, flips, 3))
    # No crop (offsets None): the flip alone; neither: the images themselves.
    assert torch.equal(
        crop_and_flip(images, None, flips, 0), _one_by_one(images, torch.zeros(16, 2, dtype=torch.long), flips, 0)
    )
    assert crop_and_flip(images, None, None, 0) is images


def test_normalisation_is_the_loaders():
    images = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    mean, std = (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)
    expected = (images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(Normaliser(mean, std, torch.device("cpu"))(images), expected, rtol=0, atol=1e-5)


def test_an_epochs_draws_follow_its_seed_alone():
    cpu = torch.device("cpu")
    first = EpochDraws.draw(100, seed=7, padding=4, flip=True, device=cpu)
    again = EpochDraws.draw(100, seed=7, padding=4, flip=True, device=cpu)
    other = EpochDraws.draw(100, seed=8, padding=4, flip=True, device=cpu)
    assert torch.equal(first.order, again.order) and torch.equal(first.offsets, again.offsets)
    assert torch.equal(first.flips, again.flips) and not torch.equal(first.order, other.order)
    assert sorted(first.order.tolist()) == list(range(100))
    assert first.offsets.min() >= 0 and first.offsets.max() <= 8 and 20 < int(first.flips.sum()) < 80
    plain = EpochDraws.draw(5, seed=None, padding=4, flip=True, device=cpu)
    assert plain.order.tolist() == [0, 1, 2, 3, 4] and plain.offsets is None and plain.flips is None
    assert EpochDraws.draw(5, seed=1, padding=0, flip=False, device=cpu).offsets is None


def test_augmentation_defaults_are_the_papers():
    assert Augmentation().padding(32) == 4 and Augmentation().padding(40) == 5
    assert Augmentation(crop_padding=0).padding(32) == 0
    assert Augmentation().describe(32) == {"flip": True, "crop_padding": 4, "crop_scale_min": 0.08}
