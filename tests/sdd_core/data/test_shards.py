"""Reading a sharded dataset: the tensors of the same images in an image folder, from the index
alone for what checking a job needs, from a fetcher in forked workers, and errors naming a shard."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from sdd_core.data import (
    build_datasets,
    build_image_tensors,
    dataset_identity,
    dataset_pipeline,
    dataset_shape,
    describe_dataset,
    is_known_dataset,
)
from sdd_core.data.augmentation import Augmentation
from sdd_core.data.loader_batches import SeededItems
from sdd_core.data.shard_writer import shard_image_folder, write_index
from sdd_core.data.shards import INDEX_FILE, read_index
from sdd_core.errors import DataError
from tests.sdd_core.data.generated_images import image_folder


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, Path]:
    """(image folder of 16 px PNGs, its shards in folder order: sample i of a split is file i)."""
    root = image_folder(tmp_path_factory.mktemp("small") / "colours", train=6, val=2)
    out = root.parent / "shards"
    shard_image_folder(root, out, max_bytes=10240, shuffle_seed=None)  # 3 samples a shard
    return root, out


@pytest.fixture(scope="module")
def large(tmp_path_factory) -> tuple[Path, Path]:
    """The same for 96x80 JPEGs (the ImageNet pipeline)."""
    root = image_folder(tmp_path_factory.mktemp("large") / "photos", train=3, val=1, size=(96, 80), suffix=".jpg")
    out = root.parent / "shards"
    shard_image_folder(root, out, max_bytes=16384, shuffle_seed=None)
    return root, out


def _same_items(a, b, seeds=range(3)):
    """Item i of ``a`` equals item i of ``b`` under the same sample seeds (augmentation included)."""
    assert len(a) == len(b)
    items_a, items_b = SeededItems(a), SeededItems(b)
    for i in range(len(a)):
        for seed in seeds:
            image_a, label_a = items_a[(i, seed)]
            image_b, label_b = items_b[(i, seed)]
            assert label_a == label_b and torch.equal(image_a, image_b), (i, seed)


@pytest.mark.parametrize("which", ["small", "large"])
def test_a_sharded_dataset_gives_the_tensors_of_its_image_folder(which, request):
    """At the working size the index records (its statistics were measured there: a job's other
    size keeps them, where a folder measures again)."""
    root, shards = request.getfixturevalue(which)
    augmentation = Augmentation(flip=True, crop_scale_min=0.3)
    folder = build_datasets(f"imagefolder:{root}", data_root=root, augmentation=augmentation)
    sharded = build_datasets(f"shards:{shards}", data_root=root, augmentation=augmentation)
    assert folder[2] == sharded[2].__class__(**{**sharded[2].__dict__, "name": folder[2].name})
    _same_items(folder[0], sharded[0])  # train: the same random crops and flips from the same seeds
    _same_items(folder[1], sharded[1], seeds=[0])


def test_what_checking_a_job_needs_comes_from_the_index(small, tmp_path):
    root, shards = small
    name = f"shards:{shards / INDEX_FILE}"
    folder_info = describe_dataset(f"imagefolder:{root}", data_root=tmp_path)
    info = describe_dataset(name, data_root=tmp_path)
    assert (info.classes, info.mean, info.std, info.image_size) == (
        folder_info.classes, folder_info.mean, folder_info.std, 16)  # fmt: skip
    assert (info.train_size, info.val_size) == (18, 6) and info.name == name
    shape = dataset_shape(name, data_root=tmp_path, image_size=24)
    assert (shape.image_size, shape.num_classes) == (24, 3)
    assert dataset_pipeline(name, data_root=tmp_path) == "cifar"
    # A relative path is under data_root; a folder means its index.json.
    assert describe_dataset("shards:shards", data_root=shards.parent) == info.__class__(
        **{**info.__dict__, "name": "shards:shards"}
    )
    assert is_known_dataset("shards:x") and not is_known_dataset("shards: ")
    with pytest.raises(DataError, match=r"shard index .*nowhere.*cannot be read"):
        describe_dataset("shards:nowhere/index.json", data_root=tmp_path)


def test_the_identity_is_the_index_digest_wherever_the_copy_lies(small, tmp_path):
    _, shards = small
    copy = tmp_path / "elsewhere"
    shutil.copytree(shards, copy)
    identity = dataset_identity(f"shards:{shards}", data_root=tmp_path)
    assert identity.startswith("shards@sha256:") and len(identity) == len("shards@sha256:") + 64
    assert dataset_identity(f"shards:{copy}", data_root=tmp_path) == identity
    assert dataset_identity("digits", data_root=tmp_path) == "digits"


def test_the_device_resident_tensors_are_the_image_folders(small):
    root, shards = small
    folder_train, folder_val, folder_info = build_image_tensors(f"imagefolder:{root}", data_root=root)
    train, val, info = build_image_tensors(f"shards:{shards}", data_root=root)
    assert torch.equal(train.images, folder_train.images) and torch.equal(train.labels, folder_train.labels)
    assert torch.equal(val.images, folder_val.images) and info.mean == folder_info.mean
    resized = build_image_tensors(f"shards:{shards}", data_root=root, image_size=24)[1]
    assert resized.images.shape == (6, 3, 24, 24)


def test_large_images_are_not_held_as_tensors(large):
    with pytest.raises(ValueError, match="large images"):
        build_image_tensors(f"shards:{large[1]}", data_root=large[0])


class _CopyingFetch:
    """A fetcher as the service's node cache is: the shard copied into a cache folder on first use,
    each call logged (pid, key) to a file, so forked workers' calls are seen too."""

    def __init__(self, source: Path, cache: Path) -> None:
        self.source, self.cache = source, cache
        self.cache.mkdir(parents=True, exist_ok=True)

    def __call__(self, key: str, sha256: str) -> Path:
        with open(self.cache / "calls.log", "a") as log:
            log.write(f"{os.getpid()} {key}\n")
        target = self.cache / sha256
        if not target.exists():
            shutil.copyfile(self.source / key, target)
        return target

    def calls(self) -> list[tuple[str, str]]:
        lines = (self.cache / "calls.log").read_text().splitlines()
        return [tuple(line.split(" ", 1)) for line in lines]  # type: ignore[misc]


