"""CIFAR on a tiny fake written in torchvision's on-disk format.

torchvision checks every file against the md5 of the real archive, which no fake can match. The
tests that load the fake replace only those expected checksums (class attributes of torchvision's
dataset classes) with the fake files' own md5s; the file checks, unpickling and transforms all run
as they do on the real data. The corrupted-data test keeps the real checksums.
"""

import hashlib
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10, CIFAR100

from sdd_core.data import Augmentation, build_datasets, build_image_tensors, describe_dataset
from sdd_core.errors import DataError

CLASSES_10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
IMAGES_PER_BATCH = 4


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write_batch(path: Path, label_key: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(IMAGES_PER_BATCH, 3 * 32 * 32), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=IMAGES_PER_BATCH)]
    path.write_bytes(pickle.dumps({"data": data, label_key: labels}))


def _write_fake(data_root: Path, cls: type[CIFAR10], label_key: str, names: list[str]) -> Path:
    """Write the batches and meta of ``cls`` under data_root; return the folder."""
    folder = data_root / cls.base_folder
    folder.mkdir(parents=True)
    for seed, (name, _) in enumerate(cls.train_list + cls.test_list):
        _write_batch(folder / name, label_key, seed)
    (folder / cls.meta["filename"]).write_bytes(pickle.dumps({cls.meta["key"]: names}))
    return folder


def _trust_fake_checksums(monkeypatch, cls: type[CIFAR10], folder: Path) -> None:
    """Make torchvision expect the fake files' md5s instead of the real archive's."""
    monkeypatch.setattr(cls, "train_list", [[n, _md5(folder / n)] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, _md5(folder / n)] for n, _ in cls.test_list])
    meta = dict(cls.meta, md5=_md5(folder / cls.meta["filename"]))
    monkeypatch.setattr(cls, "meta", meta)


@pytest.fixture
def fake_cifar10(tmp_path, monkeypatch) -> Path:
    folder = _write_fake(tmp_path, CIFAR10, "labels", CLASSES_10)
    _trust_fake_checksums(monkeypatch, CIFAR10, folder)
    return tmp_path


def test_missing_cifar_names_the_folder_and_asks_for_downloading(tmp_path):
    for name, folder in (("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python")):
        for entry in (build_datasets, describe_dataset):
            with pytest.raises(DataError) as caught:
                entry(name, data_root=tmp_path)
            message = str(caught.value)
            assert str(tmp_path / folder) in message and "allow downloading" in message


def test_cifar10_pipeline(fake_cifar10):
    train, val, info = build_datasets("cifar10", data_root=fake_cifar10)
    assert (len(train), len(val)) == (5 * IMAGES_PER_BATCH, IMAGES_PER_BATCH)
    assert (info.train_size, info.val_size) == (len(train), len(val))
    assert info.classes == CLASSES_10 and info.num_classes == 10 and info.image_size == 32
    assert info.mean == (0.4914, 0.4822, 0.4465) and info.std == (0.2470, 0.2435, 0.2616)
    names = [type(t).__name__ for t in train.transform.transforms]
    assert names == ["Resize", "RandomCrop", "RandomHorizontalFlip", "ToTensor", "Normalize"]
    assert train.transform.transforms[1].padding == 4
    image, label = train[0]
    assert image.shape == (3, 32, 32) and isinstance(label, int)
    raw = torch.from_numpy(val.data[1]).permute(2, 0, 1).float() / 255  # (3, 32, 32)
    expected = (raw - torch.tensor(info.mean)[:, None, None]) / torch.tensor(info.std)[:, None, None]
    torch.testing.assert_close(val[1][0], expected, rtol=0, atol=1e-5)


def test_cifar_augmentation_follows_torch_global_rng(fake_cifar10):
    train = build_datasets("cifar10", data_root=fake_cifar10)[0]
    draws = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        draws.append(torch.stack([train[i][0] for i in range(len(train))]))
    torch.testing.assert_close(draws[0], draws[1])
    assert not torch.equal(draws[0], draws[2])


def test_cifar_image_size_override(fake_cifar10):
    train, val, info = build_datasets("cifar10", data_root=fake_cifar10, image_size=40)
    assert info.image_size == 40
    assert train[0][0].shape == (3, 40, 40) and val[0][0].shape == (3, 40, 40)
    assert train.transform.transforms[1].padding == 5


def test_describe_reads_only_the_meta_file(fake_cifar10):
    info = describe_dataset("cifar10", data_root=fake_cifar10, image_size=48)
    assert info.classes == CLASSES_10 and info.image_size == 48
    assert (info.train_size, info.val_size) == (50_000, 10_000)  # the official sizes


def test_cifar100_reads_fine_labels_and_uses_the_paper_statistics(tmp_path, monkeypatch):
    names = [f"class_{i}" for i in range(100)]
    folder = _write_fake(tmp_path, CIFAR100, "fine_labels", names)
    _trust_fake_checksums(monkeypatch, CIFAR100, folder)
    train, val, info = build_datasets("cifar100", data_root=tmp_path)
    assert info.num_classes == 100 and info.classes == names
    assert info.mean == (0.5071, 0.4867, 0.4408) and info.std == (0.2675, 0.2565, 0.2761)
    assert (len(train), len(val)) == (IMAGES_PER_BATCH, IMAGES_PER_BATCH)


def test_corrupted_files_are_a_data_error(tmp_path):
    _write_fake(tmp_path, CIFAR10, "labels", CLASSES_10)  # real checksums: they cannot match
    with pytest.raises(DataError, match="cifar-10-batches-py is corrupted"):
        build_datasets("cifar10", data_root=tmp_path)
    with pytest.raises(DataError, match="meta file .* is corrupted"):
        describe_dataset("cifar10", data_root=tmp_path)


def test_cifar_as_tensors_holds_the_loader_paths_images(fake_cifar10):
    train, val, info = build_image_tensors("cifar10", data_root=fake_cifar10)
    loader_val = build_datasets("cifar10", data_root=fake_cifar10)[1]
    assert info == replace(describe_dataset("cifar10", data_root=fake_cifar10), train_size=20, val_size=4)
    assert train.images.shape == (20, 3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.equal(val.images, torch.from_numpy(loader_val.data).permute(0, 3, 1, 2))
    assert val.labels.tolist() == loader_val.targets
    resized = build_image_tensors("cifar10", data_root=fake_cifar10, image_size=40)[1]
    assert resized.images.shape == (4, 3, 40, 40)


def test_a_job_can_turn_the_flip_and_the_crop_off(fake_cifar10):
    plain = build_datasets("cifar10", data_root=fake_cifar10, augmentation=Augmentation(flip=False, crop_padding=0))[0]
    assert [type(t).__name__ for t in plain.transform.transforms] == ["Resize", "ToTensor", "Normalize"]
    wide = build_datasets("cifar10", data_root=fake_cifar10, augmentation=Augmentation(crop_padding=6))[0]
    assert wide.transform.transforms[1].padding == 6
