"""ImageNet ILSVRC-2012 as distributed: ``train/<wnid>/<image>``, and a val split per class or flat.

A flat ``val/`` (``ILSVRC2012_val_00000001.JPEG``, …) is labelled by Kaggle's
``LOC_val_solution.csv`` (``ImageId,PredictionString``: the first word is the wnid) or by the
devkit's ``ILSVRC2012_validation_ground_truth.txt`` (line i: the ILSVRC2012_ID of image i) with
its ``meta.mat`` (the synsets: ILSVRC2012_ID, WNID, words), read with ``scipy.io.loadmat``. The
classes are the sorted wnids (every ImageNet loader's order), shown by their words from
``LOC_synset_mapping.txt`` (else ``meta.mat``) where present. The folder holding ``train/`` may
lie deep (Kaggle's ``ILSVRC/Data/CLS-LOC/``); the label files are found wherever they lie.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection
from pathlib import PurePosixPath
from typing import Any

from scipy.io import loadmat  # type: ignore[import-untyped]

from domain.datasets.ingestion_errors import IngestionError
from domain.datasets.source_listing import (
    BadFile,
    Listing,
    ParsedLayout,
    SourceSample,
    class_folders,
    images_by_class,
    in_order,
    is_direct_child,
    is_image_path,
    require_images,
    split_roots,
)

SYNSETS = "LOC_synset_mapping.txt"
KAGGLE_VAL = "LOC_val_solution.csv"
DEVKIT_VAL = "ILSVRC2012_validation_ground_truth.txt"
DEVKIT_META = "meta.mat"
MARK_FILES = (SYNSETS, KAGGLE_VAL, DEVKIT_VAL)
WNID = re.compile(r"n\d{8}")


def is_imagenet(listing: Listing) -> bool:
    """Holds one of ImageNet's label files, or ``train/`` folders that are all wnids."""
    if any(listing.find(name) for name in MARK_FILES):
        return True
    roots = split_roots(listing, "train")
    return bool(roots) and all(WNID.fullmatch(name) for name in class_folders(listing, f"{roots[0]}train/"))


def parse_imagenet(listing: Listing) -> ParsedLayout:
    """Classes (sorted wnids, named) and samples of an ILSVRC-2012 listing."""
    roots = split_roots(listing, "train")
    if not roots:
        raise IngestionError(f"{listing.description} has no train/<wnid>/<image> (the imagenet layout)",
                             code="layout_mismatch")  # fmt: skip
    root = roots[0]
    train = images_by_class(listing, f"{root}train/")
    not_wnids = [name for name in train if not WNID.fullmatch(name)]
    if not_wnids:
        raise IngestionError(
            f"{root}train/{not_wnids[0]}/ is not named by a WordNet id (n and 8 digits), as the imagenet layout's "
            "class folders are; register it as imagefolder instead",
            code="layout_mismatch",
        )
    require_images(train, f"{root}train/")
    wnids = list(train)
    index = {wnid: label for label, wnid in enumerate(wnids)}
    samples = [SourceSample("train", index[wnid], path) for wnid in wnids for path in train[wnid]]
    bad: list[BadFile] = []
    val_dir = f"{root}val/"
    per_class = {name: paths for name, paths in images_by_class(listing, val_dir).items() if paths}
    flat = [path for path in listing.sizes if is_direct_child(path, val_dir) and is_image_path(path)]
    devkit_words: dict[str, str] = {}
    if per_class:
        unknown = sorted(set(per_class) - set(index))
        if unknown:
            raise IngestionError(f"{val_dir} has class folders that {root}train/ lacks: {', '.join(unknown[:10])}",
                                 code="layout_mismatch")  # fmt: skip
        samples += [SourceSample("val", index[wnid], path) for wnid, paths in per_class.items() for path in paths]
    elif flat:
        labels, labelled_by, devkit_words = _flat_val_labels(listing)
        for path in flat:
            wnid = labels.get(PurePosixPath(path).stem)
            if wnid is None:
                bad.append(BadFile(path, f"has no label in {labelled_by}"))
            elif wnid not in index:
                bad.append(BadFile(path, f"its class {wnid} has no folder in {root}train/"))
            else:
                samples.append(SourceSample("val", index[wnid], path))
    else:
        raise IngestionError(
            f"{listing.description} has no {val_dir} images (per class, val/<wnid>/<image>, or flat, val/<image> "
            f"labelled by {KAGGLE_VAL} or by {DEVKIT_VAL} with {DEVKIT_META})",
            code="layout_mismatch",
        )
    names = _synset_names(listing) or devkit_words or _devkit_words(listing)
    return ParsedLayout(
        "imagenet", root, display_names(wnids, names), in_order(samples), tuple(sorted(bad, key=lambda b: b.path))
    )


