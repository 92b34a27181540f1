import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from sdd_core.data import build_datasets, build_image_tensors, dataset_pipeline, describe_dataset
from sdd_core.data.image_decoding import load_rgb_image
from sdd_core.data.statistics import STATS_CACHE_FILE
from sdd_core.errors import DataError

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (20, 40, 230)}


def _write_folder(root: Path, size: tuple[int, int] = (20, 20), train: int = 6, val: int = 2) -> Path:
    """root/{train,val}/<colour>/<i>.png: solid squares of each class colour, slightly varied."""
    for split, count in (("train", train), ("val", val)):
        for name, (r, g, b) in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                colour = (r, g - 3 * i, b + 2 * i)
                Image.new("RGB", size, colour).save(folder / f"{i}.png")
    return root


def _name(root: Path) -> str:
    return f"imagefolder:{root}"


def test_small_images_train_at_native_size(tmp_path):
    root = _write_folder(tmp_path / "colours")
    train, val, info = build_datasets(_name(root), data_root=tmp_path)
    assert info.name == _name(root)
    assert info.classes == ["blue", "green", "red"] and info.num_classes == 3
    assert (info.train_size, info.val_size) == (18, 6) == (len(train), len(val))
    assert info.image_size == 20
    image, label = train[0]
    assert image.shape == (3, 20, 20) and image.dtype == torch.float32
    assert label == 0 and train.targets == [0] * 6 + [1] * 6 + [2] * 6
    assert val[5][1] == 2


def test_statistics_are_those_of_the_training_split_and_cached(tmp_path):
    root = _write_folder(tmp_path / "colours")
    info = build_datasets(_name(root), data_root=tmp_path)[2]
    train_colours = (
        torch.tensor([(r, g - 3 * i, b + 2 * i) for r, g, b in COLOURS.values() for i in range(6)], dtype=torch.float64)
        / 255
    )  # (18, 3), every pixel of an image has its colour
    torch.testing.assert_close(torch.tensor(info.mean, dtype=torch.float64), train_colours.mean(0))
    expected_std = train_colours.std(0, unbiased=False)
    torch.testing.assert_close(torch.tensor(info.std, dtype=torch.float64), expected_std)
    cache = json.loads((root / STATS_CACHE_FILE).read_text())
    assert cache["entries"]["20"]["mean"] == list(info.mean)
    # later calls read the cache: tamper with it and the tampered values come back
    cache["entries"]["20"]["mean"] = [0.25, 0.5, 0.75]
    (root / STATS_CACHE_FILE).write_text(json.dumps(cache))
    assert describe_dataset(_name(root), data_root=tmp_path).mean == (0.25, 0.5, 0.75)
    # adding an image changes the training split, so the statistics are measured again
    Image.new("RGB", (20, 20), (0, 0, 0)).save(root / "train" / "red" / "extra.png")
    assert describe_dataset(_name(root), data_root=tmp_path).mean != (0.25, 0.5, 0.75)


def test_val_is_normalised_with_train_statistics(tmp_path):
    root = _write_folder(tmp_path / "colours")
    _, val, info = build_datasets(_name(root), data_root=tmp_path)
    image, _ = val[0]  # blue, i = 0
    expected = (torch.tensor(COLOURS["blue"]) / 255 - torch.tensor(info.mean)) / torch.tensor(info.std)
    torch.testing.assert_close(image[:, 10, 10], expected.float(), rtol=0, atol=1e-5)


def test_relative_path_is_under_data_root_and_size_override(tmp_path):
    _write_folder(tmp_path / "colours")
    train, val, info = build_datasets("imagefolder:colours", data_root=tmp_path, image_size=24)
    assert info.image_size == 24
    assert train[0][0].shape == (3, 24, 24) and val[0][0].shape == (3, 24, 24)


def test_augmentation_follows_torch_global_rng(tmp_path):
    root = tmp_path / "colours"
    for name in COLOURS:  # a gradient, so that crops and flips change the pixels
        for split in ("train", "val"):
            (root / split / name).mkdir(parents=True)
        gradient = Image.linear_gradient("L").resize((16, 16)).convert("RGB")
        gradient.save(root / "train" / name / "0.png")
        gradient.save(root / "val" / name / "0.png")
    train, _, _ = build_datasets(_name(root), data_root=tmp_path)
    draws = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        draws.append(torch.stack([train[0][0] for _ in range(8)]))
    torch.testing.assert_close(draws[0], draws[1])
    assert not torch.equal(draws[0], draws[2])


def test_large_images_use_the_imagenet_pipeline(tmp_path):
    root = _write_folder(tmp_path / "photos", size=(100, 80), train=2, val=1)
    assert describe_dataset(_name(root), data_root=tmp_path).image_size == 224
    train, val, info = build_datasets(_name(root), data_root=tmp_path, image_size=64)
    assert info.image_size == 64
    assert train[0][0].shape == (3, 64, 64) and val[0][0].shape == (3, 64, 64)
    transforms = [type(t).__name__ for t in train.transform.transforms]
    assert transforms[:2] == ["RandomResizedCrop", "RandomHorizontalFlip"]
    eval_steps = val.transform.transforms
    assert [type(t).__name__ for t in eval_steps[:2]] == ["Resize", "CenterCrop"]
    assert eval_steps[0].size == [73]  # 64 * 256 / 224
    assert set(json.loads((root / STATS_CACHE_FILE).read_text())["entries"]) == {"64", "224"}


