"""Generated datasets in the layouts they are distributed in, as ``{relative path: bytes}``.

Tiny images (16 px JPEGs of one colour per class, with a little noise) and the text files of
CUB-200-2011 and ImageNet written as the originals are (``meta.mat`` with ``scipy.io.savemat``,
the synsets struct the devkit ships). ``put_files`` uploads them under a prefix of a bucket;
``memory_listing`` lists them without a server, for the layout tests.
"""

from __future__ import annotations

import io
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy.io import savemat  # type: ignore[import-untyped]

from domain.datasets.source_listing import Listing
from sdd_core.data.shard_writer import ShardSample, write_split_shards

Files = dict[str, bytes]
COLOURS = [(220, 40, 40), (40, 200, 60), (40, 60, 220), (200, 200, 40), (160, 40, 200), (40, 200, 200)]


def image_bytes(label: int, index: int, size: int | tuple[int, int] = 16, fmt: str = "JPEG") -> bytes:
    """A small image of class ``label``'s colour with noise seeded by ``(label, index)``."""
    width, height = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(1000 * label + index)
    base = np.array(COLOURS[label % len(COLOURS)], dtype=np.int16)
    pixels = np.clip(base + rng.integers(-30, 30, size=(height, width, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def image_folder(classes: tuple[str, ...] = ("cat", "dog"), train: int = 4, val: int = 2, root: str = "",
                 size: int = 16) -> Files:  # fmt: skip
    files: Files = {}
    for label, name in enumerate(classes):
        for split, count in (("train", train), ("val", val)):
            for i in range(count):
                files[f"{root}{split}/{name}/{name}_{i:03d}.jpg"] = image_bytes(
                    label, i + (100 if split == "val" else 0), size
                )
    return files


def cub200(classes: int = 3, per_class: int = 4, root: str = "CUB_200_2011/", boxes: bool = True) -> Files:
    """CUB-200-2011's files: every fourth image of a class in the test split; boxes of the centre."""
    files: Files = {}
    images, labels, split, boxes_txt = [], [], [], []
    names = [f"{c + 1:03d}.Bird_{c + 1}" for c in range(classes)]
    image_id = 0
    for label, name in enumerate(names):
        for i in range(per_class):
            image_id += 1
            relative = f"{name}/{name.split('.')[1]}_{i:04d}.jpg"
            files[f"{root}images/{relative}"] = image_bytes(label, i, (32, 24))
            images.append(f"{image_id} {relative}")
            labels.append(f"{image_id} {label + 1}")
            split.append(f"{image_id} {0 if i % 4 == 3 else 1}")
            boxes_txt.append(f"{image_id} 4.0 2.0 20.0 16.0")
    files[f"{root}images.txt"] = "\n".join(images).encode() + b"\n"
    files[f"{root}image_class_labels.txt"] = "\n".join(labels).encode() + b"\n"
    files[f"{root}train_test_split.txt"] = "\n".join(split).encode() + b"\n"
    files[f"{root}classes.txt"] = "\n".join(f"{c + 1} {n}" for c, n in enumerate(names)).encode() + b"\n"
    if boxes:
        files[f"{root}bounding_boxes.txt"] = "\n".join(boxes_txt).encode() + b"\n"
    files[f"{root}README"] = b"CUB-200-2011 (generated)\n"
    return files


WNIDS = ("n01440764", "n01443537", "n02102040")
WORDS = ("tench, Tinca tinca", "goldfish, Carassius auratus", "English springer, English springer spaniel")


def imagenet(val: str = "kaggle", train: int = 3, val_per_class: int = 2, root: str = "ILSVRC/Data/CLS-LOC/") -> Files:
    """ILSVRC-2012 with a flat val/ labelled Kaggle's way (``kaggle``) or the devkit's (``devkit``),
    or a val/ per class (``per_class``)."""
    files: Files = {}
    for label, wnid in enumerate(WNIDS):
        for i in range(train):
            files[f"{root}train/{wnid}/{wnid}_{i}.JPEG"] = image_bytes(label, i)
    flat: list[tuple[str, int]] = []
    number = 0
    for label, wnid in enumerate(WNIDS):
        for i in range(val_per_class):
            number += 1
            data = image_bytes(label, 100 + i)
            if val == "per_class":
                files[f"{root}val/{wnid}/ILSVRC2012_val_{number:08d}.JPEG"] = data
            else:
                files[f"{root}val/ILSVRC2012_val_{number:08d}.JPEG"] = data
                flat.append((f"ILSVRC2012_val_{number:08d}", label))
    files["LOC_synset_mapping.txt"] = "".join(f"{w} {words}\n" for w, words in zip(WNIDS, WORDS, strict=True)).encode()
    if val == "kaggle":
        rows = [f"{stem},{WNIDS[label]} 1 2 10 12 {WNIDS[label]} 0 0 5 5" for stem, label in flat]
        files["LOC_val_solution.csv"] = ("ImageId,PredictionString\n" + "\n".join(rows) + "\n").encode()
    elif val == "devkit":
        del files["LOC_synset_mapping.txt"]  # the devkit names classes in meta.mat
        ids = {wnid: 3 - i for i, wnid in enumerate(WNIDS)}  # ILSVRC2012_IDs are not in wnid order
        files["ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt"] = "".join(
            f"{ids[WNIDS[label]]}\n" for _, label in flat
        ).encode()
        files["ILSVRC2012_devkit_t12/data/meta.mat"] = meta_mat(
            {ids[w]: (w, words) for w, words in zip(WNIDS, WORDS, strict=True)}
        )
    return files


def meta_mat(synsets: dict[int, tuple[str, str]]) -> bytes:
    """The devkit's ``meta.mat``: a ``synsets`` struct array (ILSVRC2012_ID, WNID, words, gloss,
    num_children, wordnet_height, num_train_images), plus one inner synset as the real one has."""
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "wordnet_height", "num_train_images"]
    rows: list[tuple[Any, ...]] = [(i, wnid, words, "a gloss", 0, 0, 3) for i, (wnid, words) in sorted(synsets.items())]
    rows.append((len(rows) + 1, "n00001740", "entity", "that which exists", 2, 19, 0))
    array = np.array(rows, dtype=[(name, object) for name in fields])
    out = io.BytesIO()
    savemat(out, {"synsets": array})
    return out.getvalue()


def shards(classes: tuple[str, ...] = ("cat", "dog"), train: int = 6, val: int = 2, root: str = "") -> Files:
    """WebDataset shards (``sdd_core.data.shard_writer``) of generated images and ``classes.txt``."""
    files: Files = {f"{root}classes.txt": "".join(f"{name}\n" for name in classes).encode()}
    with tempfile.TemporaryDirectory() as folder:
        for split, count in (("train", train), ("val", val)):
            samples = [ShardSample(image_bytes(i % len(classes), i), "jpg", i % len(classes)) for i in range(count)]
            written = write_split_shards(
                samples, Path(folder), split=split, num_classes=len(classes), max_bytes=1 << 16
            )
            for ref in written.shards:
                files[f"{root}{split}/{ref.key}"] = (Path(folder) / ref.key).read_bytes()
    return files


def put_files(client: Any, bucket: str, prefix: str, files: Files) -> str:
    """Upload ``files`` under ``s3://bucket/prefix``; the source's address."""
    for path, data in files.items():
        client.put_object(Bucket=bucket, Key=f"{prefix}{path}", Body=data)
    return f"s3://{bucket}/{prefix}"


def memory_listing(files: Files, description: str = "s3://test/src/") -> Listing:
    return Listing({path: len(data) for path, data in files.items()}, lambda path: files[path], description)


def shuffled(files: Files, seed: int = 0) -> Files:
    """The same files in another order (a listing's order must not matter)."""
    items = list(files.items())
    random.Random(seed).shuffle(items)
    return dict(items)
