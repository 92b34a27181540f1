"""One rank (1..N-1) of a job trained on N devices, started by ``worker.distributed_job``.

It trains the spec it is given on its rank with no callbacks (rank 0 records everything and
decides when all ranks stop) and exits 0 when rank 0 ends the training; any error exits non-zero,
which rank 0's worker reports as ``rank_lost``.
"""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path

from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainOptions, train
from sdd_core.trainer.distributed import close_ranks, init_ranks
from sdd_core.trainer.runtime import resolve_device


def parse_rank(argv: list[str] | None = None) -> tuple[argparse.Namespace, TrainOptions]:
    """The command line ``worker.distributed_job.rank_command`` writes: (its arguments, the rank's options)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world-size", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--resume", type=Path, default=None)
    parser.add_argument("--loader-workers", type=int, default=None)
    parser.add_argument("--device-data-max-bytes", type=int, default=None)
    parser.add_argument("--allow-download", action="store_true")
    parser.add_argument("--allow-weight-downloads", action="store_true")
    args = parser.parse_args(argv)
    options = TrainOptions(
        data_root=args.data_root,
        allow_download=args.allow_download,
        allow_weight_downloads=args.allow_weight_downloads,
        num_workers=args.loader_workers,
        device_data_max_bytes=args.device_data_max_bytes,
        world_size=args.world_size,
        rank=args.rank,
    )
    return args, options


def main(argv: list[str] | None = None) -> None:
    args, options = parse_rank(argv)
    # Rank 0 decides when every rank stops (cancel, SIGTERM to the worker: all stop at the same
    # batch, and rank 0 checkpoints); a signal meant for the worker's process group must not end a
    # rank on its own. A rank whose rank 0 vanished ends when its next collective times out.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s rank {args.rank} %(levelname)s %(name)s: %(message)s")

    spec = JobSpec.model_validate_json(args.spec.read_text())
    device_type = resolve_device(spec.resolved_hyperparameters.device).type
    init_ranks(args.rank, args.world_size, args.port, device_type)
    try:
        train(spec, args.out, options=options, resume_from=args.resume)
    finally:
        close_ranks()


if __name__ == "__main__":
    main()
