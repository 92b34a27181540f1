"""Sample per-epoch metrics rows and an SVG text reader, shared by the plot tests of the client, the
worker and the API."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"


def metrics_rows(epochs: int, *, sd: bool, planned: int | None = None) -> list[dict[str, Any]]:
    """Rows shaped like GET /v1/jobs/{id}/metrics (complementary_share is None for non-SD methods)."""
    return [
        {
            "epoch": e,
            "epochs": planned or epochs,
            "lr": 0.05 if e < 3 else 0.005,
            "train_loss": 2.0 / e,
            "train_ce": 1.2 / e,
            "train_kd": 0.8 / e if sd else 0.0,
            "train_top1": 50.0 + e,
            "val_loss": 1.5 / e,
            "val_top1": 40.0 + 5 * e,
            "val_top5": 70.0 + 3 * e,
            "best_val_top1": 40.0 + 5 * e,
            "images_per_s": 1000.0,
            "complementary_share": 0.3 + 0.01 * e if sd else None,
            "nonfinite_steps": 0,
            "seconds": 1.5,
        }
        for e in range(1, epochs + 1)
    ]


def svg_text(svg: bytes) -> str:
    """All text of an SVG (svg.fonttype "none" keeps labels as <text>)."""
    root = ET.fromstring(svg)
    return " ".join("".join(node.itertext()) for node in root.iter(f"{{{SVG_NS}}}text"))
