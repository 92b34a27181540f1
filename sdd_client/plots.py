"""Training curves of one or more jobs as one figure (SVG or PNG), drawn with matplotlib: the one
renderer of the server and the client.

The worker stores a finished job's curves as artifacts, the REST API serves them (or draws a
running job's curves on the fly), the web dashboard shows the SVG, and ``sdd jobs compare --plot``
and ``sdd sweeps report --plot`` draw them on the client from what the API returned. Input rows
are the per-epoch dicts of ``GET /v1/jobs/{id}/metrics``; missing or non-finite values leave gaps,
never errors. matplotlib is imported here at the top: it is the client's optional ``plot`` extra
(``pip install 'sdd-client[plot]'``), so the client's commands import this module only for ``--plot``.

``render_overlay`` draws one metric of many jobs in one panel instead: a sweep's members' val top-1
curves, coloured by configuration, one line style per seed.

Panels of ``render_curves``, x axis epoch: validation top-1/top-5 (%), training loss parts (total,
CE, KD), the share of complementary regions (SD methods only, %), the learning rate. Colour tells
jobs apart (one legend under the figure); line style tells a panel's curves apart (a small legend
per panel).

Only the object-oriented ``Figure`` API is used (no pyplot, no global backend): figures are never
registered anywhere and are freed with their last reference. The few rcParams that shape the
output are set under a lock for the duration of one render, so concurrent requests cannot see
each other's settings.

SVG output is self-contained and stable: text stays ``<text>`` (``svg.fonttype = "none"``, font
list ending in the generic ``sans-serif``), element ids come from a fixed ``svg.hashsalt``, no date
or RDF metadata, and the DOCTYPE (an external DTD URL no browser fetches) is dropped.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from sdd_client.plot_formats import MEDIA_TYPES, PlotFormat

EMPTY_MESSAGE = "no finished epoch yet"
PNG_DPI = 100

LineStyle = Literal["-", "--", ":", "-."]

_RC: dict[Any, Any] = {
    "svg.fonttype": "none",  # text as <text>: small, searchable, readable by screen readers
    "svg.hashsalt": "sdd-jobs-curves",  # stable clip-path and marker ids
    "text.parse_math": False,  # a "$" in a job label is text, not mathtext
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8.0,
    "legend.frameon": False,
}
_SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}  # no <metadata> block
_PNG_METADATA = {"Software": None}
_DOCTYPE_RE = re.compile(rb"<!DOCTYPE[^>]*>\s*")
_COLORS = (
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
)  # matplotlib's tab10: one colour per job
_render_lock = threading.Lock()


@dataclass(frozen=True)
class Curve:
    key: str  # field of a metrics row
    name: str  # legend text of its line style
    linestyle: LineStyle
    scale: float = 1.0  # e.g. 100 to show a fraction in percent


@dataclass(frozen=True)
class Panel:
    title: str
    ylabel: str
    curves: tuple[Curve, ...]
    only_if_present: bool = False  # drawn only when some row has a value for one of its curves


PANELS: tuple[Panel, ...] = (
    Panel("Validation accuracy", "accuracy (%)", (Curve("val_top1", "top-1", "-"), Curve("val_top5", "top-5", "--"))),
    Panel(
        "Training loss",
        "loss",
        (
            Curve("train_loss", "total", "-"),
            Curve("train_ce", "CE", "--"),
            Curve("train_kd", "KD", ":"),
        ),
    ),
    Panel("Validation loss", "cross-entropy", (Curve("val_loss", "val CE", "-"),), only_if_present=True),
    Panel(
        "Complementary-region share",
        "share of regions (%)",
        (Curve("complementary_share", "complementary", "-", scale=100.0),),
        only_if_present=True,
    ),
    Panel("Learning rate", "learning rate", (Curve("lr", "lr", "-"),)),
)


def job_label(job_id: str, spec: Mapping[str, Any], name: str | None = None) -> str:
    """How a job is named in a legend: its name, else its id and method (``job_3f9c… sd-kd``)."""
    return name or f"{job_id} {spec.get('method', '?')}"


def job_title(job_id: str, spec: Mapping[str, Any], name: str | None = None) -> str:
    """A figure title for one job, e.g. ``baseline: sd-kd → resnet8 on cifar100`` (the id without a name)."""
    return f"{name or job_id}: {spec.get('method', '?')} → {spec.get('student', '?')} on {spec.get('dataset', '?')}"


def render_curves(
    series: Mapping[str, Sequence[Mapping[str, Any]]], fmt: PlotFormat = "svg", *, title: str | None = None
) -> bytes:
    """One figure of the jobs' curves, overlaid; ``series`` maps a legend label to metrics rows.

    Jobs without any row are named in the legend as having no finished epoch; if no job has one,
    the figure is a small notice saying so.
    """
    return render_curve_files(series, (fmt,), title=title)[fmt]


def render_curve_files(
    series: Mapping[str, Sequence[Mapping[str, Any]]], formats: Sequence[PlotFormat], *, title: str | None = None
) -> dict[PlotFormat, bytes]:
    """``render_curves`` in each of ``formats`` from one figure, built once: the same bytes as one
    call per format, for less (a finished job's stored PNG and SVG)."""
    for fmt in formats:
        if fmt not in MEDIA_TYPES:
            raise ValueError(f"unknown plot format {fmt!r}; use 'svg' or 'png'")
    with _render_lock, matplotlib.rc_context(_RC):
        figure = _curves_figure(series, title) if any(series.values()) else _empty_figure(title)
        return {fmt: _save(figure, fmt) for fmt in formats}


OVERLAY_LINESTYLES: tuple[LineStyle, ...] = ("-", "--", ":", "-.")


def render_overlay(
    groups: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]],
    fmt: PlotFormat = "svg",
    *,
    key: str = "val_top1",
    ylabel: str = "validation top-1 (%)",
    title: str | None = None,
) -> bytes:
    """One metric of many jobs in one panel: ``groups`` maps a group (a sweep's configuration) to
    {line label: metrics rows}. Colour tells groups apart, line style the lines of a group (seeds).

    A sweep's members' val top-1 curves, for its report and the dashboard's sweep page.
    """
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"unknown plot format {fmt!r}; use 'svg' or 'png'")
    with _render_lock, matplotlib.rc_context(_RC):
        if any(rows for lines in groups.values() for rows in lines.values()):
            figure = _overlay_figure(groups, key, ylabel, title)
        else:
            figure = _empty_figure(title)
        return _save(figure, fmt)


