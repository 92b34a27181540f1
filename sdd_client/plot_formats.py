"""The formats curves are drawn in, known without matplotlib (the client's optional ``plot`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

PlotFormat = Literal["svg", "png"]
PLOT_FORMATS: tuple[PlotFormat, ...] = ("png", "svg")
MEDIA_TYPES: dict[PlotFormat, str] = {"svg": "image/svg+xml", "png": "image/png"}


def plot_format_of(path: Path) -> PlotFormat | None:
    """``png`` or ``svg`` from a file name's ending (any case); None for another ending."""
    suffix = path.suffix.lstrip(".").lower()
    return next((fmt for fmt in PLOT_FORMATS if fmt == suffix), None)
