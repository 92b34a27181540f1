"""A sweep's accuracy against cost as one figure (SVG or PNG): top-1 against CPU latency and against
parameters, one point per configuration, the Pareto frontier of each panel drawn through its points.

Input is the report's ``cost`` part as the API sends it (``sdd_client.models.CostReport``): the
server draws it for ``GET /v1/sweeps/{id}/report/cost.svg`` and the dashboard, ``sdd sweeps report
--cost-plot`` on the client. Filled markers are on the frontier, hollow ones off it; a dashed line
is the teacher's top-1, and with ``within`` a dotted line that many points below it and a ring
around the configuration chosen. An axis is logarithmic when its values span more than 10×.
Same drawing rules as ``sdd_client.plots`` (object-oriented matplotlib, stable SVG).
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import EngFormatter, FuncFormatter

from sdd_client.models import CostPoint, CostReport
from sdd_client.plot_formats import MEDIA_TYPES, PlotFormat
from sdd_client.plots import _COLORS, _RC, _render_lock, _save  # one style and one lock for every figure

EMPTY_COST_MESSAGE = "no finished member recorded its cost yet"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")  # a second cue beside colour, past 10 configurations too


def render_cost(cost: CostReport, fmt: PlotFormat = "svg", *, title: str | None = None) -> bytes:
    """Top-1 against latency and against parameters (rules in the module docstring)."""
    if fmt not in MEDIA_TYPES:
        raise ValueError(f"unknown plot format {fmt!r}; use 'svg' or 'png'")
    with _render_lock, matplotlib.rc_context(_RC):
        drawn = [p for p in cost.points if p.top1 is not None and (p.cpu_batch1_ms or p.parameters)]
        figure = _cost_figure(cost, drawn, title) if drawn else _empty(title)
        return _save(figure, fmt)


def _cost_figure(cost: CostReport, points: list[CostPoint], title: str | None) -> Figure:
    legend_rows = (len(points) + 1) // 2 + 1
    top_in, bottom_in = 0.3 + (0.35 if title else 0.0), 0.6 + 0.2 * legend_rows
    height = 3.4 + top_in + bottom_in
    figure = Figure(figsize=(10.0, height))
    grid = figure.add_gridspec(1, 2, left=0.07, right=0.985, bottom=bottom_in / height, top=1 - top_in / height)
    style = {p.configuration: (_COLORS[i % len(_COLORS)], MARKERS[i % len(MARKERS)]) for i, p in enumerate(points)}
    chosen = cost.within.configuration if cost.within is not None else None
    panels: tuple[tuple[str, str, Callable[[CostPoint], float | None], Callable[[CostPoint], bool]], ...] = (
        (
            "Top-1 against latency",
            "CPU latency, batch 1 (ms)",
            lambda p: p.cpu_batch1_ms,
            lambda p: p.on_latency_frontier,
        ),
        ("Top-1 against size", "parameters", lambda p: p.parameters, lambda p: p.on_parameters_frontier),
    )
    for column, (panel_title, xlabel, x_of, on_frontier) in enumerate(panels):
        ax = figure.add_subplot(grid[0, column])
        shown = [(x, y, p) for p in points if (x := x_of(p)) is not None and (y := p.top1) is not None]
        for x, y, p in shown:
            color, marker = style[p.configuration]
            filled = on_frontier(p)
            ax.plot([x], [y], linestyle="none", marker=marker, markersize=7, color=color,
                    markerfacecolor=color if filled else "white", markeredgewidth=1.5)  # fmt: skip
            if p.configuration == chosen:
                ax.plot([x], [y], linestyle="none", marker="o", markersize=15, markerfacecolor="none",
                        markeredgecolor="#222222", markeredgewidth=1.2)  # fmt: skip
        frontier = sorted((x, y) for x, y, p in shown if on_frontier(p))
        if frontier:
            ax.plot(*zip(*frontier, strict=True), color="#444444", linewidth=1.0, drawstyle="steps-post")
        _teacher_lines(ax, cost)
        _scale(ax, [x for x, _, _ in shown], counts=column == 1)
        ax.set_title(panel_title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{cost.accuracy} (%)")
    handles = [
        Line2D(
            [],
            [],
            linestyle="none",
            marker=style[p.configuration][1],
            color=style[p.configuration][0],
            label=p.configuration,
        )  # fmt: skip
        for p in points
    ]
    handles.append(Line2D([], [], color="#444444", linewidth=1.0, label="Pareto frontier (filled markers)"))
    if cost.teacher_top1 is not None:
        handles.append(Line2D([], [], color="#888888", linestyle="--", label=f"teacher {cost.teacher_top1:.2f}%"))
    if cost.within is not None and cost.teacher_top1 is not None:
        below = f"{cost.within.within:g} point{'' if cost.within.within == 1 else 's'} below the teacher"
        handles.append(Line2D([], [], color="#888888", linestyle=":", label=below))
    figure.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=2)
    if title:
        figure.suptitle(title, y=1 - 0.08 / height, va="top")
    return figure


def _teacher_lines(ax: Axes, cost: CostReport) -> None:
    if cost.teacher_top1 is None:
        return
    ax.axhline(cost.teacher_top1, color="#888888", linestyle="--", linewidth=1.0)
    if cost.within is not None:
        ax.axhline(cost.teacher_top1 - cost.within.within, color="#888888", linestyle=":", linewidth=1.0)


def _scale(ax: Axes, values: list[float], *, counts: bool) -> None:
    """Logarithmic when the values span more than 10×; counts as 250k, 1.5M."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) > 10 * min(positive):
        ax.set_xscale("log")
    if counts:
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    else:  # plain numbers: mathtext (10^0) is off in these figures
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def _empty(title: str | None) -> Figure:
    figure = Figure(figsize=(5.0, 1.6 if title else 1.2))
    figure.text(0.5, 0.45 if title else 0.5, EMPTY_COST_MESSAGE, ha="center", va="center", fontsize=11, color="#555555")
    if title:
        figure.suptitle(title)
    return figure
