"""``sdd jobs metrics JOB``'s table: one line per finished epoch (``--csv`` gives every field instead)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from sdd_client.models import EpochRow

COLUMNS = ("epoch", "loss", "ce", "kd", "train top-1", "val loss", "val top-1", "val top-5", "lr", "images/s")


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def metrics_table(rows: Sequence[EpochRow], title: str = "metrics") -> Table:
    """Losses, accuracies (percent), learning rate and speed per epoch."""
    table = Table(*COLUMNS, title=title, title_justify="left")
    for row in rows:
        table.add_row(
            f"{row.epoch}/{row.epochs}" if row.epochs else str(row.epoch),
            _number(row.train_loss),
            _number(row.train_ce),
            _number(row.train_kd),
            _number(row.train_top1, 2),
            _number(row.val_loss),
            _number(row.val_top1, 2),
            _number(row.val_top5, 2),
            _number(row.lr, 5),
            _number(row.images_per_s, 0),
        )
    return table
