"""Distil one student twice from the same teacher, with KD and with SD-KD, and compare them.

Trains a resnet32 teacher (cross-entropy) on ``digits``, then two resnet8 students with the same
seed and schedule, waits for both, prints their final and best accuracy side by side and saves
each job's training curves (SVG, drawn by the server) into ``--out``. Against ``sdd up``::

    sdd up --detach --port 8000
    sdd login --url http://127.0.0.1:8000 --token "$(sdd token create --tenant me | tail -n 1)"
    python examples/compare_kd_vs_sdkd.py --epochs 5
    sdd jobs compare <kd job> <sd-kd job> --plot curves.png     # the same from the command line
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sdd_client import SDDClient
from sdd_client.models import Job


def finished(sdd: SDDClient, job: Job) -> Job:
    job = sdd.wait(job.id, poll=1.0)
    if not job.succeeded:
        sys.exit(f"{job.id} ({job.spec.method}) {job.status}: {job.error}")
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("kd-vs-sdkd"))
    args = parser.parse_args()
    schedule: dict[str, Any] = {
        "epochs": args.epochs,
        "batch_size": 64,
        "lr": 0.1,
        "lr_decay_epochs": [max(1, args.epochs * 3 // 4)],
    }

    with SDDClient(args.url, args.token) as sdd:
        print("training the teacher (resnet32, cross-entropy)…")
        teacher = finished(
            sdd, sdd.submit({"dataset": "digits", "student": "resnet32", "method": "ce", "hyperparameters": schedule})
        )
        print("distilling two resnet8 students…")
        students = [
            sdd.submit(
                {
                    "dataset": "digits",
                    "student": "resnet8",
                    "method": method,  # sd-kd with the paper's scales [1, 2, 4] and beta 2; kd takes neither
                    "seed": 1,
                    "teacher": {"job": teacher.id},
                    "hyperparameters": schedule,
                    "metadata": {"example": "compare"},
                }
            )
            for method in ("kd", "sd-kd")
        ]
        students = [finished(sdd, job) for job in students]

        args.out.mkdir(parents=True, exist_ok=True)
        print(f"\n{'job':<30}{'method':<8}{'final top-1':>12}{'best top-1':>12}")
        for job in (teacher, *students):
            assert job.result is not None
            print(f"{job.id:<30}{job.spec.method:<8}{job.result.val_top1:>12.2f}{job.result.best_val_top1:>12.2f}")
            (args.out / f"{job.id}-{job.spec.method}.svg").write_bytes(sdd.plot(job.id, "svg"))
        per_epoch = {
            job.spec.method: [round(row.val_top1 or 0.0, 2) for row in sdd.metrics(job.id)] for job in students
        }
        print("\nval top-1 per epoch:", per_epoch)
        print(f"curves saved in {args.out}/")


if __name__ == "__main__":
    main()