def _flat_val_labels(listing: Listing) -> tuple[dict[str, str], str, dict[str, str]]:
    """``({image stem: wnid}, the file that says so, {wnid: words} of meta.mat when it was read)``."""
    kaggle = listing.find(KAGGLE_VAL)
    if kaggle is not None:
        labels: dict[str, str] = {}
        for number, row in enumerate(csv.reader(io.StringIO(listing.text(kaggle))), start=1):
            if number == 1 and row and row[0] == "ImageId":
                continue
            if len(row) < 2 or not row[1].split():
                raise IngestionError(f"{kaggle} line {number}: expected ImageId,PredictionString",
                                     code="layout_mismatch")  # fmt: skip
            labels[row[0].strip()] = row[1].split()[0]
        return labels, kaggle, {}
    truth = listing.find(DEVKIT_VAL)
    if truth is None:
        raise IngestionError(
            f"val/ holds images directly, but neither {KAGGLE_VAL} nor {DEVKIT_VAL} (with the devkit's "
            f"{DEVKIT_META}) is in {listing.description} to label them",
            code="layout_mismatch",
        )
    meta = listing.find(DEVKIT_META)
    if meta is None:
        raise IngestionError(
            f"{truth} gives the val images' classes as ILSVRC2012_IDs; the devkit's {DEVKIT_META}, which maps them "
            f"to wnids, is missing from {listing.description}",
            code="layout_mismatch",
        )
    synsets = read_meta(listing, meta)
    wnid_of = {ilsvrc_id: wnid for ilsvrc_id, wnid, _ in synsets}
    labels = {}
    for number, ilsvrc_id in enumerate(listing.text(truth).split(), start=1):
        if ilsvrc_id not in wnid_of:
            raise IngestionError(f"{truth} line {number}: {ilsvrc_id[:20]!r} is no ILSVRC2012_ID of {meta}",
                                 code="layout_mismatch")  # fmt: skip
        labels[f"ILSVRC2012_val_{number:08d}"] = wnid_of[ilsvrc_id]
    return labels, truth, {wnid: words for _, wnid, words in synsets}


def read_meta(listing: Listing, path: str) -> list[tuple[str, str, str]]:
    """``(ILSVRC2012_ID, wnid, words)`` of each synset in the devkit's ``meta.mat``."""
    try:
        synsets: Any = loadmat(io.BytesIO(listing.data(path)), squeeze_me=True)["synsets"]
        return [(str(int(s["ILSVRC2012_ID"])), str(s["WNID"]), str(s["words"])) for s in synsets.ravel()]
    except (ValueError, KeyError, TypeError, IndexError, OSError, NotImplementedError) as exc:
        raise IngestionError(f"{path} is not the devkit's meta.mat ({exc})", code="layout_mismatch") from exc


def _synset_names(listing: Listing) -> dict[str, str]:
    path = listing.find(SYNSETS)
    names: dict[str, str] = {}
    for line in listing.text(path).splitlines() if path else []:
        wnid, _, words = line.strip().partition(" ")
        if WNID.fullmatch(wnid) and words.strip():
            names[wnid] = words.strip()
    return names


def _devkit_words(listing: Listing) -> dict[str, str]:
    path = listing.find(DEVKIT_META)
    return {wnid: words for _, wnid, words in read_meta(listing, path)} if path else {}


def display_names(wnids: Collection[str], names: dict[str, str]) -> tuple[str, ...]:
    """Each wnid's words (the wnid where none are known); words two classes share get their wnid."""
    shown = [names.get(wnid, wnid) for wnid in wnids]
    return tuple(
        name if shown.count(name) == 1 or name == wnid else f"{name} ({wnid})"
        for wnid, name in zip(wnids, shown, strict=True)
    )
