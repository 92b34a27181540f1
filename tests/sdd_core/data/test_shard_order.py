"""The order a sharded split is read in: a few shards at a time, a function of (data, seed) alone
whatever the loader workers and ranks, fetched ahead, and nothing fetched for skipped batches."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from sdd_core.data import Augmentation, build_datasets
from sdd_core.data.loader_batches import EpochBatchSampler, LoaderBatches
from sdd_core.data.rank_slices import rank_slice
from sdd_core.data.shard_order import ShardOrder, chunked_order
from sdd_core.data.shard_writer import shard_image_folder
from sdd_core.data.shards import INDEX_FILE
from tests.sdd_core.data.generated_images import image_folder

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """18 training images in 6 shards of 3 (two chunks: 4 shards, then 2), 6 val images in 2."""
    root = image_folder(tmp_path_factory.mktemp("order") / "colours", train=6, val=2)
    shard_image_folder(root, root.parent / "shards", max_bytes=10240)
    return root.parent / "shards"


def test_a_chunk_reads_its_own_shards_in_a_permutation_drawn_from_the_seed():
    counts = [3, 5, 2, 4, 4, 1, 3]
    firsts = [sum(counts[:i]) for i in range(len(counts) + 1)]
    order = chunked_order(counts, seed=7, chunk_shards=3)
    assert sorted(order.indices) == list(range(sum(counts)))
    assert order.indices != sorted(order.indices) and order == chunked_order(counts, seed=7, chunk_shards=3)
    assert order != chunked_order(counts, seed=8, chunk_shards=3)
    assert [len(chunk) for chunk in order.chunks] == [3, 3, 1]
    bounds = [*order.starts, len(order.indices)]
    for c, chunk in enumerate(order.chunks):
        allowed = {i for s in chunk for i in range(firsts[s], firsts[s + 1])}
        assert set(order.indices[bounds[c] : bounds[c + 1]]) == allowed
        assert order.chunk_at(bounds[c]) == c and order.chunk_at(bounds[c + 1] - 1) == c
    in_order = chunked_order(counts, seed=None, chunk_shards=3)
    assert in_order.indices == list(range(sum(counts))) and in_order.chunks == [[0, 1, 2], [3, 4, 5], [6]]


def test_a_ranks_slice_is_the_one_tensor_split_takes():
    for size in range(0, 11):
        for ranks in (1, 2, 3, 4):
            parts = torch.tensor_split(torch.arange(5, 5 + size), ranks)
            assert [list(rank_slice(range(5, 5 + size), r, ranks)) for r in range(ranks)] == [p.tolist() for p in parts]


class _Recorded(Dataset):
    """``dataset`` whose reads are appended to ``log`` as ``<pid> <index>`` (from any process)."""

    def __init__(self, dataset, log: Path) -> None:
        self.dataset, self.log, self.files = dataset, log, dataset.files

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        with open(self.log, "a") as handle:
            handle.write(f"{os.getpid()} {index}\n")
        return self.dataset[index]

    def reads(self) -> list[int]:
        return [int(line.split()[1]) for line in self.log.read_text().splitlines()] if self.log.exists() else []


def _loader(dataset, *, workers=0, part=(0, 1), fetch=None, batch_size=4):
    order = ShardOrder([ref.samples for ref in dataset.files.refs], dataset.files.refs, fetch)
    return LoaderBatches(dataset, batch_size=batch_size, shuffle=True, workers=workers, device=CPU, seed=1,
                         order=order, part=part)  # fmt: skip


def _epoch(source, seed, skip=0):
    return [(images.clone(), labels.clone()) for images, labels in source.batches(seed, skip=skip)]


def _equal(a, b):
    assert len(a) == len(b)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True))


def test_the_epoch_is_the_same_with_any_workers_and_ranks_and_ranks_read_disjoint_samples(shards, tmp_path):
    train = build_datasets(f"shards:{shards}", data_root=shards, augmentation=Augmentation(flip=True))[0]
    alone = _epoch(_loader(train), 5)
    other = _epoch(_loader(train), 6)
    assert len(alone) == 5 and not torch.equal(other[0][1], alone[0][1])  # 18 images in batches of 4
    _equal(_epoch(_loader(train, workers=2), 5), alone)
    _equal(_epoch(_loader(train), 5, skip=2), alone[2:])
    reads = []
    per_rank = []
    for rank in (0, 1):
        recorded = _Recorded(train, tmp_path / f"rank{rank}.log")
        per_rank.append(_epoch(_loader(recorded, workers=2, part=(rank, 2)), 5))
        reads.append(recorded.reads())
    for (images, labels), first, second in zip(alone, *per_rank, strict=True):
        assert torch.equal(torch.cat([first[0], second[0]]), images)  # the ranks' slices make the batch
        assert torch.equal(torch.cat([first[1], second[1]]), labels)
    assert not set(reads[0]) & set(reads[1]) and sorted(reads[0] + reads[1]) == list(range(18))


def test_a_rank_with_nothing_of_the_last_batch_gets_an_empty_batch(shards):
    train = build_datasets(f"shards:{shards}", data_root=shards)[0]
    sampler = EpochBatchSampler(18, 17, shuffle=True, part=(1, 2))  # the last batch holds 1 image
    assert [len(batch) for batch in sampler] == [8, 0]
    batches = _epoch(_loader(train, part=(1, 2), batch_size=17), 3)
    assert [labels.shape[0] for _, labels in batches] == [8, 0] and batches[1][0].shape == (0, 3, 16, 16)


class _Fetch:
    """Copies a shard from ``source`` on each call and logs the key."""

    def __init__(self, source: Path, cache: Path) -> None:
        self.source, self.cache, self.log = source, cache, cache / "fetched.log"
        cache.mkdir()

    def __call__(self, key: str, sha256: str) -> Path:
        with open(self.log, "a") as handle:
            handle.write(key + "\n")
        target = self.cache / key
        if not target.exists():
            shutil.copyfile(self.source / key, target)
        return target

    def keys(self) -> set[str]:
        return set(self.log.read_text().split()) if self.log.exists() else set()


def _fetched_elsewhere(shards: Path, tmp_path: Path) -> tuple[Path, _Fetch]:
    index_only = tmp_path / "index-only"
    index_only.mkdir()
    shutil.copy(shards / INDEX_FILE, index_only / INDEX_FILE)
    return index_only, _Fetch(shards, tmp_path / "cache")


def test_the_next_chunk_is_fetched_ahead(shards, tmp_path):
    index_only, fetch = _fetched_elsewhere(shards, tmp_path)
    train = build_datasets(f"shards:{index_only}", data_root=tmp_path, fetch_shard=fetch)[0]
    keys = [ref.key for ref in train.files.refs]
    order = ShardOrder(train.shard_counts, train.files.refs, fetch, chunk_shards=2)
    plan = order.plan(4)
    plan.reached(0)  # the loader starts: chunks 0 and 1 are fetched, not chunk 2
    ahead = {keys[s] for chunk in plan.order.chunks[:2] for s in chunk}
    deadline = time.monotonic() + 30
    while fetch.keys() != ahead and time.monotonic() < deadline:
        time.sleep(0.01)
    order.close()
    assert fetch.keys() == ahead


def test_a_resumed_epoch_fetches_nothing_for_the_batches_it_skips(shards, tmp_path):
    index_only, fetch = _fetched_elsewhere(shards, tmp_path)
    train = build_datasets(f"shards:{index_only}", data_root=tmp_path, fetch_shard=fetch)[0]
    keys = [ref.key for ref in train.files.refs]
    whole_order = chunked_order(train.shard_counts, 5)
    assert whole_order.starts == [0, 12]  # 4 shards of 3, then 2: batches of 3 from 4 on are chunk 1's
    recorded = _Recorded(train, tmp_path / "reads.log")
    source = _loader(recorded, workers=2, fetch=fetch, batch_size=3)
    rest = _epoch(source, 5, skip=4)
    source.close()
    assert len(rest) == 2 and sorted(recorded.reads()) == sorted(whole_order.indices[12:])
    assert fetch.keys() == {keys[s] for s in whole_order.chunks[1]}