def _overlay_figure(
    groups: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]], key: str, ylabel: str, title: str | None
) -> Figure:
    lines = [
        (f"{group} · {label}", _sorted_rows(rows), _COLORS[g % len(_COLORS)], OVERLAY_LINESTYLES[i % 4])
        for g, (group, members) in enumerate(groups.items())
        for i, (label, rows) in enumerate(members.items())
    ]
    legend_rows = math.ceil(len(lines) / 2)
    top_in, bottom_in = 0.3 + (0.35 if title else 0.0), 0.55 + 0.2 * legend_rows
    height = 3.6 + top_in + bottom_in
    figure = Figure(figsize=(10.0, height))
    ax = figure.add_axes((0.07, bottom_in / height, 0.915, 1 - (top_in + bottom_in) / height))
    last_epoch = max((_planned_epochs(rows) for _, rows, _, _ in lines), default=1)
    handles = []
    for label, rows, color, linestyle in lines:
        values = [_number(row.get(key)) for row in rows]
        if rows and not all(math.isnan(v) for v in values):
            epochs = [_epoch(row, i) for i, row in enumerate(rows)]
            ax.plot(epochs, values, color=color, linestyle=linestyle, marker="o", markersize=3, linewidth=1.4)
        shown = label if rows else f"{label} ({EMPTY_MESSAGE})"
        handles.append(Line2D([], [], color=color, linestyle=linestyle, marker="o", markersize=4, label=shown))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    pad = max(0.5, 0.03 * (last_epoch - 1))
    ax.set_xlim(1 - pad, last_epoch + pad)
    figure.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=min(len(handles), 2))
    if title:
        figure.suptitle(title, y=1 - 0.08 / height, va="top")
    return figure


# ---------------------------------------------------------------- figures


