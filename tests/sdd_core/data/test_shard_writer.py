"""Writing shards: WebDataset's format, at most max_bytes each, the same bytes for the same samples."""

from __future__ import annotations

import hashlib
import tarfile

import pytest
import webdataset as wds

from sdd_core.data.shard_index import ShardIndex
from sdd_core.data.shard_writer import ShardSample, shard_image_folder, write_split_shards
from sdd_core.data.shards import INDEX_FILE, read_index
from tests.sdd_core.data.generated_images import image_folder


def _samples(count: int = 10) -> list[ShardSample]:
    return [ShardSample(bytes([i]) * (700 * (i + 1)), ".JPG" if i % 2 else "png", i % 3) for i in range(count)]


def test_a_split_round_trips_through_webdataset_in_shards_of_at_most_max_bytes(tmp_path):
    closed = []
    split = write_split_shards(
        _samples(), tmp_path, split="train", num_classes=3, max_bytes=16384, on_shard=lambda p, r: closed.append(r)
    )
    assert list(split.shards) == closed and len(split.shards) > 2
    assert split.samples == 10 and split.class_counts == (4, 3, 3)
    for ref in split.shards:
        path = tmp_path / ref.key
        assert ref.size_bytes == path.stat().st_size and (ref.size_bytes <= 16384 or ref.samples == 1)
        assert ref.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert all(info.mtime == 0 for info in tarfile.open(path).getmembers())
    # Any WebDataset reader sees the samples in order: <key>.<ext> and <key>.cls.
    urls = [str(tmp_path / ref.key) for ref in split.shards]
    read = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False))
    assert [sample["__key__"] for sample in read] == [f"{i:08d}" for i in range(10)]
    for i, sample in enumerate(read):
        extension = "jpg" if i % 2 else "png"
        assert sample[extension] == bytes([i]) * (700 * (i + 1)) and sample["cls"] == str(i % 3).encode()


def test_the_same_samples_give_the_same_bytes(tmp_path):
    first = write_split_shards(_samples(), tmp_path / "a", split="val", num_classes=3, max_bytes=16384)
    second = write_split_shards(_samples(), tmp_path / "b", split="val", num_classes=3, max_bytes=16384)
    assert first == second


def test_a_sample_over_max_bytes_gets_a_shard_of_its_own(tmp_path):
    big = ShardSample(b"x" * 50_000, "jpg", 0)
    split = write_split_shards([_samples()[0], big, _samples()[1]], tmp_path, split="train", num_classes=3,
                               max_bytes=20_000)  # fmt: skip
    assert [ref.samples for ref in split.shards] == [1, 1, 1] and split.shards[1].size_bytes > 20_000


@pytest.mark.parametrize(
    ("sample", "message"),
    [(ShardSample(b"x", "txt", 0), "not an image extension"), (ShardSample(b"x", "png", 3), r"outside \[0, 3\)")],
)
def test_bad_samples_are_refused(tmp_path, sample, message):
    with pytest.raises(ValueError, match=message):
        write_split_shards([sample], tmp_path, split="train", num_classes=3)


def test_an_image_folder_becomes_a_sharded_dataset_with_a_stable_digest(tmp_path):
    root = image_folder(tmp_path / "colours", train=6, val=2)
    index = shard_image_folder(root, tmp_path / "one", max_bytes=8192)
    again = shard_image_folder(root, tmp_path / "two", max_bytes=8192)
    assert index.digest() == again.digest() and len(index.train.shards) > 1
    assert (tmp_path / "one" / INDEX_FILE).read_bytes() == index.to_json()
    assert hashlib.sha256(index.to_json()).hexdigest() == index.digest()
    assert read_index(tmp_path / "two" / INDEX_FILE) == index == ShardIndex.from_json(index.to_json())
    assert index.classes == ("blue", "green", "red") and index.train.class_counts == (6, 6, 6)
    assert (index.pipeline, index.image_size) == ("cifar", 16)
    assert index.image_sizes == {"min": [16, 16], "max": [16, 16], "median": [16, 16]}
    unshuffled = shard_image_folder(root, tmp_path / "three", max_bytes=8192, shuffle_seed=None)
    assert unshuffled.digest() != index.digest()
