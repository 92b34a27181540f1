"""Tables that fit the terminal: columns elided or dropped by priority, never wrapped a character at a time.

A table states its columns once, in order, each with a priority and how it may give up room:

- ``keep``: shown whole on one line, or left out (ids, statuses, numbers);
- ``elide``: one line, cut with "…" down to ``min_width`` (names lose their middle, where sweep
  members' names, which differ in their ends, keep what tells them apart);
- ``wrap``: wrapped at spaces down to ``min_width`` (messages and other free text).

Priority 0 columns are never left out (ids, statuses); among the others the highest number goes
first. When the table is printed, the console's width picks the layout: every column at its
natural width if that fits; else the elidable and wrapping columns narrowed (to no less than
their ``min_width``, the room left shared out among them); else the lowest-priority column left
out, and again. A dim line under the table names the columns left out, so a reader knows they
exist (``--json`` has everything). Columns, including the ones never left out, are never shrunk
below their content: rich does that only when even the priority-0 columns cannot fit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Column, Table
from rich.text import Text

Fit = Literal["keep", "elide", "wrap"]
Justify = Literal["left", "center", "right"]
MEASURE_WIDTH = 100_000  # wide enough that rich measures every cell on one line


@dataclass(frozen=True)
class Col:
    """One column of a ``FittedTable``: its header, how it gives up room, and its priority."""

    header: str
    priority: int = 0  # 0: always shown; the highest number is left out first
    fit: Fit = "keep"
    min_width: int | None = None  # keep: at least this wide (an id's length); elide/wrap: never narrower
    max_width: int | None = None  # elide/wrap: never wider, even with room to spare
    justify: Justify = "left"
    style: str | None = None
    cut_middle: bool = False  # elide: "digits sw…4] seed 0" rather than "digits sweep sd…"


def id_col(prefix: str, header: str = "id") -> Col:
    """An id column (``job_`` and 24 hex digits): never cut, never left out."""
    return Col(header, 0, "keep", min_width=len(prefix) + 24)


def name_col(header: str = "name", priority: int = 1, *, min_width: int = 20, max_width: int | None = None) -> Col:
    """A name a user gave: its middle elided with "…", down to ``min_width`` characters."""
    return Col(header, priority, "elide", min_width=min_width, max_width=max_width, cut_middle=True)


@dataclass
class FittedTable:
    """A rich renderable: a table laid out for the width it is printed at (see the module's docstring)."""

    columns: Sequence[Col]
    title: str | None = None
    rows: list[Sequence[RenderableType]] = field(default_factory=list)
    name_left_out: bool = True  # a dim line under the table naming the columns left out

    def add_row(self, *cells: RenderableType) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(cells)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table, left_out = self.layout(console, options.max_width)
        yield table
        if left_out and self.name_left_out:
            names = ", ".join(self.columns[index].header.replace("\n", " ") for index in left_out)
            yield Text(f"left out at {options.max_width} columns: {names}", style="dim", no_wrap=True,
                       overflow="ellipsis")  # fmt: skip

    def layout(self, console: Console, width: int) -> tuple[Table, list[int]]:
        """The widest table that fits ``width`` and the indexes of the columns it leaves out."""
        shown = list(range(len(self.columns)))
        while True:
            table = self._table(console, shown, {})
            if _width(console, table) <= width:
                return table, _left_out(shown, len(self.columns))
            narrowed = {i: self._min_width(i) for i in shown if self.columns[i].fit != "keep"}
            table = self._table(console, shown, narrowed)
            spare = width - _width(console, table)
            if spare >= 0:
                for index in sorted(narrowed, key=lambda i: self.columns[i].priority):
                    grown = min(spare, max(self._natural_width(console, index) - narrowed[index], 0))
                    narrowed[index] += grown
                    spare -= grown
                return self._table(console, shown, narrowed), _left_out(shown, len(self.columns))
            droppable = [i for i in shown if self.columns[i].priority > 0]
            if not droppable:  # only what is never left out, and still too wide: rich shrinks it
                return table, _left_out(shown, len(self.columns))
            shown.remove(max(droppable, key=lambda i: (self.columns[i].priority, i)))

    def _min_width(self, index: int) -> int:
        column = self.columns[index]
        return max([column.min_width or 1, *(cell_len(line) for line in column.header.splitlines())])

    def _natural_width(self, console: Console, index: int) -> int:
        """The column's width with each of its cells on one line (at most its ``max_width``)."""
        options = console.options.update_width(MEASURE_WIDTH)
        cells = [self.columns[index].header, *(row[index] for row in self.rows)]
        widest = max(Measurement.get(console, options, cell).maximum for cell in cells)
        return min(widest, self.columns[index].max_width or widest)

    def _table(self, console: Console, shown: list[int], widths: dict[int, int]) -> Table:
        table = Table(
            *(self._column(index, widths.get(index)) for index in shown),
            title=self.title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, 1),
            collapse_padding=True,
        )
        for row in self.rows:
            table.add_row(*(self._cell(row[index], index, widths.get(index)) for index in shown))
        return table

    def _cell(self, cell: RenderableType, index: int, width: int | None) -> RenderableType:
        column = self.columns[index]
        width = width or column.max_width
        if not column.cut_middle or width is None or not isinstance(cell, (str, Text)):
            return cell
        return cut_middle(cell if isinstance(cell, Text) else Text(cell), width)

    def _column(self, index: int, width: int | None) -> Column:
        column = self.columns[index]
        style = column.style or ""
        if column.fit == "keep":
            return Column(column.header, justify=column.justify, style=style, no_wrap=True,
                          min_width=column.min_width, overflow="ellipsis")  # fmt: skip
        if column.fit == "elide":
            return Column(column.header, justify=column.justify, style=style, no_wrap=True, overflow="ellipsis",
                          width=width, max_width=column.max_width)  # fmt: skip
        return Column(column.header, justify=column.justify, style=style, overflow="fold", width=width,
                      max_width=column.max_width)  # fmt: skip


def cut_middle(text: Text, width: int) -> Text:
    """``text`` in at most ``width`` cells, its middle replaced by "…" when it is wider."""
    if text.cell_len <= width:
        return text
    keep = width - 1
    head, tail = (keep + 1) // 2, keep // 2
    start = text[: _chars_within(text.plain, head)]
    end_chars = _chars_within(text.plain[::-1], tail)
    end = text[len(text.plain) - end_chars :] if end_chars else Text()
    return Text.assemble(start, "…", end)


def _chars_within(plain: str, cells: int) -> int:
    """How many leading characters of ``plain`` fit in ``cells`` terminal cells."""
    used = 0
    for count, char in enumerate(plain):
        used += cell_len(char)
        if used > cells:
            return count
    return len(plain)


def _width(console: Console, table: Table) -> int:
    """The table's width with every cell on one line (columns of a fixed width at that width)."""
    return table.__rich_measure__(console, console.options.update_width(MEASURE_WIDTH)).maximum


def _left_out(shown: list[int], count: int) -> list[int]:
    return [index for index in range(count) if index not in shown]


def chunks(count: int, width: int, first: int, each: int) -> Iterator[range]:
    """Ranges of ``count`` columns such that ``first`` plus ``each`` per column stays within ``width``."""
    per_chunk = max((width - first) // max(each, 1), 1)
    for start in range(0, count, per_chunk):
        yield range(start, min(start + per_chunk, count))
