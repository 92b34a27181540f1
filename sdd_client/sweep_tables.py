"""Rich renderables for ``sdd sweeps …``: the sweep list, one sweep with its members, the report.

Each table states its columns and their priorities once (``SWEEP_COLUMNS``, ...; see
``sdd_client.table_fit``): on a narrow terminal names are elided and low-priority columns left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group
from rich.text import Text

from sdd_client.models import SearchReport, Sweep, SweepReport, SweepSummary
from sdd_client.sweep_report_markdown import (
    gain_text,
    protocol_text,
    search_cost_text,
    summary_text,
    trial_outcome_text,
    trial_values_text,
)
from sdd_client.table_fit import Col, FittedTable, id_col, name_col
from sdd_client.tables import facts_table, pct, position, shown_name, status_text, when

SHOWN_CLASS_GAINS = 10


def progress_text(sweep: SweepSummary | Sweep) -> str:
    """``36/120 epochs (30%) · 4 succeeded, 1 running, 7 queued``."""
    progress = sweep.progress
    counts = progress.members.model_dump()
    members = ", ".join(f"{n} {status}" for status, n in counts.items() if isinstance(n, int) and n)
    return f"{progress.epoch}/{progress.epochs} epochs ({100 * progress.fraction:.0f}%) · {members or 'no members'}"


def grid_text(sweep: SweepSummary | Sweep) -> str:
    """``method kd, sd-kd × beta 1, 2 × seed 0, 1, 2``; a search: ``search: 9 trials over beta, temperature``."""
    search = sweep.request.search
    if search is not None:
        space = [field for field, value in (search.get("space") or {}).items() if value is not None]
        return f"search: {search.get('trials')} trials over {', '.join(space) or '-'}"
    grid = (sweep.request.grid or {}).items()
    return " × ".join(f"{field} {', '.join(str(v) for v in values)}" for field, values in grid) or "-"


SWEEP_COLUMNS = (
    id_col("swp_"),
    name_col(priority=1),
    Col("status"),
    Col("members", 3, justify="right"),
    Col("grid", 4, "elide", min_width=16),
    Col("progress", 2, "elide", min_width=20),
    Col("created", 5),
)


def sweeps_table(sweeps: Iterable[SweepSummary]) -> FittedTable:
    table = FittedTable(SWEEP_COLUMNS, title="sweeps")
    for sweep in sweeps:
        table.add_row(
            sweep.id,
            shown_name(sweep.name),
            status_text(sweep.status),
            str(sweep.member_count),
            grid_text(sweep),
            progress_text(sweep),
            when(sweep.created_at),
        )
    return table


# A sweep's member jobs in `sdd sweeps show`.
MEMBER_COLUMNS = (
    id_col("job_"),
    name_col(priority=1),
    Col("status"),
    Col("method", 5),
    Col("student", 9),
    Col("scales", 6),
    Col("beta", 4, justify="right"),
    Col("T", 8, justify="right"),
    Col("seed", 7, justify="right"),
    Col("progress", 3),
    Col("val top-1", 2, justify="right"),
)


def sweep_detail(sweep: Sweep) -> Group:
    """The sweep's facts, then one row per member job."""
    facts = facts_table(f"sweep {sweep.id}")
    base = sweep.request.base
    teacher = base.get("teacher") or {}
    rows: list[tuple[str, str | Text]] = [
        ("name", shown_name(sweep.name)),
        ("status", status_text(sweep.status)),
        ("dataset / teacher", f"{base.get('dataset')} / {teacher.get('job') or teacher.get('model') or '-'}"),
        ("grid", grid_text(sweep)),
        ("progress", progress_text(sweep)),
        ("lockstep groups", str(len(sweep.groups))),
        ("created", when(sweep.created_at)),
    ]
    for key, value in rows:
        facts.add_row(key, value)
    members = FittedTable(MEMBER_COLUMNS, title="members")
    for job in sweep.members:
        spec = job.spec
        sd = spec.method.startswith("sd-")
        members.add_row(
            job.id,
            shown_name(job.name),
            status_text(job.status),
            spec.method,
            spec.student,
            ",".join(str(s) for s in spec.scales or []) if sd else "-",
            f"{spec.beta:g}" if sd and spec.beta is not None else "-",
            f"{spec.hyperparameters.temperature:g}" if spec.hyperparameters.temperature is not None else "-",
            str(spec.seed),
            position(job),
            pct(job.result.val_top1 if job.result else None),
        )
    return Group(facts, members)


# The report's configurations: the label and the gain over its base stay whole, on one line each.
REPORT_COLUMNS = (
    Col("configuration"),
    Col("seeds", 2, justify="right"),
    Col("final top-1", 1),
    Col("best top-1", 4),
    Col("final top-5", 5),
    Col("gain over base [95% CI]"),
    Col("wall s", 3),
    Col("img/s", 6),
)


def report_view(report: SweepReport) -> Group:
    """The configuration table, the recommendation, and the best SD configuration's per-class gains."""
    table = FittedTable(REPORT_COLUMNS, title=f"sweep {report.sweep_id} ({report.status})")
    for c in report.configurations:
        table.add_row(
            c.label,
            str(len(c.seeds)),
            summary_text(c.final_top1),
            summary_text(c.best_top1),
            summary_text(c.final_top5),
            gain_text(c.gain, c.is_baseline),
            summary_text(c.wall_seconds, 1),
            summary_text(c.images_per_s, 0),
        )
    style = "green" if report.recommendation.beats_baseline else "yellow"
    parts: list[FittedTable | Text] = [
        table,
        Text(f"recommendation: {report.recommendation.text}", style=style),
        Text(protocol_text(report.recommendation), style="dim"),
    ]
    per_class = report.per_class
    if per_class.gains:
        columns = (name_col("class", priority=0), Col("gain", justify="right"))
        gains = FittedTable(columns, title=f"per class: {per_class.configuration} over its base")
        for gain in per_class.gains[:SHOWN_CLASS_GAINS]:
            gains.add_row(shown_name(gain.name), f"{gain.gain:+.2f}")
        parts.append(gains)
    elif per_class.note:
        parts.append(Text(f"per class: {per_class.note}", style="dim"))
    parts += [Text(note, style="dim") for note in report.notes]
    if report.search is not None:
        parts += search_view(report.search)
    return Group(*parts)


# A search's trials: the values drawn and the outcome stay whole; the rung values go first when narrow.
TRIAL_COLUMNS = (
    Col("trial", justify="right"),
    Col("values", 1, "elide", min_width=18),
    Col("outcome"),
    Col("at rungs", 4, "elide", min_width=10),
    Col("epochs", 3, justify="right"),
    Col("val top-1", 2, justify="right"),
    Col("test top-1", 2, justify="right"),
    Col("images", 5, justify="right"),
)


def search_view(search: SearchReport) -> list[FittedTable | Text]:
    """The search's trials (the best marked), then its cost against the grid and its rule."""
    table = FittedTable(TRIAL_COLUMNS, title=f"search: {len(search.trials)} trials ({search.sampler})")
    for t in search.trials:
        at_rungs = ", ".join("-" if v is None else f"{v:.1f}" for v in t.rung_top1) or "-"
        outcome = trial_outcome_text(t) + (" (best)" if t.job_id == search.best else "")
        table.add_row(
            str(t.trial), trial_values_text(t.values), outcome, at_rungs, str(t.epochs), pct(t.val_top1),
            pct(t.test_top1), f"{t.images_trained:,}",
        )  # fmt: skip
    return [table, Text(search_cost_text(search)), Text(search.rule, style="dim")]
