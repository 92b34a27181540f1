"""Training data streamed from shards in an object store against the same images in a local folder.

    python -m benchmarks.streaming [--images 20000 --workers 2 --rounds 3 --shard-mb 4 --image-size 64]

Generates ``--images`` small JPEGs (64 to 96 px a side, 10 classes) as an image folder, writes them
as WebDataset shards of ``--shard-mb`` MB (``sdd_core.data.shard_writer``) and stores the shards
in an S3 server (moto's, on loopback: ``tests.fixtures.servers``) through ``service.s3_store``.
Each round then reads one training epoch through the trainer's loader path (``prepare_data``:
``--workers`` loader processes, the ImageNet pipeline at ``--image-size``) three ways:

* ``folder``: the image folder on local disk;
* ``cold``: the shards fetched as a worker fetches them, into an empty node cache
  (``service.artifact_cache``), the next chunk ahead while the current one is read;
* ``warm``: the shards again, from the cache the cold epoch filled.

The folder and the two shard epochs alternate their order every round (``benchmarks.paired``).
Prints images/s after the first batch, the seconds to the first batch (from building the data
path), and the ratios streaming / folder: median and spread over the rounds. Targets: warm at
least 0.9x the folder, the first batch cold within 5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.paired import alternate, paired_ratio
from sdd_core.data.shard_index import ShardIndex
from sdd_core.data.shard_writer import shard_image_folder, write_index
from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainOptions
from sdd_core.trainer.data_path import prepare_data
from service.artifact_cache import ArtifactCache
from service.artifacts import validate_key
from service.s3_store import S3ArtifactStore, s3_client

CLASSES = 10
BUCKET = "sdd-streaming"
PREFIX = "bench"
SHARD_KEYS = "datasets/ds_streaming/shards"
CACHE_BYTES = 50 << 30
MB = 1 << 20


def generate_folder(root: Path, images: int, seed: int = 0) -> None:
    """``images`` JPEGs of 64-96 px a side in ``train/`` (and a tenth as many in ``val/``): a class
    colour, a gradient and a little noise, so each compresses to a few KB as photos of that size do."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", images), ("val", max(CLASSES, images // 10))):
        for label in range(CLASSES):
            (root / split / f"class{label:02d}").mkdir(parents=True)
        colours = rng.integers(40, 215, size=(CLASSES, 3))
        for i in range(count):
            label = i % CLASSES
            width, height = (int(v) for v in rng.integers(64, 97, size=2))
            ramp = np.linspace(-30, 30, width)[None, :, None] + np.linspace(-20, 20, height)[:, None, None]
            pixels = colours[label] + ramp + rng.normal(0, 6, size=(height, width, 3))
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            image.save(root / split / f"class{label:02d}" / f"{i:06d}.jpg", quality=85)


class StoreFetch:
    """``TrainOptions.fetch_shard`` as a worker wires it: the S3 store's ``fetch`` into the node
    cache, with a client and store made once per process (a boto3 client is not fork-safe)."""

    def __init__(self, endpoint: str, cache_dir: Path) -> None:
        self.endpoint, self.cache_dir = endpoint, cache_dir
        self._pid, self._store = 0, None

    def __call__(self, key: str, sha256: str) -> Path:
        if self._store is None or self._pid != os.getpid():
            cache = ArtifactCache(self.cache_dir, CACHE_BYTES)
            self._store = S3ArtifactStore(s3_client(self.endpoint), BUCKET, PREFIX, cache)
            self._pid = os.getpid()
        return self._store.fetch(key, sha256)


@dataclass(frozen=True)
class Epoch:
    images_per_s: float
    first_batch_s: float


def read_epoch(dataset: str, args: argparse.Namespace, root: Path, fetch: StoreFetch | None) -> Epoch:
    """One training epoch of ``dataset`` through the loader path; the clock starts before the
    data path is built (workers started, the index or folder read)."""
    spec = JobSpec(
        dataset=dataset,
        student="resnet8",
        method="ce",
        image_size=args.image_size,
        hyperparameters={"batch_size": args.batch_size, "loader_workers": args.workers, "flip": True},
    )
    options = TrainOptions(data_root=root, device_data_max_bytes=0, fetch_shard=fetch)
    start = time.perf_counter()
    data = prepare_data(dataset, spec.resolved_hyperparameters, image_size=args.image_size, seed=0,
                        options=options, device=torch.device("cpu"), memory_format=torch.contiguous_format)  # fmt: skip
    try:
        first, images = 0.0, 0
        for batch, (_, labels) in enumerate(data.train.batches(seed=1)):
            if batch == 0:
                first = time.perf_counter()
            else:
                images += labels.shape[0]
        return Epoch(images / (time.perf_counter() - first), first - start)
    finally:
        data.close()


@contextmanager
def s3_server() -> Iterator[str]:
    from tests.fixtures.servers import running_s3  # the test helpers start the loopback server

    with running_s3() as server:
        os.environ.update({k: v for k, v in server.environment().items() if k.startswith("AWS_")})
        server.create_bucket(BUCKET)
        yield server.endpoint_url


def store_shards(index: ShardIndex, shard_dir: Path, endpoint: str, out: Path) -> Path:
    """The shards put in the bucket under ``SHARD_KEYS``; their index (keys now the store's) at ``out``."""
    store = S3ArtifactStore(s3_client(endpoint), BUCKET, PREFIX, ArtifactCache(out / "unused-cache", CACHE_BYTES))
    splits = {}
    for split in ("train", "val"):
        shards = getattr(index, split)
        refs = []
        for ref in shards.shards:
            key = validate_key(f"{SHARD_KEYS}/{ref.key}")
            stored = store.put_file(key, shard_dir / ref.key)
            assert stored.sha256 == ref.sha256
            refs.append(replace(ref, key=key))
        splits[split] = replace(shards, shards=tuple(refs))
    stored_index = replace(index, train=splits["train"], val=splits["val"])
    out.mkdir(parents=True, exist_ok=True)
    return write_index(stored_index, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="loader processes, the same for every side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shard-mb", type=float, default=4.0)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sdd-bench-streaming-") as folder:
        root = Path(folder)
        start = time.perf_counter()
        generate_folder(root / "images", args.images)
        print(f"generated {args.images} JPEGs in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        index = shard_image_folder(root / "images", root / "shards", max_bytes=int(args.shard_mb * MB))
        size = index.train.size_bytes + index.val.size_bytes
        print(f"wrote {len(index.train.shards)} + {len(index.val.shards)} shards ({size / MB:.1f} MB) "
              f"in {time.perf_counter() - start:.1f} s")  # fmt: skip
        with s3_server() as endpoint:
            start = time.perf_counter()
            index_path = store_shards(index, root / "shards", endpoint, root / "stored")
            print(f"stored them in S3 (moto, loopback) in {time.perf_counter() - start:.1f} s")
            folder_name, shards_name = f"imagefolder:{root / 'images'}", f"shards:{index_path}"

            def local(round_: int) -> Epoch:
                return read_epoch(folder_name, args, root, None)

            def streamed(round_: int) -> tuple[Epoch, Epoch]:
                fetch = StoreFetch(endpoint, root / f"cache-{round_}")  # an empty node cache
                cold = read_epoch(shards_name, args, root, fetch)
                return cold, read_epoch(shards_name, args, root, fetch)

            local(-1)  # measures and caches the folder's statistics, warms the page cache
            folders, streams = alternate(local, streamed, args.rounds)
            colds, warms = [cold for cold, _ in streams], [warm for _, warm in streams]
            for name, epochs in (("folder", folders), ("cold", colds), ("warm", warms)):
                rates = [epoch.images_per_s for epoch in epochs]
                firsts = [epoch.first_batch_s for epoch in epochs]
                print(f"{name:>6}  {statistics.median(rates):8.0f} images/s   first batch "
                      f"{statistics.median(firsts):5.2f} s (max {max(firsts):.2f} s)")  # fmt: skip
            rate = [epoch.images_per_s for epoch in folders]
            print(f"warm / folder images/s: {paired_ratio(rate, [e.images_per_s for e in warms]).describe()}")
            print(f"cold / folder images/s: {paired_ratio(rate, [e.images_per_s for e in colds]).describe()}")
            print(f"({args.images} images, {args.workers} loader workers, image size {args.image_size}, "
                  f"batch {args.batch_size}, shards of {args.shard_mb} MB, {args.rounds} rounds)")  # fmt: skip


if __name__ == "__main__":
    main()
