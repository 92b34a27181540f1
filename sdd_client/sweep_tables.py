"""Rich renderables for ``sdd sweeps …``: the sweep list, one sweep with its members, the report."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group
from rich.table import Table
from rich.text import Text

from sdd_client.models import Sweep, SweepReport, SweepSummary
from sdd_client.sweep_report_markdown import gain_text, summary_text
from sdd_client.tables import pct, position, shown_name, status_text, when

SHOWN_CLASS_GAINS = 10


def progress_text(sweep: SweepSummary | Sweep) -> str:
    """``36/120 epochs (30%) · 4 succeeded, 1 running, 7 queued``."""
    progress = sweep.progress
    counts = progress.members.model_dump()
    members = ", ".join(f"{n} {status}" for status, n in counts.items() if isinstance(n, int) and n)
    return f"{progress.epoch}/{progress.epochs} epochs ({100 * progress.fraction:.0f}%) · {members or 'no members'}"


def grid_text(sweep: SweepSummary | Sweep) -> str:
    """``method kd, sd-kd × beta 1, 2 × seed 0, 1, 2``."""
    grid = sweep.request.grid.items()
    return " × ".join(f"{field} {', '.join(str(v) for v in values)}" for field, values in grid) or "-"


def sweeps_table(sweeps: Iterable[SweepSummary]) -> Table:
    table = Table(
        "id", "name", "status", "members", "grid", "progress", "created", title="sweeps", title_justify="left"
    )
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


def sweep_detail(sweep: Sweep) -> Group:
    """The sweep's facts, then one row per member job."""
    facts = Table(show_header=False, title=f"sweep {sweep.id}", title_justify="left")
    facts.add_column(style="bold")
    facts.add_column()
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
    members = Table("job", "status", "method", "student", "scales", "beta", "T", "seed", "progress", "val top-1")
    for job in sweep.members:
        spec = job.spec
        sd = spec.method.startswith("sd-")
        members.add_row(
            job.id,
            status_text(job.status),
            spec.method,
            spec.student,
            ",".join(str(s) for s in spec.scales) if sd else "-",
            f"{spec.beta:g}" if sd and spec.beta is not None else "-",
            f"{spec.hyperparameters.temperature:g}" if spec.hyperparameters.temperature is not None else "-",
            str(spec.seed),
            position(job),
            pct(job.result.val_top1 if job.result else None),
        )
    return Group(facts, members)


def report_view(report: SweepReport) -> Group:
    """The configuration table, the recommendation, and the best SD configuration's per-class gains."""
    table = Table(
        "configuration",
        "seeds",
        "final top-1",
        "best top-1",
        "final top-5",
        "gain over KD [95% CI]",
        "wall s",
        "img/s",
        title=f"sweep {report.sweep_id} ({report.status})",
        title_justify="left",
    )
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
    parts: list[Table | Text] = [table, Text(f"recommendation: {report.recommendation.text}", style=style)]
    per_class = report.per_class
    if per_class.gains:
        gains = Table("class", "gain", title=f"per class: {per_class.configuration} over KD", title_justify="left")
        for gain in per_class.gains[:SHOWN_CLASS_GAINS]:
            gains.add_row(gain.name, f"{gain.gain:+.2f}")
        parts.append(gains)
    elif per_class.note:
        parts.append(Text(f"per class: {per_class.note}", style="dim"))
    parts += [Text(note, style="dim") for note in report.notes]
    return Group(*parts)
