"""Store and fetch a checkpoint through the local and the S3 artifact store, side by side.

    python -m benchmarks.artifacts [--size-mb 100 --rounds 3] [--endpoint-url URL --bucket NAME]

Without ``--endpoint-url`` the S3 store talks to moto's standalone server started on loopback
(``tests.fixtures.servers``); with it, to that endpoint (a MinIO, a real bucket; credentials the
standard AWS way). Each round stores a random file of ``--size-mb`` MB (the S3 store: a multipart
upload of 16 MiB parts, 8 at a time) and fetches it back as a job does (the S3 store: a download
into an empty node cache, checked against its SHA-256; the local store reads in place, so its
fetch is the read of the file and the check of its digest). Prints the median MB/s of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from service.artifact_cache import ArtifactCache
from service.artifacts import ArtifactStore, job_checkpoint_key, sha256_file
from service.local_store import LocalArtifactStore
from service.s3_store import S3ArtifactStore, s3_client

MB = 1_000_000


@contextmanager
def s3_endpoint(endpoint_url: str | None, bucket: str) -> Iterator[str]:
    """The endpoint to use: the one given, or a moto server started for the run (with ``bucket``)."""
    if endpoint_url is not None:
        yield endpoint_url
        return
    from tests.fixtures.servers import running_s3  # the test helpers start the loopback server

    with running_s3() as server:
        os.environ.update({k: v for k, v in server.environment().items() if k.startswith("AWS_")})
        server.create_bucket(bucket)
        yield server.endpoint_url


def measure(name: str, make_store: Callable[[Path], ArtifactStore], src: Path, rounds: int, root: Path) -> None:
    size = src.stat().st_size
    puts, fetches = [], []
    for round_ in range(rounds):
        store = make_store(root / f"{name}-{round_}")
        key = job_checkpoint_key(f"job_bench{round_}", 1)
        start = time.perf_counter()
        stored = store.put_file(key, src)
        puts.append(time.perf_counter() - start)
        start = time.perf_counter()
        sha256_file(store.fetch(key, stored.sha256))
        fetches.append(time.perf_counter() - start)
        store.delete(key)
        store.close()
    put_rate = size / MB / statistics.median(puts)
    fetch_rate = size / MB / statistics.median(fetches)
    print(
        f"{name:>6}  store {put_rate:8.1f} MB/s   fetch {fetch_rate:8.1f} MB/s   ({size / MB:.0f} MB, {rounds} rounds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--endpoint-url", default=None, help="an S3 endpoint; default: moto's server on loopback")
    parser.add_argument("--bucket", default="sdd-benchmark")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sdd-bench-artifacts-") as folder:
        root = Path(folder)
        src = root / "checkpoint.pt"
        with open(src, "wb") as out:
            for _ in range(args.size_mb):
                out.write(os.urandom(MB))
        measure("local", lambda where: LocalArtifactStore(where), src, args.rounds, root)
        with s3_endpoint(args.endpoint_url, args.bucket) as endpoint:
            client = s3_client(endpoint)
            measure(
                "s3",
                lambda where: S3ArtifactStore(
                    client, args.bucket, "bench", ArtifactCache(where, 10 * args.size_mb * MB)
                ),
                src,
                args.rounds,
                root,
            )


if __name__ == "__main__":
    main()
