"""A sweep's report as Markdown: the recommendation, the configuration table, a search's trials and
rungs, accuracy against cost, per class, confusion.

The one renderer of a report as text: the server answers ``GET /v1/sweeps/{id}/report?format=markdown``
with it, ``sdd sweeps report --markdown`` prints it, and ``sdd_client.sweep_tables`` draws its
numbers with the same ``summary_text``, ``gain_text`` and ``cost_cells``. It reads the report as the API sends it
(``sdd_client.models.SweepReport``, generated from the OpenAPI document).

Numbers rounded for reading: accuracies in percent with two decimals, ``mean ± std``; the gain with
its 95% interval ``+1.30 [+0.90, +1.70] (3 seeds)``. Tables wider than ``MARKDOWN_MAX_CLASSES``
classes are left to the JSON. Text from users (class names) has its table-breaking characters escaped.
"""

from __future__ import annotations

from sdd_client.models import (
    CostPoint,
    CostReport,
    PairedGain,
    Recommendation,
    SearchReport,
    Stat,
    SweepConfiguration,
    SweepReport,
    TrialReport,
)

MARKDOWN_MAX_CLASSES = 20  # wider per-class tables and confusion matrices stay in the JSON

LONG_GAIN_LIST = 30  # more classes than this: the 10 largest and 10 smallest gains only
SHOWN_AT_EACH_END = 10


def report_markdown(report: SweepReport) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(report.members.items()))
    lines = [
        f"# Sweep {report.sweep_id}",
        "",
        f"Status: **{report.status}** · {sum(report.members.values())} members ({counts})",
        "",
        f"**Recommendation:** {_cell(report.recommendation.text)}",
        "",
        f"_{_cell(protocol_text(report.recommendation))}_",
        "",
        *_configurations(report.configurations),
    ]
    lines += [f"_{_cell(note)}_" for note in report.notes]
    if report.search is not None:
        lines += ["", *search_lines(report.search)]
    lines += ["", *_cost(report.cost), "", *_per_class(report), "", *_confusion(report)]
    return "\n".join(lines).rstrip() + "\n"


def search_cost_text(search: SearchReport) -> str:
    """``images trained 41,472 of the grid's 161,280 (0.26×)`` — what the search cost so far."""
    if search.grid_images is None or search.fraction_of_grid is None:
        return f"images trained {search.images_trained:,}"
    return (
        f"images trained {search.images_trained:,} of the full grid's {search.grid_images:,} "
        f"({search.fraction_of_grid:.2f}×)"
    )


def trial_values_text(values: dict[str, object]) -> str:
    """``β 2.659, T 4.814, scales [1, 2, 4]``."""
    names = {"beta": "β", "temperature": "T"}
    return ", ".join(f"{names.get(field, field)} {value}" for field, value in values.items()) or "-"


def trial_outcome_text(trial: TrialReport) -> str:
    """``pruned at rung 1`` or ``succeeded`` (with ``, best`` for the search's best)."""
    return f"pruned at rung {trial.pruned_at_rung}" if trial.pruned_at_rung else str(trial.status)


