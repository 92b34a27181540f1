"""JPEG folders decoded on the training device: the crop box, the views against the workers'
pipeline, and a training run with exact resume — on the CPU, the same code nvJPEG runs on CUDA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from sdd_core.data.augmentation import Augmentation
from sdd_core.data.device_decoding import (
    CROP_RATIO,
    DeviceDecoder,
    EncodedImages,
    all_jpeg,
    collate_encoded,
    resized_crop_box,
)
from sdd_core.data.image_folder import build_image_folder
from sdd_core.errors import DataError
from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainCallbacks, TrainOptions, train

CPU = torch.device("cpu")
CLASSES = ("circle", "square")


def _jpeg_folder(root: Path, per_class: dict[str, int]) -> Path:
    """``train/`` and ``val/`` of 80x96 JPEGs, a shape per class on a noisy background."""
    rng = np.random.default_rng(0)
    for split, count in per_class.items():
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 60, size=(80, 96, 3), dtype=np.uint8)
                if label == 0:
                    yy, xx = np.ogrid[:80, :96]
                    pixels[(yy - 40) ** 2 + (xx - 48) ** 2 < 600] = (220, 40, 40)
                else:
                    pixels[20:60, 28:68] = (40, 40, 220)
                Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return root


@pytest.fixture(scope="module")
def jpeg_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _jpeg_folder(tmp_path_factory.mktemp("jpegs"), {"train": 12, "val": 4})


def test_the_crop_box_is_inside_the_image_and_follows_its_seed():
    for seed in range(200):
        top, left, h, w = resized_crop_box(80, 96, (0.08, 1.0), torch.Generator().manual_seed(seed))
        assert 0 <= top and top + h <= 80 and 0 <= left and left + w <= 96 and h > 0 and w > 0
        assert 0.08 * 80 * 96 * 0.9 <= h * w <= 80 * 96
    again = [resized_crop_box(80, 96, (0.08, 1.0), torch.Generator().manual_seed(7)) for _ in range(2)]
    assert again[0] == again[1]
    # A strip no allowed box fits in at this scale: the centred largest box of an allowed ratio.
    assert resized_crop_box(1000, 10, (0.9, 1.0), torch.Generator().manual_seed(0)) == (493, 0, 13, 10)
    assert CROP_RATIO == (3 / 4, 4 / 3)


def test_workers_read_bytes_and_refuse_what_is_not_an_image(jpeg_root, tmp_path):
    train, _, _ = build_image_folder("jpegs", jpeg_root, image_size=32)
    assert all_jpeg(train.samples) and not all_jpeg([(tmp_path / "a.png", 0)]) and not all_jpeg([])
    items = EncodedImages(train.samples)
    torch.manual_seed(3)
    data, label, seed = items[0]
    torch.manual_seed(3)
    assert data.dtype == torch.uint8 and data[:2].tolist() == [0xFF, 0xD8] and items[0][2] == seed
    encoded, labels, seeds = collate_encoded([items[0], items[13]])
    assert len(encoded) == 2 and labels.tolist() == [0, 1] and seeds.dtype == torch.long
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="broken.jpg"):
        EncodedImages([(broken, 0)])[0]


def test_the_views_match_the_workers_pipeline(jpeg_root):
    """Evaluation: the same resize and centre crop as the workers' v2 pipeline (float vs uint8
    resampling: within a few levels); training: crops of the right size, flipped or not by seed."""
    train, val, info = build_image_folder("jpegs", jpeg_root, image_size=32)
    decoder = DeviceDecoder(size=32, mean=info.mean, std=info.std, augmentation=None, device=CPU)
    items = EncodedImages(val.samples)
    images, labels = decoder(*collate_encoded([items[i] for i in range(len(items))]))
    expected = torch.stack([val[i][0] for i in range(len(val))])  # (N, 3, 32, 32)
    assert images.shape == expected.shape == (8, 3, 32, 32) and labels.tolist() == [0] * 4 + [1] * 4
    level = 1 / (255 * min(info.std))  # one uint8 step after normalisation
    assert (images - expected).abs().max() < 6 * level

    augment = Augmentation(flip=True, crop_scale_min=0.08)
    trainer = DeviceDecoder(size=32, mean=info.mean, std=info.std, augmentation=augment, device=CPU)
    batch = collate_encoded([EncodedImages(train.samples)[0]] * 2)
    first, _ = trainer(*batch)
    second, _ = trainer(*batch)
    assert first.shape == (2, 3, 32, 32) and torch.equal(first, second)  # the item seed decides
    other, _ = trainer(batch[0], batch[1], batch[2] + 1)
    assert not torch.equal(first, other)


def _same_weights(a: Path, b: Path) -> None:
    left, right = load_file(str(a)), load_file(str(b))
    assert left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def test_a_jpeg_folder_trained_with_device_decoding_resumes_to_the_same_weights(jpeg_root, tmp_path):
    spec = JobSpec(
        dataset=f"imagefolder:{jpeg_root}",
        student="resnet8",
        method="ce",
        seed=4,
        image_size=32,
        hyperparameters={"epochs": 2, "batch_size": 8, "lr": 0.05, "lr_decay_epochs": [2]},
    )
    options = TrainOptions(data_root=tmp_path, device_decode=True, num_workers=0)
    full = train(spec, tmp_path / "full", options=options)
    card = json.loads(full.card_path.read_text())
    assert card["training"]["data"]["decode"] == "device" and card["training"]["data"]["path"] == "loader"
    assert "JPEGs decoded on the cpu" in card["training"]["data"]["reason"]

    at: list[tuple[int, int]] = []

    def stop() -> bool:
        return at[-1:] == [(2, 2)]

    part = train(
        spec,
        tmp_path / "part",
        options=options,
        callbacks=TrainCallbacks(on_batch_end=lambda e, b, n, p: at.append((e, b)), should_stop=stop),
    )
    assert part.status == "stopped" and (part.stopped_at.epoch, part.stopped_at.batch) == (2, 2)
    with_workers = TrainOptions(data_root=tmp_path, device_decode=True, num_workers=2)
    done = train(spec, tmp_path / "part", options=with_workers, resume_from=part.checkpoint_path)
    assert done.status == "completed"
    _same_weights(full.student_path, done.student_path)
    assert done.final["train_loss"] == full.final["train_loss"]

    workers = train(spec, tmp_path / "workers", options=TrainOptions(data_root=tmp_path, device_decode=False))
    assert json.loads(workers.card_path.read_text())["training"]["data"]["decode"] == "workers"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (nvJPEG)")
def test_nvjpeg_decodes_the_batch_as_the_cpu_does(jpeg_root):
    _, val, info = build_image_folder("jpegs", jpeg_root, image_size=32)
    batch = collate_encoded([EncodedImages(val.samples)[i] for i in range(len(val))])
    on_cpu, _ = DeviceDecoder(size=32, mean=info.mean, std=info.std, augmentation=None, device=CPU)(*batch)
    cuda = torch.device("cuda")
    on_gpu, labels = DeviceDecoder(size=32, mean=info.mean, std=info.std, augmentation=None, device=cuda)(*batch)
    assert on_gpu.device.type == "cuda" and labels.device.type == "cuda"
    level = 1 / (255 * min(info.std))
    assert (on_gpu.cpu() - on_cpu).abs().max() < 8 * level  # nvJPEG's IDCT differs from libjpeg's by a few levels
