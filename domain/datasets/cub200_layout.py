"""CUB-200-2011 as distributed: its text files name every image's class and split.

``images.txt`` (``<image id> <path under images/>``), ``image_class_labels.txt`` (``<image id>
<class id>``), ``train_test_split.txt`` (``<image id> <1: training, 0: test>``), ``classes.txt``
(``<class id> <name>``) and, optionally, ``bounding_boxes.txt`` (``<image id> <x> <y> <width>
<height>`` in pixels: the crop ``crop_to_boxes`` applies). They sit side by side with ``images/``,
possibly inside the archive's ``CUB_200_2011/``. The test split is the val split; classes are
ordered by their id. An image ``images.txt`` lists but the source lacks is a bad file; a line that
does not read, or an image without a class or split, refuses the layout naming the file and line.
"""

from __future__ import annotations

from domain.datasets.ingestion_errors import IngestionError
from domain.datasets.source_listing import (
    BadFile,
    Box,
    Listing,
    ParsedLayout,
    SourceSample,
    Split,
    folder_of,
    in_order,
    require_train_images,
)

CUB_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")
CUB_BOXES = "bounding_boxes.txt"


def is_cub200(listing: Listing) -> bool:
    return bool(listing.find("images.txt") and listing.find("image_class_labels.txt"))


def parse_cub200(listing: Listing, crop_to_boxes: bool) -> ParsedLayout:
    """Classes (by id) and samples of a CUB-200-2011 listing; with ``crop_to_boxes``, each sample's box."""
    found = listing.find("images.txt")
    root = folder_of(found) if found else ""
    missing = [f"{root}{name}" for name in CUB_FILES if f"{root}{name}" not in listing]
    if crop_to_boxes and f"{root}{CUB_BOXES}" not in listing:
        missing.append(f"{root}{CUB_BOXES} (crop_to_boxes needs it)")
    if missing:
        raise IngestionError(
            f"{listing.description} is not a cub200 layout: {', '.join(missing)} missing "
            f"(expected {', '.join(CUB_FILES)} and images/ side by side)",
            code="layout_mismatch",
        )
    paths = _id_table(listing, f"{root}images.txt", 1)
    labels = _id_table(listing, f"{root}image_class_labels.txt", 1)
    is_train = _id_table(listing, f"{root}train_test_split.txt", 1)
    class_rows = _id_table(listing, f"{root}classes.txt", 1)
    boxes = _id_table(listing, f"{root}{CUB_BOXES}", 4) if crop_to_boxes else {}
    class_ids = sorted(class_rows, key=_numeric)
    classes = tuple(class_rows[class_id][0] for class_id in class_ids)
    label_of = {class_id: label for label, class_id in enumerate(class_ids)}
    samples: list[SourceSample] = []
    bad: list[BadFile] = []
    for image_id, (relative,) in paths.items():
        for table, name in ((labels, "image_class_labels.txt"), (is_train, "train_test_split.txt")):
            if image_id not in table:
                raise IngestionError(
                    f"image {image_id} of images.txt has no line in {root}{name}", code="layout_mismatch"
                )
        class_id = labels[image_id][0]
        if class_id not in label_of:
            raise IngestionError(
                f"image {image_id} is of class {class_id}, which {root}classes.txt does not name",
                code="layout_mismatch",
            )
        path = f"{root}images/{relative}"
        if path not in listing:
            bad.append(BadFile(path, "listed in images.txt but not in the source"))
            continue
        split: Split = "train" if is_train[image_id][0] == "1" else "val"
        box = _box(boxes, image_id, root) if crop_to_boxes else None
        samples.append(SourceSample(split, label_of[class_id], path, box))
    require_train_images(classes, samples, f"{root}images/")
    return ParsedLayout("cub200", root, classes, in_order(samples), tuple(bad))


def _id_table(listing: Listing, path: str, columns: int) -> dict[str, list[str]]:
    """``{id: [value, …]}`` of a file of ``<id> <value>…`` lines (a one-column value may hold spaces)."""
    table: dict[str, list[str]] = {}
    for number, line in enumerate(listing.text(path).splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=columns)
        if len(parts) != columns + 1:
            raise IngestionError(
                f"{path} line {number}: expected an id and {columns} value(s), found {line.strip()[:80]!r}",
                code="layout_mismatch",
            )
        if parts[0] in table:
            raise IngestionError(f"{path} line {number}: id {parts[0]} appears twice", code="layout_mismatch")
        table[parts[0]] = [part.strip() for part in parts[1:]]
    return table


def _numeric(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (1 << 62, value)


def _box(boxes: dict[str, list[str]], image_id: str, root: str) -> Box:
    if image_id not in boxes:
        raise IngestionError(f"image {image_id} has no line in {root}{CUB_BOXES}", code="layout_mismatch")
    try:
        x, y, width, height = (float(value) for value in boxes[image_id])
    except ValueError as exc:
        raise IngestionError(
            f"{root}{CUB_BOXES}: the box of image {image_id} is not four numbers", code="layout_mismatch"
        ) from exc
    return x, y, width, height