def _curves_figure(series: Mapping[str, Sequence[Mapping[str, Any]]], title: str | None) -> Figure:
    jobs = [(label, _sorted_rows(rows), _COLORS[i % len(_COLORS)]) for i, (label, rows) in enumerate(series.items())]
    panels = [p for p in PANELS if not p.only_if_present or _any_value(jobs, p)]
    ncols = 2
    nrows = math.ceil(len(panels) / ncols)
    legend_rows = math.ceil(len(jobs) / 2)
    top_in, bottom_in = 0.3 + (0.35 if title else 0.0), 0.55 + 0.2 * legend_rows  # margins in inches
    height = 2.6 * nrows + 0.7 * (nrows - 1) + top_in + bottom_in
    figure = Figure(figsize=(10.0, height))  # fixed margins: a constrained layout doubles the drawing time
    grid = figure.add_gridspec(
        nrows,
        ncols,
        left=0.085,
        right=0.985,
        bottom=bottom_in / height,
        top=1 - top_in / height,
        wspace=0.22,
        hspace=0.7 / 2.6,
    )
    last_epoch = max((_planned_epochs(rows) for _, rows, _ in jobs), default=1)
    for index, panel in enumerate(panels):
        row, col = divmod(index, ncols)
        spans_row = index == len(panels) - 1 and len(panels) % ncols  # a lone last panel takes the row
        ax = figure.add_subplot(grid[row, :] if spans_row else grid[row, col])
        _draw_panel(ax, panel, jobs, last_epoch)
    handles = [
        Line2D([], [], color=color, marker="o", markersize=4, label=label if rows else f"{label} ({EMPTY_MESSAGE})")
        for label, rows, color in jobs
    ]
    figure.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=min(len(handles), 2))
    if title:
        figure.suptitle(title, y=1 - 0.08 / height, va="top")
    return figure


def _draw_panel(ax: Axes, panel: Panel, jobs: list[tuple[str, list[Mapping[str, Any]], str]], last_epoch: int) -> None:
    for _, rows, color in jobs:
        epochs = [_epoch(row, i) for i, row in enumerate(rows)]
        for curve in panel.curves:
            values = [_number(row.get(curve.key), curve.scale) for row in rows]
            if all(math.isnan(v) for v in values):
                continue
            ax.plot(epochs, values, color=color, linestyle=curve.linestyle, marker="o", markersize=3, linewidth=1.4)
    ax.set_title(panel.title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(panel.ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    pad = max(0.5, 0.03 * (last_epoch - 1))  # the planned run: a live job's curves fill it from the left
    ax.set_xlim(1 - pad, last_epoch + pad)
    if len(panel.curves) > 1:
        ax.legend(
            handles=[Line2D([], [], color="#444444", linestyle=c.linestyle, label=c.name) for c in panel.curves],
            loc="best",
        )


def _empty_figure(title: str | None) -> Figure:
    figure = Figure(figsize=(5.0, 1.6 if title else 1.2))
    figure.text(0.5, 0.45 if title else 0.5, EMPTY_MESSAGE, ha="center", va="center", fontsize=11, color="#555555")
    if title:
        figure.suptitle(title)
    return figure


def _save(figure: Figure, fmt: PlotFormat) -> bytes:
    buffer = io.BytesIO()
    if fmt == "png":
        figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata=_PNG_METADATA)
        return buffer.getvalue()
    figure.savefig(buffer, format="svg", metadata=_SVG_METADATA)
    return _DOCTYPE_RE.sub(b"", buffer.getvalue(), count=1)


# ---------------------------------------------------------------- rows


def _number(value: Any, scale: float = 1.0) -> float:
    """``value`` as a finite float times ``scale``, or NaN (a gap in the line)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    number = float(value) * scale
    return number if math.isfinite(number) else math.nan


def _epoch(row: Mapping[str, Any], index: int) -> int:
    epoch = row.get("epoch")
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else index + 1


def _sorted_rows(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [row for _, row in sorted(((_epoch(row, i), row) for i, row in enumerate(rows)), key=lambda p: p[0])]


def _planned_epochs(rows: Sequence[Mapping[str, Any]]) -> int:
    """The most epochs a job's rows mention: its planned total, or the last epoch seen."""
    seen = [_epoch(row, i) for i, row in enumerate(rows)]
    planned = [row["epochs"] for row in rows if isinstance(row.get("epochs"), int)]
    return max([*seen, *planned], default=1)


def _any_value(jobs: list[tuple[str, list[Mapping[str, Any]], str]], panel: Panel) -> bool:
    return any(
        not math.isnan(_number(row.get(curve.key))) for _, rows, _ in jobs for row in rows for curve in panel.curves
    )
