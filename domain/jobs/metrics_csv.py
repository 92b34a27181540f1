"""A job's per-epoch metrics as CSV: what ``GET /v1/jobs/{id}/metrics?format=csv``, the dashboard's
"Download CSV" and ``sdd jobs metrics ID --csv`` give.

One row per finished epoch, one column per field in a stable order (``COLUMNS`` first, any other
field after them by name). Numbers are plain decimals (``0.00001``, never ``1e-05``), a missing
value is an empty cell, and a text cell that a spreadsheet would read as a formula (starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed with ``'``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

COLUMNS: tuple[str, ...] = (
    "epoch",
    "epochs",
    "lr",
    "train_loss",
    "train_ce",
    "train_kd",
    "train_top1",
    "val_loss",
    "val_top1",
    "val_top5",
    "best_val_top1",
    "complementary_share",
    "nonfinite_steps",
    "images_per_s",
    "seconds",
    "data_path",
)
"""The fields of ``sdd_core.trainer.options.EpochMetrics``, in the order the CSV shows them."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MEDIA_TYPE = "text/csv; charset=utf-8"


def columns_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """``COLUMNS`` (the ones present only when there are rows), then every other field by name."""
    if not rows:
        return list(COLUMNS)
    present = {key for row in rows for key in row}
    return [name for name in COLUMNS if name in present] + sorted(present - set(COLUMNS))


def cell(value: Any) -> str:
    """One value as a CSV cell: plain decimals, empty for none, text defused against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return format(Decimal(repr(value)), "f")
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_filename(job_id: str) -> str:
    """The download name of a job's metrics as CSV."""
    return f"{job_id}-metrics.csv"


def metrics_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV text with a header line (``\\r\\n`` line ends, as RFC 4180 writes them)."""
    names = columns_of(rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    for row in rows:
        writer.writerow([cell(row.get(name)) for name in names])
    return out.getvalue()
