"""A search's part of a sweep's report (``domain.sweeps.search_report``) on constructed trials, and how
the client shows it: Markdown and the terminal table at 80 columns."""

from __future__ import annotations

import io
from dataclasses import asdict
from typing import Any

from rich.console import Console

from domain.sweeps.search_report import search_report
from domain.sweeps.search_rungs import decide
from domain.sweeps.sweep_report import MemberRecord, build_report
from domain.sweeps.sweep_search import SweepSearch
from sdd_client.models import SweepReport
from sdd_client.sweep_report_markdown import report_markdown
from sdd_client.sweep_tables import report_view

EPOCH_IMAGES = 1000  # images_per_s × seconds of every epoch below
BATCH = 100
SEARCH = SweepSearch.model_validate(
    {"trials": 4, "space": {"beta": {"low": 1, "high": 8}}, "pruning": {"min_epochs": 1, "reduction_factor": 2}}
)


def trial(job_id: str, beta: float, top1: list[float], status: str, result: dict[str, Any] | None) -> MemberRecord:
    spec = {"method": "sd-kd", "student": "resnet8", "beta": beta, "scales": [1, 2], "seed": 0,
            "hyperparameters": {"epochs": 4, "batch_size": BATCH, "temperature": 4.0}}  # fmt: skip
    metrics = [
        {"epoch": epoch, "val_top1": value, "images_per_s": 500.0, "seconds": 2.0}
        for epoch, value in enumerate(top1, start=1)
    ]
    return MemberRecord(job_id, spec, status, result, 10.0, metrics)


def test_each_trial_rung_and_the_images_against_the_grid() -> None:
    """4 trials, 4 epochs, η 2: rungs at epochs 1 and 2. Rung 1 keeps b and c: a stops one batch into
    epoch 2, d's worker died before it stopped (no partial epoch recorded); rung 2 keeps c: b stops three
    batches into epoch 3; c trains to the end."""
    members = [
        trial("job_a", 1.0, [20.0], "pruned", {"val_top1": 20.0, "stopped_in_epoch": 2, "batches": 1}),
        trial("job_b", 2.0, [40.0, 45.0], "pruned", {"val_top1": 45.0, "stopped_in_epoch": 3, "batches": 3}),
        trial("job_c", 4.0, [30.0, 50.0, 60.0, 70.0], "succeeded", {"val_top1": 70.0, "test_top1": 68.5}),
        trial("job_d", 8.0, [10.0], "pruned", None),
    ]
    decisions = [
        decide(0, 1, {"job_a": 20.0, "job_b": 40.0, "job_c": 30.0, "job_d": 10.0}, 2),
        decide(1, 2, {"job_b": 45.0, "job_c": 50.0}, 2),
    ]
    assert (decisions[0].kept, decisions[1].kept) == (["job_b", "job_c"], ["job_c"])
    trials = [{"beta": 1.0}, {"beta": 2.0}, {"beta": 4.0}, {"beta": 8.0}]
    report = search_report(SEARCH, trials, members, decisions)
    a, b, c, d = report.trials
    assert (a.trial, a.values, a.pruned_at_rung, a.rungs_passed, a.rung_top1, a.epochs) == (
        1,
        {"beta": 1.0},
        1,
        0,
        [20.0],
        1,
    )
    assert (b.pruned_at_rung, b.rungs_passed, b.rung_top1) == (2, 1, [40.0, 45.0])
    assert (c.pruned_at_rung, c.rungs_passed, c.test_top1, c.val_top1) == (None, 2, 68.5, 70.0)
    assert (a.test_top1, b.test_top1, d.pruned_at_rung) == (None, None, 1)
    # Recorded epochs plus the batches a pruned trial trained of the epoch it stopped in.
    assert a.images_trained == 1 * EPOCH_IMAGES + 1 * BATCH
    assert b.images_trained == 2 * EPOCH_IMAGES + 3 * BATCH
    assert c.images_trained == 4 * EPOCH_IMAGES
    assert d.images_trained == 1 * EPOCH_IMAGES
    assert report.images_trained == 8 * EPOCH_IMAGES + 4 * BATCH
    assert report.grid_images == 4 * 4 * EPOCH_IMAGES and report.fraction_of_grid == 0.525
    assert report.best == "job_c"
    assert [(r.rung, r.epoch, r.decided, r.contenders, r.kept, r.lowest_kept_top1) for r in report.rungs] == [
        (1, 1, True, 4, ["job_b", "job_c"], 30.0),
        (2, 2, True, 2, ["job_c"], 50.0),
    ]
    assert report.rule.startswith("successive halving on val top-1, η = 2: rungs at the end of epochs 1, 2;")

    sent = SweepReport.model_validate(asdict(build_report("swp_1", "succeeded", members, search=report)))
    assert "3 of 4 trials were pruned at a rung (see search)" in " ".join(sent.notes)
    text = report_markdown(sent)
    assert "4 trials (qmc sampler) · images trained 8,400 of the full grid's 16,000 (0.53×)" in text
    assert "| 1 | β 1.0 | pruned at rung 1 | 0 | 20.00 | 1 | 20.00 | - | 1,100 |" in text
    assert "| 3 | β 4.0 | succeeded **(best)** | 2 | 30.00, 50.00 | 4 | 70.00 | 68.50 | 4,000 |" in text
    assert "| 2 | 2 | yes | 2 | 1 | 1 | 50.00 |" in text

    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    console.print(report_view(sent))
    shown = console.export_text()
    assert max(len(line) for line in shown.splitlines()) <= 80
    assert "pruned at rung 1" in shown and "succeeded (best)" in shown
    assert "images trained 8,400 of the full grid's 16,000 (0.53×)" in shown
    assert [c.label for c in sent.configurations] == ["sd-kd, β 4, scales [1, 2]"]  # pruned trials: not compared
