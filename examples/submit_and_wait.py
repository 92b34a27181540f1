"""Submit one job, follow it epoch by epoch, print its result.

Against the embedded service on this machine::

    sdd up --detach --port 8000                            # API + one worker (SQLite, local files)
    sdd login --url http://127.0.0.1:8000 --token "$(sdd token create --tenant me | tail -n 1)"
    python examples/submit_and_wait.py --epochs 3

``--url``/``--token`` (or SDD_URL/SDD_TOKEN) override what ``sdd login`` saved.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from sdd_client import APIError, SDDClient
from sdd_client.models import EpochRow, Job


def progress_printer() -> Callable[[Job, list[EpochRow]], None]:
    """A ``wait`` callback printing each status change and each finished epoch (``wait`` also calls
    it as a running job's batches go by, every poll: those calls print nothing)."""
    last_status = ""

    def show(job: Job, new_rows: list[EpochRow]) -> None:
        nonlocal last_status
        if job.status != last_status:
            print(f"  {job.id} is {job.status}")
            last_status = job.status
        for row in new_rows:
            print(f"  epoch {row.epoch}/{row.epochs}: loss {row.train_loss:.3f}  val top-1 {row.val_top1:.2f}%")

    return show


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    with SDDClient(args.url, args.token) as sdd:
        try:
            job = sdd.submit(
                {
                    "dataset": "digits",
                    "student": "resnet8",
                    "method": "ce",
                    "hyperparameters": {"epochs": args.epochs, "batch_size": 128},
                    "metadata": {"example": "submit_and_wait"},
                }
            )
        except APIError as exc:
            sys.exit(f"refused: [{exc.code}] {exc.message}")
        print(f"submitted {job.id}; every default is filled in: lr {job.spec.hyperparameters.lr}")
        job = sdd.wait(job.id, poll=1.0, callback=progress_printer())

    if not job.succeeded:
        reason = f"[{job.error.code}] {job.error.message}" if job.error else ""
        sys.exit(f"{job.id} {job.status} {reason}")
    assert job.result is not None
    print(f"{job.id} succeeded: val top-1 {job.result.val_top1:.2f}% (best {job.result.best_val_top1:.2f}%)")


if __name__ == "__main__":
    main()