def test_forked_workers_read_through_the_fetcher_once_per_shard_and_process(small, tmp_path):
    root, shards = small
    fetch = _CopyingFetch(shards, tmp_path / "cache")
    elsewhere = tmp_path / "index-only"
    elsewhere.mkdir()
    shutil.copy(shards / INDEX_FILE, elsewhere / INDEX_FILE)  # no shard beside it: every one is fetched
    _, val, _ = build_datasets(f"shards:{elsewhere}", data_root=root, fetch_shard=fetch)
    expected = torch.stack([val[i][0] for i in range(len(val))])  # (6, 3, 16, 16), read in this process
    loader = DataLoader(val, batch_size=2, num_workers=2, multiprocessing_context="fork")
    images = torch.cat([batch for batch, _ in loader])
    assert torch.equal(images, expected)
    calls = fetch.calls()
    assert len(set(calls)) == len(calls)  # each process fetched each shard it read once
    assert len({pid for pid, _ in calls}) == 3  # this process and the two workers


def test_a_missing_or_corrupt_shard_is_named(small, tmp_path):
    root, shards = small
    broken = tmp_path / "broken"
    shutil.copytree(shards, broken)
    (broken / "train-000000.tar").unlink()
    train = build_datasets(f"shards:{broken}", data_root=root)[0]
    with pytest.raises(DataError, match=r"shard train-000000.tar \(train split\) is missing"):
        train[0]
    with (broken / "val-000000.tar").open("r+b") as handle:
        handle.truncate(1024)
    val = build_datasets(f"shards:{broken}", data_root=root)[1]
    with pytest.raises(DataError, match=r"shard val-000000.tar \(val split\) is 1024 bytes .* corrupt or truncated"):
        val[0]
    last, _ = val.locate(len(val) - 1)
    key = val.files.refs[last].key
    assert last > 0
    size = (broken / key).stat().st_size
    (broken / key).write_bytes(b"garbage!" * (size // 8))  # the right size, not a tar
    with pytest.raises(DataError, match=rf"{key} \(val split\) is not a readable tar"):
        val[len(val) - 1]
    fails = _CopyingFetch(tmp_path / "nothing-here", tmp_path / "cache2")
    with pytest.raises(DataError, match=r"shard train-0000\d\d.tar \(train split\) cannot be fetched"):
        build_datasets(f"shards:{broken}", data_root=root, fetch_shard=fails)[0][len(train) - 1]


def test_a_corrupt_image_inside_a_shard_is_named(small, tmp_path):
    root, shards = small
    broken = tmp_path / "broken"
    shutil.copytree(shards, broken)
    val = build_datasets(f"shards:{broken}", data_root=root)[1]
    member = val.files.members(0)[0]
    with (broken / "val-000000.tar").open("r+b") as handle:
        handle.seek(member.offset)
        handle.write(b"\x00" * member.size)
    with pytest.raises(DataError, match=r"cannot read image #0 of shard val-000000.tar \(val split\)"):
        build_datasets(f"shards:{broken}", data_root=root)[1][0]


def test_a_key_outside_the_index_folder_is_refused(small, tmp_path):
    root, shards = small
    index = read_index(shards / INDEX_FILE)
    escaping = replace(index.val.shards[0], key=f"../{index.val.shards[0].key}")
    nested = tmp_path / "nested"
    nested.mkdir()
    write_index(replace(index, val=replace(index.val, shards=(escaping, *index.val.shards[1:]))), nested)
    with pytest.raises(DataError, match=r"a key must be a path inside the index's folder"):
        build_datasets(f"shards:{nested}", data_root=root)[1][0]


def test_a_shard_gone_from_the_node_is_fetched_again(small, tmp_path):
    root, shards = small
    fetch = _CopyingFetch(shards, tmp_path / "cache")
    val = build_datasets(f"shards:{shards}", data_root=root, fetch_shard=fetch)[1]
    first = val[0][0]
    val.files.close()
    (tmp_path / "cache" / val.files.refs[0].sha256).unlink()  # evicted while no file was open
    assert torch.equal(val[0][0], first)
    assert [key for _, key in fetch.calls()] == [val.files.refs[0].key] * 2


def test_the_index_lists_each_shards_labels_so_holding_out_a_part_fetches_no_shard(small, tmp_path):
    from sdd_core.data.holdout import split_labels
    from sdd_core.data.shard_index import ShardIndex, pack_labels, unpack_labels

    root, shards = small
    index = ShardIndex.from_json((shards / INDEX_FILE).read_bytes())
    assert all(ref.labels is not None for ref in index.train.shards + index.val.shards)
    fetch = _CopyingFetch(shards, tmp_path / "cache")
    elsewhere = tmp_path / "index-only"
    elsewhere.mkdir()
    shutil.copy(shards / INDEX_FILE, elsewhere / INDEX_FILE)  # no shard beside it: every read is a fetch
    train, _, _ = build_datasets(f"shards:{elsewhere}", data_root=root, fetch_shard=fetch)
    labels = split_labels(train)
    assert not (tmp_path / "cache" / "calls.log").exists()  # from the index alone
    assert labels == [train.encoded(i)[2] for i in range(len(train))]  # the shards' own, in order
    assert unpack_labels(pack_labels([0, 7, 65535]) or "", 3) == [0, 7, 65535]
    assert pack_labels([70000]) is None  # past two bytes: the index leaves them out
    with pytest.raises(ValueError, match="hold 3 samples, not 2"):
        unpack_labels(pack_labels([1, 2, 3]) or "", 2)
