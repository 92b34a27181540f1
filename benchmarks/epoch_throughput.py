"""Training throughput: the bare step, a whole trainer epoch, and the data path alone, side by side.

    python -m benchmarks.epoch_throughput [--images 10000] [--batch-size 64] [--rounds 2] [--device auto]
                                          [--variants] [--compile]

SD-KD resnet32x4 -> resnet8x4 on CIFAR-100 shapes: a synthetic uploaded folder of 32 px PNGs
(``--images`` training images in 100 classes, random pixels) and a random teacher. Alternating
in one run, ``--rounds`` times:

  (a) the bare step on one batch already on the device: teacher forward, multi-scale logits,
      loss, backward, SGD. Nothing else: the limit.
  (b) one epoch through ``train()``: data, augmentation, running sums, reports; images/s from
      the epoch's own ``seconds`` (evaluation, set-up and export are reported apart as "wall").
      On the device-resident path (the default for these images) and on the loader path
      (``device_data_max_bytes=0``), beside (old) the trainer's former loop: PIL decode and
      transforms per image in the training process, batches copied one by one, six host reads
      per step.
  (c) the data path alone, no model: batches produced, augmented and normalised, from the PNG
      folder: the device-resident batches (after the folder's one decode per job, timed apart),
      the loader path, and the former PIL loader.

Each figure is the median of its rounds, each ratio the median of the rounds' own ratios with its
spread (``benchmarks.paired``).
Prints images/s of each, the ratio (b)/(a) (targets: >= 0.95 on CPU, >= 0.90 on CUDA), (c)'s
device-resident images/s (target >= 100,000 on CPU) and, on CUDA, new/old for the pair (target
>= 3). ``--variants`` (CUDA) adds (a) and (b) for each precision and compile choice; ``--compile``
adds the compiled bare step with its compile time (what ``compile: auto`` was decided from).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image
from safetensors.torch import save_file
from torch.utils.data import DataLoader

from benchmarks.paired import paired_ratio
from sdd_core.data import build_image_tensors, describe_dataset
from sdd_core.data.image_decoding import load_rgb_image
from sdd_core.data.image_folder_layout import scan_image_folder
from sdd_core.data.loader_batches import LoaderBatches, default_workers
from sdd_core.data.tensor_batches import DeviceBatches
from sdd_core.models import create_model
from sdd_core.spec import JobSpec
from sdd_core.trainer import TrainCallbacks, TrainOptions, train
from sdd_core.trainer.data_path import augmentation_of
from sdd_core.trainer.distillation_step import LossConfig, student_loss, teacher_targets
from sdd_core.trainer.evaluation import topk_correct
from sdd_core.trainer.runtime import autocast, resolve_device
from sdd_core.trainer.teacher import FrozenTeacher

CLASSES = 100


def write_png_folder(root: Path, images: int, val_images: int) -> Path:
    """root/{train,val}/<class>/<i>.png: random 32 px RGB images spread over 100 classes."""
    rng = np.random.default_rng(0)
    for split, count in (("train", images), ("val", val_images)):
        for i in range(count):
            folder = root / split / f"c{i % CLASSES:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_spec(dataset: str, teacher_path: Path, args: argparse.Namespace, **hyper: object) -> JobSpec:
    return JobSpec(
        dataset=dataset,
        student=args.student,
        method="sd-kd",
        scales=[1, 2, 4],
        teacher={"arch": args.teacher, "checkpoint": str(teacher_path)},
        hyperparameters={"epochs": 1, "batch_size": args.batch_size, "device": args.device, **hyper},
    )


# ---------------------------------------------------------------- (a) the bare step


def bare_step(spec: JobSpec, teacher_path: Path, device: torch.device, compiled: bool = False) -> Callable[[], None]:
    """One SD-KD step on a fixed batch already on the device."""
    hp = spec.resolved_hyperparameters
    torch.manual_seed(0)
    student = create_model(spec.student, CLASSES).to(device)
    teacher = FrozenTeacher(create_model(spec.teacher.arch, CLASSES)).to(device)
    memory_format = torch.channels_last if hp.channels_last and device.type == "cuda" else torch.contiguous_format
    student, teacher = student.to(memory_format=memory_format), teacher.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4, fused=True)
    config = LossConfig.from_spec(spec)
    images = torch.randn(hp.batch_size, 3, 32, 32, device=device).contiguous(memory_format=memory_format)
    labels = torch.randint(0, CLASSES, (hp.batch_size,), device=device)

    def forward() -> torch.Tensor:
        with autocast(device, hp.precision):
            return student_loss(
                student, images, labels, teacher_targets(teacher, images, config), config=config, epoch=1
            )["loss"]

    run = torch.compile(forward) if compiled else forward

    def step() -> None:
        loss = run()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def time_steps(step: Callable[[], None], steps: int, device: torch.device) -> float:
    """Seconds per step, the whole run timed at once (the device drains at the end)."""
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / steps


# ---------------------------------------------------------------- (b) an epoch through train()


def trainer_epoch(spec: JobSpec, out: Path, options: TrainOptions) -> tuple[float, float]:
    """(images/s of the epoch's training, wall seconds of the whole ``train()`` call)."""
    seen: list[dict] = []
    start = time.perf_counter()
    train(spec, out, options=options, callbacks=TrainCallbacks(on_epoch_end=seen.append))
    return seen[-1]["images_per_s"], time.perf_counter() - start


def old_loader(folder: Path, batch_size: int, train_split: bool = True) -> DataLoader:
    """The former loader path: PIL decode and PIL transforms per image, in the training process."""
    info = describe_dataset(f"imagefolder:{folder}", data_root=folder)
    normalise = [T.ToTensor(), T.Normalize(list(info.mean), list(info.std))]
    geometry = [T.Resize((32, 32)), T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if train_split else []
    transform = T.Compose([*geometry, *normalise])
    layout = scan_image_folder(folder)
    samples = layout.train_samples if train_split else layout.val_samples

    class PILFiles(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(samples)

        def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
            path, label = samples[index]
            return transform(load_rgb_image(path)), label

    return DataLoader(PILFiles(), batch_size=batch_size, shuffle=True, num_workers=0)


def old_epoch(spec: JobSpec, folder: Path, teacher_path: Path, device: torch.device) -> float:
    """The trainer's former epoch loop (images/s): per-batch copies and six host reads per step."""
    hp = spec.resolved_hyperparameters
    torch.manual_seed(0)
    student = create_model(spec.student, CLASSES).to(device)
    teacher = FrozenTeacher(create_model(spec.teacher.arch, CLASSES)).to(device)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    config = LossConfig.from_spec(spec)
    rate = 0.0
    for _ in range(2):  # the second epoch is measured, as train()'s
        sync(device)
        began = time.perf_counter()
        seen = _old_epoch_loop(old_loader(folder, hp.batch_size), student, teacher, optimizer, config, device)
        sync(device)
        rate = seen / (time.perf_counter() - began)
    return rate


def _old_epoch_loop(
    loader: DataLoader,
    student: torch.nn.Module,
    teacher: FrozenTeacher,
    optimizer: torch.optim.Optimizer,
    config: LossConfig,
    device: torch.device,
) -> int:
    """The former ``train_epoch`` body; returns the images trained."""
    sums, seen = [0.0] * 5, 0
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        out = student_loss(student, images, labels, teacher_targets(teacher, images, config), config=config, epoch=1)
        optimizer.zero_grad(set_to_none=True)
        loss = out["loss"]
        if np.isfinite(loss.item()):
            loss.backward()
            optimizer.step()
            sums[0] += loss.item()
            sums[1] += out["ce"].item()
            sums[2] += out["kd"].item()
            sums[3] += out["complementary"].item()
            sums[4] += topk_correct(out["logits"], labels, (1,))[0]
        seen += labels.shape[0]
    return seen


# ---------------------------------------------------------------- (c) the data path alone


def images_per_s(batches: Iterator[tuple[torch.Tensor, torch.Tensor]], device: torch.device) -> float:
    sync(device)
    start, count = time.perf_counter(), 0
    for _, labels in batches:
        count += labels.shape[0]
    sync(device)
    return count / (time.perf_counter() - start)


def data_alone(folder: Path, batch_size: int, device: torch.device, rounds: int) -> dict[str, float]:
    dataset = f"imagefolder:{folder}"
    spec_hp = JobSpec(dataset=dataset, student="resnet8", method="ce").resolved_hyperparameters
    augmentation = augmentation_of(spec_hp)
    start = time.perf_counter()
    train_split, _, info = build_image_tensors(dataset, data_root=folder)
    decode_s = time.perf_counter() - start
    device_batches = DeviceBatches(
        train_split, batch_size=batch_size, mean=info.mean, std=info.std, augmentation=augmentation, device=device
    )
    from sdd_core.data import build_datasets  # noqa: PLC0415  (the loader path's datasets)

    train_set = build_datasets(dataset, data_root=folder, augmentation=augmentation)[0]
    workers = default_workers(device)
    loader = LoaderBatches(train_set, batch_size=batch_size, shuffle=True, workers=workers, device=device)
    figures: dict[str, list[float]] = {"device": [], "loader": [], "old": []}
    for round_ in range(rounds):
        figures["device"].append(images_per_s(device_batches.batches(seed=round_), device))
        figures["loader"].append(images_per_s(loader.batches(seed=round_), device))
        old = ((images.to(device, non_blocking=True), labels) for images, labels in old_loader(folder, batch_size))
        figures["old"].append(images_per_s(old, device))
    result = {name: max(values) for name, values in figures.items()}
    result["decode_s"] = decode_s
    result["loader_workers"] = workers
    return result


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    parser.add_argument("--images", type=int, default=10_000, help="training images (a multiple of the batch size)")
    parser.add_argument("--val-images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of (a) and (b)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--variants", action="store_true", help="each precision and compile choice (CUDA)")
    parser.add_argument("--compile", action="store_true", help="also the compiled bare step (compile time apart)")
    parser.add_argument("--skip-old", action="store_true", help="leave the former loop out of (b)")
    args = parser.parse_args()

    device = resolve_device(args.device)
    images = args.images - args.images % args.batch_size
    steps = images // args.batch_size
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = write_png_folder(tmp / "pngs", images, args.val_images)
        teacher_path = tmp / "teacher.safetensors"
        save_file(create_model(args.teacher, CLASSES).state_dict(), str(teacher_path))
        dataset = f"imagefolder:{folder}"
        print(
            f"device {device}, SD-KD {args.teacher} -> {args.student}, batch {args.batch_size}, "
            f"{images} images of 32 px ({steps} steps an epoch), medians of {args.rounds} alternated rounds"
        )

        # (a) and (b), alternated; on CUDA each precision/compile variant with --variants.
        variants: list[dict[str, object]] = [{"compile": "off"}]  # the job defaults, eager
        if device.type == "cuda" and args.variants:
            variants += [
                {"precision": p, "channels_last": p == "bf16", "compile": c}
                for p in ("fp32", "bf16")
                for c in ("off", "on")
            ]
        base = make_spec(dataset, teacher_path, args)
        print(
            f"defaults here: precision {base.hyperparameters.precision}, channels_last {base.hyperparameters.channels_last}"
        )
        for variant in variants:
            compiled = variant.get("compile") == "on"
            # Two epochs, the second measured: the first includes the cold start (the first steps'
            # allocations and kernel choices, a compilation), which the warmed-up bare step has not.
            spec = make_spec(dataset, teacher_path, args, **variant, epochs=2)
            step = bare_step(spec, teacher_path, device, compiled=compiled)
            time_steps(step, 3, device)  # warm-up (and compilation)
            bare, device_path, loader_path, old, walls = [], [], [], [], []
            for round_ in range(1 if compiled else args.rounds):
                bare.append(args.batch_size / time_steps(step, steps, device))
                rate, wall = trainer_epoch(spec, tmp / f"run{round_}", TrainOptions(data_root=tmp))
                device_path.append(rate)
                walls.append(wall)
                if compiled:
                    continue
                loader_options = TrainOptions(data_root=tmp, device_data_max_bytes=0)
                loader_path.append(trainer_epoch(spec, tmp / f"loader{round_}", loader_options)[0])
                if not args.skip_old and "precision" not in variant:
                    old.append(old_epoch(spec, folder, teacher_path, device))
            a, b = statistics.median(bare), statistics.median(device_path)
            label = ", ".join(f"{k} {v}" for k, v in variant.items())
            print(f"[{label}]")
            print(f"  (a) bare step                      {a:10.0f} images/s")
            print(f"  (b) train() epoch, device path     {b:10.0f} images/s")
            print(f"      (b)/(a) = {paired_ratio(bare, device_path).describe()}")
            if loader_path:
                print(f"      train() epoch, loader path     {statistics.median(loader_path):10.0f} images/s")
            print(f"      train() wall (set-up, decode, eval, export included): {statistics.median(walls):.1f} s")
            if old:
                print(f"      former epoch loop (PIL loader) {statistics.median(old):10.0f} images/s")
                print(f"      new/old = {paired_ratio(old, device_path).describe()}")

        if args.compile:
            spec = make_spec(dataset, teacher_path, args, compile="on")
            for compiled in (False, True):
                step = bare_step(spec, teacher_path, device, compiled=compiled)
                start = time.perf_counter()
                step()
                sync(device)
                first = time.perf_counter() - start
                time_steps(step, 2, device)
                per_step = min(time_steps(step, max(steps // 4, 3), device) for _ in range(3))
                print(
                    f"  bare step {'compiled' if compiled else 'eager   '}: first step {first:6.1f} s, then {per_step * 1000:8.1f} ms/step"
                )

        # (c) the data path alone.
        c = data_alone(folder, args.batch_size, device, args.rounds)
        print("(c) data path alone, 32 px PNG folder (batches produced, augmented, normalised; no model)")
        print(f"  device-resident batches   {c['device']:12.0f} images/s   (one decode per job: {c['decode_s']:.2f} s)")
        print(f"  loader path ({int(c['loader_workers'])} workers)     {c['loader']:12.0f} images/s")
        print(f"  former PIL loader         {c['old']:12.0f} images/s   device/former = {c['device'] / c['old']:.0f}x")


if __name__ == "__main__":
    main()
