"""The picture of a dataset the dashboard shows: a few training images of each class, in a grid.

One row per class (the first ``MAX_CLASSES`` classes), its name on the left and up to
``PER_CLASS`` thumbnails of ``THUMBNAIL`` px, as the ingestion met them; stored as
``datasets/<id>/samples.png``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

PER_CLASS = 4
MAX_CLASSES = 24
THUMBNAIL = 64
LABEL_WIDTH = 160
_BACKGROUND = (255, 255, 255)
_TEXT = (30, 30, 30)


class SampleGrid:
    """Thumbnails gathered per class, then drawn as one PNG."""

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = list(classes)[:MAX_CLASSES]
        self.thumbnails: dict[int, list[Image.Image]] = {label: [] for label in range(len(self.classes))}

    def wants(self, label: int) -> bool:
        return label in self.thumbnails and len(self.thumbnails[label]) < PER_CLASS

    def add(self, label: int, image: Image.Image) -> None:
        """Keep a thumbnail of ``image`` (RGB) for class ``label``."""
        thumbnail = image.copy()
        thumbnail.thumbnail((THUMBNAIL, THUMBNAIL))
        self.thumbnails[label].append(thumbnail)

    def png(self) -> bytes:
        """The grid as PNG bytes."""
        rows = max(len(self.classes), 1)
        grid = Image.new("RGB", (LABEL_WIDTH + PER_CLASS * THUMBNAIL, rows * THUMBNAIL), _BACKGROUND)
        draw = ImageDraw.Draw(grid)
        for label, name in enumerate(self.classes):
            top = label * THUMBNAIL
            try:
                draw.text((4, top + THUMBNAIL // 2 - 6), _fitted(name), fill=_TEXT)
            except UnicodeEncodeError:  # a bitmap font without the name's characters
                draw.text((4, top + THUMBNAIL // 2 - 6), _fitted(name).encode("ascii", "replace").decode(), fill=_TEXT)
            for column, thumbnail in enumerate(self.thumbnails[label]):
                left = LABEL_WIDTH + column * THUMBNAIL + (THUMBNAIL - thumbnail.width) // 2
                grid.paste(thumbnail, (left, top + (THUMBNAIL - thumbnail.height) // 2))
        out = io.BytesIO()
        grid.save(out, format="PNG")
        return out.getvalue()


def _fitted(name: str, limit: int = 24) -> str:
    """The class name on one line, cut to fit beside the thumbnails."""
    text = "".join(c if c.isprintable() else " " for c in name)
    return text if len(text) <= limit else text[: limit - 3] + "..."
