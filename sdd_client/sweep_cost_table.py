"""The report's accuracy against cost for ``sdd sweeps report``: the answer to ``--within``, one row per
configuration (the cells of ``sweep_report_markdown.cost_cells``) and what the numbers are."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from sdd_client.models import CostReport
from sdd_client.sweep_report_markdown import COST_HEADERS, cost_cells, cost_legend, within_heading


def cost_view(cost: CostReport) -> Group:
    if not cost.available:
        return Group(Text(f"accuracy against cost: {cost.note}", style="dim"))
    table = Table("configuration", *COST_HEADERS, title="accuracy against cost", title_justify="left")
    for column in table.columns[1:-1]:
        column.justify = "right"
    for point in cost.points:
        table.add_row(point.configuration, *cost_cells(point))
    parts: list[Table | Text] = [table]
    if cost.within is not None:
        style = "green" if cost.within.configuration is not None else "yellow"
        parts.append(Text(f"{within_heading(cost.within.within).lower()}: {cost.within.text}", style=style))
    parts.append(Text(cost_legend(cost), style="dim"))
    if cost.note:
        parts.append(Text(cost.note, style="dim"))
    return Group(*parts)
