"""The order an epoch reads a sharded split in: random, yet a few shards at a time.

A global permutation (``loader_batches.Shuffled``) would draw the first batches from every shard,
so a cold node would download the whole split before training its first batch. Instead, for the
epoch's data seed:

    shards permuted                              e.g. [5, 2, 7, 0, 3, 6, 1, 4]
    -> chunks of ``CHUNK_SHARDS`` consecutive     [5, 2, 7, 0] [3, 6, 1, 4]
    -> each chunk's samples permuted, chunk after chunk

The order is a function of the shards' sample counts and the seed alone: the same with any
number of loader workers and ranks (each rank takes its slice of every global batch, and every
position keeps its sample seed, ``loader_batches.sample_seed``). A validation split (no seed) is
read in stored order, a chunk at a time all the same.

While the loader works through chunk ``c`` its shards and those of chunk ``c + 1`` are fetched by
a small thread pool in the training process (``ShardPrefetcher``): the first batch waits for one
chunk only, and later chunks are on the node before their batches are drawn. A worker that needs a
shard being fetched waits for that download (the node cache fills an entry once).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from sdd_core.data.shard_index import ShardRef

log = logging.getLogger(__name__)

CHUNK_SHARDS = 4
"""Shards whose samples are mixed together: 256 MB at the service's 64 MB shards, a few thousand
ImageNet images; on disk at once: this chunk and the next."""
PREFETCH_THREADS = 4
"""Shards fetched at once (a chunk's worth)."""
CHUNKS_AHEAD = 1


@dataclass(frozen=True)
class ChunkedOrder:
    """An epoch's sample order and its chunks: ``chunks[c]`` are the shards read from position
    ``starts[c]`` on."""

    indices: list[int]
    chunks: list[list[int]]
    starts: list[int]

    def chunk_at(self, position: int) -> int:
        return bisect.bisect_right(self.starts, position) - 1


def chunked_order(counts: Sequence[int], seed: int | None, chunk_shards: int = CHUNK_SHARDS) -> ChunkedOrder:
    """The sample order of a split whose shards hold ``counts`` samples: shards permuted, then each
    chunk of ``chunk_shards`` shards' samples permuted (``seed`` None: everything in stored order)."""
    firsts = [0]
    for count in counts:
        firsts.append(firsts[-1] + count)
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    shards = torch.randperm(len(counts), generator=generator).tolist() if generator else list(range(len(counts)))
    indices: list[int] = []
    chunks, starts = [], []
    for first in range(0, len(shards), chunk_shards):
        chunk = shards[first : first + chunk_shards]
        samples = torch.cat([torch.arange(firsts[s], firsts[s + 1]) for s in chunk])  # (n,) the chunk's samples
        if generator is not None:
            samples = samples[torch.randperm(len(samples), generator=generator)]
        chunks.append(chunk)
        starts.append(len(indices))
        indices.extend(samples.tolist())
    return ChunkedOrder(indices, chunks, starts)


class ShardPrefetcher:
    """Fetches shards in background threads, each once per run (a fetched shard stays on the node
    while the run uses it: ``TrainOptions.fetch_shard``); a failure is logged and left to the
    reader, which raises it, naming the shard, when it needs that shard."""

    def __init__(self, refs: Sequence[ShardRef], fetch: Callable[[str, str], Path], threads: int = PREFETCH_THREADS):
        self.refs, self.fetch, self.threads = refs, fetch, threads
        self._pool: ThreadPoolExecutor | None = None
        self._asked: dict[int, Future[Path]] = {}

    def want(self, shards: Sequence[int]) -> None:
        for shard in shards:
            if shard in self._asked:
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="shard-prefetch")
            ref = self.refs[shard]
            future = self._pool.submit(self.fetch, ref.key, ref.sha256)
            future.add_done_callback(partial(_log_failure, key=ref.key))
            self._asked[shard] = future

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._asked = {}


def _log_failure(future: Future[Path], *, key: str) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("prefetching shard %s failed: %s", key, future.exception())


class ShardEpochPlan:
    """An epoch of a sharded split for ``loader_batches``: the order, and ``reached(position)``
    telling the prefetcher where the loader is."""

    def __init__(self, order: ChunkedOrder, prefetcher: ShardPrefetcher | None) -> None:
        self.order, self.prefetcher = order, prefetcher
        self.indices: Sequence[int] = order.indices

    def reached(self, position: int) -> None:
        if self.prefetcher is None or not self.order.chunks:
            return
        chunk = self.order.chunk_at(position)
        for upcoming in self.order.chunks[chunk : chunk + 1 + CHUNKS_AHEAD]:
            self.prefetcher.want(upcoming)


class ShardOrder:
    """The ``loader_batches.EpochOrder`` of a sharded split: ``chunked_order`` per epoch, shards
    prefetched with ``fetch`` when they come from elsewhere (None: local files, nothing to fetch)."""

    def __init__(
        self,
        counts: Sequence[int],
        refs: Sequence[ShardRef] = (),
        fetch: Callable[[str, str], Path] | None = None,
        chunk_shards: int = CHUNK_SHARDS,
    ) -> None:
        self.counts, self.chunk_shards = list(counts), chunk_shards
        self.prefetcher = ShardPrefetcher(refs, fetch) if fetch is not None else None

    def plan(self, seed: int | None) -> ShardEpochPlan:
        return ShardEpochPlan(chunked_order(self.counts, seed, self.chunk_shards), self.prefetcher)

    def close(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.close()