def test_val_may_lack_classes_but_keeps_train_labels(tmp_path):
    root = _write_folder(tmp_path / "colours")
    for path in (root / "val" / "blue").iterdir():
        path.unlink()
    (root / "val" / "blue").rmdir()
    _, val, info = build_datasets(_name(root), data_root=tmp_path)
    assert info.classes == ["blue", "green", "red"] and sorted(set(val.targets)) == [1, 2]


def test_hidden_and_non_image_files_are_ignored(tmp_path):
    root = _write_folder(tmp_path / "colours")
    (root / "train" / "red" / "notes.txt").write_text("hello")
    (root / "train" / "red" / ".DS_Store").write_bytes(b"\0")
    (root / "train" / ".cache").mkdir()
    info = describe_dataset(_name(root), data_root=tmp_path)
    assert info.train_size == 18 and info.num_classes == 3


def _expect_error(root: Path, data_root: Path, *fragments: str) -> None:
    with pytest.raises(DataError) as caught:
        build_datasets(_name(root), data_root=data_root)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_missing_folder(tmp_path):
    _expect_error(tmp_path / "nowhere", tmp_path, str(tmp_path / "nowhere"), "does not exist")


def test_no_train_folder(tmp_path):
    root = _write_folder(tmp_path / "colours")
    (root / "train").rename(root / "training")
    _expect_error(root, tmp_path, "no train/ sub-folder", str(root))


def test_no_classes(tmp_path):
    root = tmp_path / "flat"
    (root / "val" / "a").mkdir(parents=True)
    (root / "train").mkdir()
    Image.new("RGB", (8, 8)).save(root / "train" / "0.png")
    _expect_error(root, tmp_path, "no class sub-folders", str(root / "train"))


def test_val_class_unknown_to_train(tmp_path):
    root = _write_folder(tmp_path / "colours")
    (root / "val" / "purple").mkdir()
    Image.new("RGB", (20, 20)).save(root / "val" / "purple" / "0.png")
    _expect_error(root, tmp_path, "purple", "lacks")


def test_empty_class(tmp_path):
    root = _write_folder(tmp_path / "colours")
    (root / "train" / "yellow").mkdir()
    _expect_error(root, tmp_path, str(root / "train" / "yellow"), "holds no images")


def test_corrupt_training_image(tmp_path):
    root = _write_folder(tmp_path / "colours")
    (root / "train" / "green" / "3.png").write_bytes(b"not a png at all")
    _expect_error(root, tmp_path, "cannot read image", str(root / "train" / "green" / "3.png"))


def test_corrupt_validation_image_fails_when_read(tmp_path):
    root = _write_folder(tmp_path / "colours")
    broken = root / "val" / "red" / "1.png"
    broken.write_bytes(broken.read_bytes()[:40])  # truncated
    _, val, _ = build_datasets(_name(root), data_root=tmp_path)
    with pytest.raises(DataError, match="cannot read image .*1.png"):
        val[len(val) - 1]


def test_oversized_image_is_refused_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (20, 20)).save(path)
    assert load_rgb_image(path).size == (20, 20)
    with pytest.raises(DataError, match="too large to decode safely: 20x20"):
        load_rgb_image(path, max_pixels=399)


def test_small_images_are_decoded_once_into_tensors_equal_to_the_loaders(tmp_path):
    root = _write_folder(tmp_path / "colours")
    Image.new("RGB", (16, 12), (9, 99, 199)).save(root / "train" / "red" / "odd.png")  # resized to 20x20
    train, val, info = build_image_tensors(_name(root), data_root=tmp_path)
    assert info == describe_dataset(_name(root), data_root=tmp_path)
    assert train.images.shape == (19, 3, 20, 20) and val.images.shape == (6, 3, 20, 20)
    assert train.labels.tolist() == [0] * 6 + [1] * 6 + [2] * 7
    loader_val = build_datasets(_name(root), data_root=tmp_path)[1]
    normalised = (val.images.float() / 255 - torch.tensor(info.mean)[:, None, None]) / torch.tensor(info.std)[
        :, None, None
    ]
    torch.testing.assert_close(normalised, torch.stack([loader_val[i][0] for i in range(6)]), rtol=0, atol=1e-5)
    assert dataset_pipeline(_name(root), data_root=tmp_path) == "cifar"


def test_large_images_are_not_held_as_tensors(tmp_path):
    root = _write_folder(tmp_path / "big", size=(96, 80), train=1, val=1)
    assert dataset_pipeline(_name(root), data_root=tmp_path) == "imagenet"
    with pytest.raises(ValueError, match="large images"):
        build_image_tensors(_name(root), data_root=tmp_path)


def test_statistics_decode_no_more_pixels_than_the_budget(tmp_path, monkeypatch):
    """200 huge images once cost 65 s of API time: the sample is cut at a total pixel budget."""
    import sdd_core.data.image_folder as image_folder

    root = _write_folder(tmp_path / "big", size=(100, 80), train=10, val=1)
    decoded: list[Path] = []
    monkeypatch.setattr(image_folder, "DECODE_PIXEL_BUDGET", 3 * 100 * 80)
    monkeypatch.setattr(image_folder, "load_rgb_image", lambda path: decoded.append(path) or load_rgb_image(path))
    describe_dataset(_name(root), data_root=tmp_path)
    assert len(decoded) == 3  # of the 20 training images (10 per class): the budget's worth

    layout = image_folder.scan_image_folder(root)
    samples = layout.train_samples
    assert image_folder.within_pixel_budget(samples, list(range(len(samples))), 1) == [0]  # never none
