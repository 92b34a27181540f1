"""Upload your own image-folder dataset, then train on it by its id.

Builds a small archive from scikit-learn's 8x8 digits (``train/<class>/<n>.png`` and
``val/<class>/<n>.png``, the layout the service expects), uploads it, waits while a worker
ingests it, prints what it found, and trains a resnet8 on it. Against ``sdd up``::

    sdd up --detach --port 8000
    sdd login --url http://127.0.0.1:8000 --token "$(sdd token create --tenant me | tail -n 1)"
    python examples/upload_dataset_and_distill.py --epochs 2

The same with the command line: ``sdd datasets upload digits.zip --wait`` then
``sdd jobs submit --dataset ds_… --student resnet8 --method ce --wait``.
Needs scikit-learn and Pillow (installed with the service) to build the archive.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from sdd_client import SDDClient


def build_archive(path: Path, per_class: int = 30, val_share: float = 0.25) -> Path:
    """A zip with ``per_class`` digits per class, ``val_share`` of them in ``val/``."""
    digits = load_digits()
    counts: dict[int, int] = {}
    with zipfile.ZipFile(path, "w") as archive:
        for image, label in zip(digits.images, digits.target, strict=True):
            n = counts.get(int(label), 0)
            if n >= per_class:
                continue
            counts[int(label)] = n + 1
            split = "val" if n < per_class * val_share else "train"
            pixels = (image * (255 / 16)).astype(np.uint8)  # (8, 8), 0..16 -> 0..255
            buffer = io.BytesIO()
            Image.fromarray(pixels, mode="L").convert("RGB").save(buffer, format="PNG")
            archive.writestr(f"{split}/digit_{label}/{n:03d}.png", buffer.getvalue())
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, SDDClient(args.url, args.token) as sdd:
        archive = build_archive(Path(tmp) / "my-digits.zip")
        print(f"uploading {archive.name} ({archive.stat().st_size} bytes)…")
        dataset = sdd.upload_dataset(archive, name="my-digits")  # in parts; a rerun resumes it
        print(f"{dataset.id}: uploaded, a worker ingests it…")
        dataset = sdd.wait_dataset(dataset.id, poll=1.0)
        if dataset.status != "ready":
            sys.exit(f"{dataset.id} {dataset.status}: {dataset.error}")
        print(
            f"{dataset.id}: {dataset.num_classes} classes, {dataset.train_count} train / "
            f"{dataset.val_count} val images of {dataset.image_size}px"
        )

        job = sdd.submit(
            {
                "dataset": dataset.id,
                "student": "resnet8",
                "method": "ce",
                "hyperparameters": {"epochs": args.epochs, "batch_size": 64},
            }
        )
        print(f"training {job.id} on {dataset.id}…")
        job = sdd.wait(
            job.id,
            poll=1.0,
            callback=lambda j, rows: [
                print(f"  epoch {r.epoch}/{r.epochs}: val top-1 {r.val_top1:.2f}%") for r in rows
            ],
        )
    if not job.succeeded:
        sys.exit(f"{job.id} {job.status}: {job.error}")
    assert job.result is not None
    print(f"done: val top-1 {job.result.val_top1:.2f}%")


if __name__ == "__main__":
    main()
