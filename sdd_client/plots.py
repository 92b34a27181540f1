"""``sdd jobs compare --plot`` and ``sdd sweeps report --plot``: jobs' training curves overlaid in one
PNG or SVG figure.

Drawn on the client from the rows ``GET /v1/jobs/{id}/metrics`` returned, so it needs no server
package, only matplotlib (the ``plot`` extra: ``pip install 'sdd-client[plot]'``). This module
imports matplotlib at the top; the commands import it only when ``--plot`` is given.

Panels, x axis epoch: validation top-1/top-5 (%), training loss parts (total, CE, KD), the share
of complementary regions (SD methods only, %) and the learning rate. Colour tells jobs apart (one
legend under the figure, by job label); line style tells a panel's curves apart. Missing or
non-finite values leave gaps. Only matplotlib's object-oriented ``Figure`` is used (no pyplot).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import LineStyleType, RcKeyType

from sdd_client.models import EpochRow

PLOT_FORMATS = ("png", "svg")
NO_EPOCH = "no finished epoch yet"
JOB_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)  # tab10, one colour per job
STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # text stays <text>: job ids remain searchable in the SVG
    "svg.hashsalt": "sdd-client-compare",  # the same input gives the same SVG
    "text.parse_math": False,  # a "$" in a label is text
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8.0,
    "legend.frameon": False,
}


@dataclass(frozen=True)
class Line:
    field: str  # an EpochRow field
    name: str
    linestyle: LineStyleType
    scale: float = 1.0


@dataclass(frozen=True)
class Panel:
    title: str
    ylabel: str
    lines: tuple[Line, ...]
    sd_only: bool = False  # drawn only when some job reports it


PANELS = (
    Panel("Validation accuracy", "accuracy (%)", (Line("val_top1", "top-1", "-"), Line("val_top5", "top-5", "--"))),
    Panel(
        "Training loss",
        "loss",
        (Line("train_loss", "total", "-"), Line("train_ce", "CE", "--"), Line("train_kd", "KD", ":")),
    ),
    Panel("Validation loss", "cross-entropy", (Line("val_loss", "val CE", "-"),)),
    Panel(
        "Complementary-region share",
        "share of regions (%)",
        (Line("complementary_share", "complementary", "-", scale=100.0),),
        sd_only=True,
    ),
    Panel("Learning rate", "learning rate", (Line("lr", "lr", "-"),)),
)


def render_compare(series: Mapping[str, Sequence[EpochRow]], fmt: str, *, title: str | None = None) -> bytes:
    """The figure's bytes in ``fmt`` ("png" or "svg"); ``series`` maps a job's label to its epochs."""
    if fmt not in PLOT_FORMATS:
        raise ValueError(f"unknown plot format {fmt!r}; use 'png' or 'svg'")
    jobs = {label: sorted(rows, key=lambda row: row.epoch) for label, rows in series.items()}
    with matplotlib.rc_context(STYLE):
        figure = _figure(jobs, title)
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None})
    return buffer.getvalue()


def _figure(jobs: Mapping[str, list[EpochRow]], title: str | None) -> Figure:
    panels = [panel for panel in PANELS if not panel.sd_only or _reported(jobs, panel)]
    rows_of_panels = math.ceil(len(panels) / 2)
    legend_rows = math.ceil(len(jobs) / 2)
    figure = Figure(
        figsize=(10.0, 2.9 * rows_of_panels + 0.6 + 0.2 * legend_rows + (0.35 if title else 0.0)), layout="constrained"
    )
    grid = figure.add_gridspec(rows_of_panels, 2)
    last_epoch = max((row.epochs or row.epoch for rows in jobs.values() for row in rows), default=1)
    colors = {label: JOB_COLORS[index % len(JOB_COLORS)] for index, label in enumerate(jobs)}
    for index, panel in enumerate(panels):
        row, col = divmod(index, 2)
        alone_in_row = index == len(panels) - 1 and len(panels) % 2 == 1
        ax = figure.add_subplot(grid[row, :] if alone_in_row else grid[row, col])
        for label, rows in jobs.items():
            epochs = [row.epoch for row in rows]
            for line in panel.lines:
                values = [_value(getattr(row, line.field), line.scale) for row in rows]
                if not all(math.isnan(value) for value in values):
                    ax.plot(
                        epochs,
                        values,
                        color=colors[label],
                        linestyle=line.linestyle,
                        marker="o",
                        markersize=3,
                        linewidth=1.4,
                    )
        ax.set_title(panel.title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel.ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(0.5, last_epoch + 0.5)
        if len(panel.lines) > 1:
            ax.legend(
                handles=[
                    Line2D([], [], color="#444444", linestyle=line.linestyle, label=line.name) for line in panel.lines
                ],
                loc="best",
            )
    handles = [
        Line2D([], [], color=colors[label], marker="o", markersize=4, label=label if rows else f"{label} ({NO_EPOCH})")
        for label, rows in jobs.items()
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=max(1, min(len(handles), 2)))
    if title:
        figure.suptitle(title)
    return figure


SEED_LINESTYLES: tuple[LineStyleType, ...] = ("-", "--", ":", "-.")


def render_sweep(
    groups: Mapping[str, Mapping[str, Sequence[EpochRow]]], fmt: str, *, title: str | None = None
) -> bytes:
    """``sdd sweeps report --plot``: every member's val top-1 per epoch in one panel.

    ``groups`` maps a configuration's label to {member label: its epochs}; colour tells the
    configurations apart, line style the members (seeds) of one configuration.
    """
    if fmt not in PLOT_FORMATS:
        raise ValueError(f"unknown plot format {fmt!r}; use 'png' or 'svg'")
    lines = [
        (
            f"{group} · {label}",
            sorted(rows, key=lambda row: row.epoch),
            JOB_COLORS[g % len(JOB_COLORS)],
            SEED_LINESTYLES[i % 4],
        )
        for g, (group, members) in enumerate(groups.items())
        for i, (label, rows) in enumerate(members.items())
    ]
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(10.0, 4.2 + 0.2 * math.ceil(len(lines) / 2)), layout="constrained")
        ax = figure.add_subplot()
        last_epoch = max((row.epochs or row.epoch for _, rows, _, _ in lines for row in rows), default=1)
        for _, rows, color, linestyle in lines:
            values = [_value(row.val_top1, 1.0) for row in rows]
            if rows and not all(math.isnan(value) for value in values):
                ax.plot([row.epoch for row in rows], values, color=color, linestyle=linestyle, marker="o", markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation top-1 (%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_xlim(0.5, last_epoch + 0.5)
        handles = [
            Line2D(
                [],
                [],
                color=color,
                linestyle=style,
                marker="o",
                markersize=4,
                label=label if rows else f"{label} ({NO_EPOCH})",
            )
            for label, rows, color, style in lines
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=max(1, min(len(handles), 2)))
        if title:
            figure.suptitle(title)
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, metadata={"Software": None} if fmt == "png" else {"Date": None})
    return buffer.getvalue()


def _value(value: float | None, scale: float) -> float:
    """A finite number times ``scale``, or NaN (a gap in the line)."""
    if value is None or not math.isfinite(value):
        return math.nan
    return float(value) * scale


def _reported(jobs: Mapping[str, list[EpochRow]], panel: Panel) -> bool:
    return any(
        not math.isnan(_value(getattr(row, line.field), 1.0))
        for rows in jobs.values()
        for row in rows
        for line in panel.lines
    )