def search_lines(search: SearchReport) -> list[str]:
    rows = [
        "## Search",
        "",
        f"{len(search.trials)} trials ({search.sampler} sampler) · {_cell(search_cost_text(search))}",
        "",
        f"_{_cell(search.rule)}_",
        "",
        "| trial | values | outcome | rungs passed | val top-1 at rungs | epochs | final val top-1 | test top-1 "
        "| images trained |",
        "|---:|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for t in search.trials:
        best = " **(best)**" if t.job_id == search.best else ""
        at_rungs = ", ".join("-" if v is None else f"{v:.2f}" for v in t.rung_top1) or "-"
        rows.append(
            f"| {t.trial} | {_cell(trial_values_text(t.values))} | {trial_outcome_text(t)}{best} | {t.rungs_passed} | "
            f"{at_rungs} | {t.epochs} | {_percent(t.val_top1)} | {_percent(t.test_top1)} | {t.images_trained:,} |"
        )
    rows += [
        "",
        "| rung | epoch | decided | contenders | went on | pruned | lowest kept |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in search.rungs:
        rows.append(
            f"| {r.rung} | {r.epoch} | {'yes' if r.decided else 'not yet'} | {r.contenders} | {len(r.kept)} | "
            f"{len(r.pruned)} | {_percent(r.lowest_kept_top1)} |"
        )
    return rows


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _configurations(configurations: list[SweepConfiguration]) -> list[str]:
    rows = [
        "## Configurations",
        "",
        "| configuration | seeds | final top-1 | best top-1 | final top-5 | best top-5 | gain over base [95% CI] "
        "| wall time (s) | images/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in configurations:
        label = _cell(c.label) + (" (baseline)" if c.is_baseline else "")
        rows.append(
            f"| {label} | {len(c.seeds)} | {summary_text(c.final_top1)} | {summary_text(c.best_top1)} | "
            f"{summary_text(c.final_top5)} | {summary_text(c.best_top5)} | {gain_text(c.gain, c.is_baseline)} | "
            f"{summary_text(c.wall_seconds, 1)} | {summary_text(c.images_per_s, 0)} |"
        )
    rows += [
        "",
        "Accuracies in percent: mean ± sample standard deviation over the seeds that succeeded. The gain is "
        "final top-1 on the reported split minus its base method's (sd-dkd's dkd, else kd) for the same seed, "
        "averaged, with its paired 95% confidence interval (Student's t, n − 1 degrees of freedom) and the "
        "Holm–Bonferroni-corrected interval over the SD configurations compared.",
        "",
    ]
    return rows


def protocol_text(recommendation: Recommendation) -> str:
    """``protocol held_out: chosen on val, reported on test; Holm–Bonferroni correction, family of 3``."""
    family = recommendation.family_size
    return (
        f"protocol {recommendation.protocol}: chosen on {recommendation.chosen_on}, reported on "
        f"{recommendation.reported_on}; {recommendation.correction} correction, family of {family} "
        f"configuration{'' if family == 1 else 's'}"
    )


def summary_text(summary: Stat, digits: int = 2) -> str:
    """``91.00 ± 1.00`` (mean ± sample standard deviation), ``91.00`` from one seed, ``—`` from none."""
    if summary.mean is None:
        return "—"
    if summary.std is None:
        return f"{summary.mean:.{digits}f}"
    return f"{summary.mean:.{digits}f} ± {summary.std:.{digits}f}"


def gain_text(gain: PairedGain | None, is_baseline: bool) -> str:
    """``+1.50 [+0.26, +2.74] (3 seeds; Holm [-0.29, +3.29])``: the mean gain over the base, its paired 95%
    interval and the Holm-corrected one."""
    if is_baseline:
        return "baseline"
    if gain is None:
        return "—"
    if gain.low is None or gain.high is None:
        return f"{gain.mean:+.2f} (1 seed, no interval)"
    holm = ""
    if gain.adjusted_low is not None and gain.adjusted_high is not None:
        holm = f"; Holm [{gain.adjusted_low:+.2f}, {gain.adjusted_high:+.2f}]"
    return f"{gain.mean:+.2f} [{gain.low:+.2f}, {gain.high:+.2f}] ({gain.n} seeds{holm})"


COST_HEADERS = (
    "top-1",
    "parameters",
    "FLOPs/image",
    "CPU ms, batch 1",
    "CPU ms, batch 64",
    "CUDA ms, batch 1",
    "CUDA ms, batch 64",
    "Pareto frontier",
)


def within_heading(within: float) -> str:
    """``Within 1 point of the teacher``, ``Within 0.5 points of the teacher``."""
    return f"Within {within:g} point{'' if within == 1 else 's'} of the teacher"


def count_text(value: float | None) -> str:
    """``78.0 k``, ``25.0 M``, ``4.11 G``: a parameter or FLOP count."""
    if value is None:
        return "—"
    for factor, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value:.0f}"


def ms_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}"


def cost_cells(point: CostPoint) -> list[str]:
    """One configuration's cells under ``COST_HEADERS``."""
    frontier = [
        name for name, on in (("latency", point.on_latency_frontier), ("size", point.on_parameters_frontier)) if on
    ]
    return [
        "—" if point.top1 is None else f"{point.top1:.2f}",
        count_text(point.parameters),
        count_text(point.flops_per_image),
        ms_text(point.cpu_batch1_ms),
        ms_text(point.cpu_batch64_ms),
        ms_text(point.cuda_batch1_ms),
        ms_text(point.cuda_batch64_ms),
        ", ".join(frontier) or "—",
    ]


def cost_legend(cost: CostReport) -> str:
    """What the cost table's numbers are, in one paragraph."""
    teacher = f" The teacher's top-1: {cost.teacher_top1:.2f}%." if cost.teacher_top1 is not None else ""
    where = f" on {', '.join(cost.hardware)}" if cost.hardware else ""
    return (
        f"Top-1: {cost.accuracy} (%), mean over seeds. Latency: median ms per forward, mean over seeds; CPU: the "
        f"exported ONNX student in onnxruntime with 1 thread{where}; CUDA: PyTorch, float32, where the member "
        "trained on a GPU. Pareto frontier: no other configuration is as accurate and faster (latency: CPU, "
        f"batch 1) or smaller (size: parameters).{teacher}"
    )


def _cost(cost: CostReport) -> list[str]:
    lines = ["## Accuracy against cost", ""]
    if not cost.available:
        return [*lines, f"Cost is {cost.note}."]
    if cost.within is not None:
        lines += [f"**{within_heading(cost.within.within)}:** {_cell(cost.within.text)}", ""]
    lines += [
        "| configuration | " + " | ".join(COST_HEADERS) + " |",
        "|---|" + "---:|" * (len(COST_HEADERS) - 1) + "---|",
        *(f"| {_cell(p.configuration)} | " + " | ".join(cost_cells(p)) + " |" for p in cost.points),
        "",
        _cell(cost_legend(cost)),
    ]
    if cost.note:
        lines += ["", f"_{_cell(cost.note)}_"]
    return lines


def _per_class(report: SweepReport) -> list[str]:
    per_class = report.per_class
    lines = ["## Per class", ""]
    if not per_class.available:
        return [*lines, f"Per-class accuracy is {per_class.note}."]
    if per_class.note:
        lines += [f"_{_cell(per_class.note)}_", ""]
    if per_class.gains:
        gains = per_class.gains
        shown = gains
        if len(gains) > LONG_GAIN_LIST:
            shown = gains[:SHOWN_AT_EACH_END] + gains[-SHOWN_AT_EACH_END:]
        lines += [
            f"Gain of **{_cell(per_class.configuration or '')}** over its base per class (percentage points, mean over "
            "paired seeds), largest first"
            + (f"; the {SHOWN_AT_EACH_END} largest and smallest of {len(gains)}:" if shown is not gains else ":"),
            "",
            "| class | gain | seeds |",
            "|---|---:|---:|",
            *(f"| {_cell(g.name)} | {g.gain:+.2f} | {g.n} |" for g in shown),
            "",
        ]
    if len(per_class.classes) <= MARKDOWN_MAX_CLASSES and per_class.members:
        header = " | ".join(_cell(name) for name in per_class.classes)
        lines += [
            "Final per-class accuracy of each member (%):",
            "",
            f"| member | configuration | seed | {header} |",
            "|---|---|---:|" + "---:|" * len(per_class.classes),
        ]
        for m in per_class.members:
            values = " | ".join("—" if v is None else f"{v:.1f}" for v in m.accuracy)
            lines.append(f"| {m.job_id} | {_cell(m.configuration)} | {m.seed} | {values} |")
    elif per_class.members:
        lines.append(f"{len(per_class.classes)} classes: each member's per-class accuracy is in the JSON report.")
    return lines


def _confusion(report: SweepReport) -> list[str]:
    confusion = report.confusion
    if confusion is None:
        return ["No finished member recorded a confusion matrix (result.confusion)."]
    top1 = f", final val top-1 {confusion.val_top1:.2f}%" if confusion.val_top1 is not None else ""
    lines = [
        f"## Confusion matrix of the best member: {confusion.job_id} ({_cell(confusion.configuration)}, "
        f"seed {confusion.seed}{top1})",
        "",
    ]
    if len(confusion.classes) > MARKDOWN_MAX_CLASSES:
        return [*lines, f"{len(confusion.classes)} classes: the matrix is in the JSON report."]
    lines += [
        "| true \\ predicted | " + " | ".join(_cell(name) for name in confusion.classes) + " |",
        "|---|" + "---:|" * len(confusion.classes),
    ]
    for name, row in zip(confusion.classes, confusion.matrix, strict=True):
        lines.append(f"| {_cell(name)} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, line breaks flattened."""
    return " ".join(str(text).split()).replace("|", "\\|")
