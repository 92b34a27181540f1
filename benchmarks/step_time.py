"""KD vs SD-KD training-step time, measured side by side in one run.

    python -m benchmarks.step_time [--teacher resnet32x4 --student resnet8x4 --batch-size 64 --steps 30]
                                   [--precision auto|fp32|bf16] [--compile]

Each round runs one KD step then one SD-KD step (order alternating every round) on the same
batch, so drift in machine load hits both alike. A step is the trainer's own step
(``sdd_core.trainer.epoch.TrainStep``): frozen teacher forward, student forward, loss, backward,
fused SGD update that skips non-finite steps on the device, the step's statistics. Prints both
medians and the ratio SD-KD / KD; the authors' code shows no measurable SDD overhead, and the
target here is <= 1.05 on CPU and CUDA alike (``--precision``/``--compile`` as a job's fields).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from benchmarks.paired import paired_ratio
from sdd_core.models import create_model
from sdd_core.spec import JobSpec
from sdd_core.trainer.distillation_step import LossConfig
from sdd_core.trainer.epoch import TrainStep
from sdd_core.trainer.runtime import resolve_device, resolve_precision
from sdd_core.trainer.teacher import FrozenTeacher


def make_step(
    method: str,
    teacher: FrozenTeacher,
    student: torch.nn.Module,
    args: argparse.Namespace,
    device: torch.device,
) -> Callable[[torch.Tensor, torch.Tensor], object]:
    spec = JobSpec(
        dataset="digits",
        student=args.student,
        method=method,
        teacher={"arch": args.teacher, "checkpoint": "unused.safetensors"},
    )
    optimizer = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, fused=True)
    step = TrainStep(
        student,  # type: ignore[arg-type]
        teacher,
        optimizer,
        config=LossConfig.from_spec(spec),
        device=device,
        precision=resolve_precision(args.precision, device),
        compiled=args.compile,
        batch_size=args.batch_size,
    )
    return lambda images, labels: step(images, labels, 1)


def timed(step, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    step(images, labels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30, help="measured steps per method")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", help="auto: bf16 on CUDA, fp32 on CPU")
    parser.add_argument("--compile", action="store_true", help="torch.compile the steps (compiled in the warm-up)")
    args = parser.parse_args()

    device = resolve_device(args.device)
    torch.manual_seed(0)
    teacher = FrozenTeacher(create_model(args.teacher, args.classes)).to(device)
    students = {m: create_model(args.student, args.classes).to(device) for m in ("kd", "sd-kd")}
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    teacher, students = (
        teacher.to(memory_format=memory_format),
        {m: s.to(memory_format=memory_format) for m, s in students.items()},
    )
    steps = {m: make_step(m, teacher, students[m], args, device) for m in students}
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    images = images.contiguous(memory_format=memory_format)
    labels = torch.randint(0, args.classes, (args.batch_size,), device=device)

    for _ in range(args.warmup):
        for method in steps:
            timed(steps[method], images, labels, device)
    times: dict[str, list[float]] = {m: [] for m in steps}
    for round_ in range(args.steps):
        order = ("kd", "sd-kd") if round_ % 2 == 0 else ("sd-kd", "kd")
        for method in order:
            times[method].append(timed(steps[method], images, labels, device))

    kd, sd = statistics.median(times["kd"]), statistics.median(times["sd-kd"])
    print(
        f"device {device}, {args.teacher} -> {args.student}, batch {args.batch_size}, "
        f"{args.image_size}px, {args.steps} steps each (alternated), precision "
        f"{resolve_precision(args.precision, device)}, {'compiled' if args.compile else 'eager'}"
    )
    print(f"KD    step median {kd * 1000:8.2f} ms")
    print(f"SD-KD step median {sd * 1000:8.2f} ms")
    print(f"ratio SD-KD / KD  {paired_ratio(times['kd'], times['sd-kd']).describe()}  (target <= 1.05)")


if __name__ == "__main__":
    main()
