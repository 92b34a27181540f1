"""A sweep's cost: one lockstep group against the same students trained one by one, in one run.

    python -m benchmarks.sweep [--teacher resnet32x4 --student resnet8x4 --students 4 --epochs 1
                               --batch-size 64 --image-size 32 --device auto --rounds 3]

A teacher-heavy pair: a resnet32x4 teacher (random weights: speed does not depend on them) and
``--students`` resnet8x4 students of different beta and scales, on the digits set at 32 px. Both
ways train the same epochs through the trainer (``train_group`` / ``train``), evaluation and
checkpoints included, and the solo runs' students are checked bit-identical to the group's on
CPU. The two ways alternate over ``--rounds`` pairs (``benchmarks.paired``); prints each way's
median wall time and images/s, and the ratio group / solo as the median of the pairs' ratios with
its spread (about 0.5 is the limit here, since the teacher's forward is about half a solo step for
this pair).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from benchmarks.paired import alternate, paired_ratio
from sdd_core.models import create_model
from sdd_core.spec import JobSpec
from sdd_core.trainer import GroupMember, TrainOptions, train, train_group

CONFIGS = [(1.0, [1, 2]), (2.0, [1, 2, 4]), (4.0, [1, 2, 4]), (2.0, [1, 2]), (0.0, [1, 2, 4]), (8.0, [1, 4])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    parser.add_argument("--students", type=int, default=4, choices=range(2, len(CONFIGS) + 1))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=3, help="alternated pairs of group and solo runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        torch.manual_seed(0)
        teacher = root / "teacher.safetensors"
        save_file({k: v.contiguous() for k, v in create_model(args.teacher, 10).state_dict().items()}, str(teacher))
        specs = [
            JobSpec(
                dataset="digits",
                student=args.student,
                method="sd-kd",
                beta=beta,
                scales=scales,
                seed=0,
                image_size=args.image_size,
                teacher={"arch": args.teacher, "checkpoint": str(teacher)},
                hyperparameters={"epochs": args.epochs, "batch_size": args.batch_size, "device": args.device},
            )
            for beta, scales in CONFIGS[: args.students]
        ]
        options = TrainOptions(data_root=root / "data")
        train(specs[0], root / "warm-up", options=options)  # data and kernels warm for both ways

        def group_way(round_: int) -> tuple[float, list]:
            started = time.perf_counter()
            members = [GroupMember(spec, root / f"r{round_}-group{i}") for i, spec in enumerate(specs)]
            outcomes = train_group(members, options=options)
            return time.perf_counter() - started, outcomes

        def solo_way(round_: int) -> tuple[float, list]:
            started = time.perf_counter()
            outcomes = [train(spec, root / f"r{round_}-solo{i}", options=options) for i, spec in enumerate(specs)]
            return time.perf_counter() - started, outcomes

        groups, solos = alternate(group_way, solo_way, args.rounds)
        same = all(
            not isinstance(g, Exception)
            and g.student_path is not None
            and s.student_path is not None
            and all(torch.equal(a, b) for a, b in zip(load_file(str(g.student_path)).values(),
                                                      load_file(str(s.student_path)).values(), strict=True))
            for g, s in zip(groups[0][1], solos[0][1], strict=True)
        )  # fmt: skip
        group_s = statistics.median(seconds for seconds, _ in groups)
        solo_s = statistics.median(seconds for seconds, _ in solos)
        ratio = paired_ratio([seconds for seconds, _ in solos], [seconds for seconds, _ in groups])
        images = 1437 * args.epochs * len(specs)  # digits' training split, every student
        print(f"{args.teacher} -> {len(specs)} x {args.student}, {args.epochs} epoch(s), batch {args.batch_size}, "
              f"{args.image_size}px, device {args.device}, {args.rounds} alternated rounds")  # fmt: skip
        print(f"lockstep group : {group_s:8.1f} s  {images / group_s:8.0f} student images/s  (median)")
        print(f"one by one     : {solo_s:8.1f} s  {images / solo_s:8.0f} student images/s  (median)")
        print(f"ratio group/solo: {ratio.describe()}   students bit-identical: {same}")


if __name__ == "__main__":
    main()
