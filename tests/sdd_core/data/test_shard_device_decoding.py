"""A sharded dataset of large images decoded on the training device: the workers read bytes from
the shards (a JPEG's bytes, any other format decoded), the batch decoded there, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from sdd_core.data import build_datasets
from sdd_core.data.device_decoding import DeviceDecoder, EncodedShardImages, collate_encoded
from sdd_core.data.shard_writer import shard_image_folder
from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainCallbacks, TrainOptions, train
from tests.sdd_core.data.generated_images import image_folder

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Shards of 96x80 JPEGs (12 train, 3 val) in folder order, one training image a PNG."""
    root = image_folder(tmp_path_factory.mktemp("photos") / "photos", train=4, val=1, size=(96, 80), suffix=".jpg")
    first = root / "train" / "blue" / "0.jpg"
    Image.open(first).save(first.with_suffix(".png"))
    first.unlink()
    shard_image_folder(root, root.parent / "shards", max_bytes=20480, shuffle_seed=None)
    return root.parent / "shards"


def test_workers_hand_on_jpeg_bytes_and_decode_other_formats(photos):
    train, _, info = build_datasets(f"shards:{photos}", data_root=photos, image_size=32)
    items = EncodedShardImages(train)
    png, jpeg = items[0], items[1]  # blue/0.png sorts first in its class
    assert png[0].shape == (3, 80, 96) and png[0].dtype == torch.uint8
    assert jpeg[0].dim() == 1 and jpeg[0][:2].tolist() == [0xFF, 0xD8]
    decoder = DeviceDecoder(size=32, mean=info.mean, std=info.std, augmentation=None, device=CPU)
    mixed, labels = decoder(*collate_encoded([png, jpeg]))
    alone = [decoder(*collate_encoded([item]))[0] for item in (png, jpeg)]
    assert torch.equal(mixed, torch.cat(alone)) and labels.tolist() == [0, 0]


def _same_weights(a: Path, b: Path) -> None:
    left, right = load_file(str(a)), load_file(str(b))
    assert left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left)


def test_training_with_device_decoding_from_shards_resumes_to_the_same_weights(photos, tmp_path):
    spec = JobSpec(
        dataset=f"shards:{photos}",
        student="resnet8",
        method="ce",
        seed=4,
        image_size=32,
        hyperparameters={"epochs": 2, "batch_size": 4, "lr": 0.05, "lr_decay_epochs": [2]},
    )
    options = TrainOptions(data_root=tmp_path, device_decode=True, num_workers=0)
    full = train(spec, tmp_path / "full", options=options)
    data = json.loads(full.card_path.read_text())["training"]["data"]
    assert data["decode"] == "device" and "workers read the shards' bytes" in data["reason"]
    at: list[tuple[int, int]] = []
    part = train(
        spec,
        tmp_path / "part",
        options=options,
        callbacks=TrainCallbacks(
            on_batch_end=lambda e, b, n, p: at.append((e, b)), should_stop=lambda: at[-1] == (2, 1)
        ),
    )
    assert part.status == "stopped"
    with_workers = TrainOptions(data_root=tmp_path, device_decode=True, num_workers=2)
    done = train(spec, tmp_path / "part", options=with_workers, resume_from=part.checkpoint_path)
    _same_weights(full.student_path, done.student_path)
