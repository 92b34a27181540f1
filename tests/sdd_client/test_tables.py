"""The CLI's tables: what a user typed is shown as text, never as terminal control; every table fits
80, 100 and 120 columns with realistic rows (a sweep of 4 long-named members, 28-character ids)
without wrapping a cell, cutting an id or hiding a status."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from safetensors.torch import save

from domain.jobs.transitions import record_batch_progress
from sdd_client import SDDClient
from sdd_client.dataset_tables import class_counts_table, datasets_table
from sdd_client.live_watch import FittedProgress, add_bar
from sdd_client.models import Catalog, Dataset, EpochRow, Event, Job, Sweep, SweepReport, UploadedModel
from sdd_client.sweep_report_markdown import gain_text
from sdd_client.sweep_tables import report_view, sweep_detail, sweeps_table
from sdd_client.tables import (
    catalog_view,
    compare_table,
    curves_table,
    events_table,
    jobs_table,
    models_table,
    shown_name,
)
from sdd_core.models import create_model
from tests.api.conftest import Api
from tests.api.test_datasets import image_folder, zip_bytes
from tests.sdd_client.conftest import epoch, metrics_row, start_job, succeed_running
from worker.ingestion import ingest_dataset


def _rendered(text: object) -> str:
    console = Console(file=io.StringIO(), width=120, force_terminal=False, color_system=None)
    console.print(text)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return str(out)


def test_control_and_format_characters_are_shown_as_escapes() -> None:
    """A sweep named before its names were checked (ESC, a right-to-left override) printed raw in
    sdd sweeps list: its escape sequence rewrote the terminal."""
    shown = _rendered(shown_name("run\x1b[2J\u202eeman"))
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "run\\x1b[2J\\u202eeman" in shown


def test_names_are_text_not_markup() -> None:
    assert _rendered(shown_name("[bold red]mine[/]")).strip() == "[bold red]mine[/]"
    assert _rendered(shown_name(None)).strip() == "-"
    assert _rendered(shown_name("kd β=2 · 4 seeds")).strip() == "kd β=2 · 4 seeds"  # printable text as it is


# ---------------------------------------------------------------- tables that fit 80, 100 and 120 columns

WIDTHS = (80, 100, 120)
SWEEP_NAME = "digits resnet8 from resnet32, lr 0.05 cosine"  # members: "<this> sd-kd seed 1", ~60 characters


@dataclass
class Scene:
    """What a user has after a morning's work: a teacher, a sweep of 4 members in every state, datasets."""

    teacher: Job
    sweep: Sweep
    members: list[Job]
    metrics: dict[str, list[EpochRow]]
    report: SweepReport
    events: list[Event]
    datasets: list[Dataset]
    models: list[UploadedModel]
    catalog: Catalog


@pytest.fixture
def scene(api: Api, sdd: SDDClient, tmp_path: Path) -> Scene:
    teacher = api.create_job(name="resnet32 teacher on digits")
    api.succeed_job(teacher["id"])
    base = {"dataset": "digits", "student": "resnet8", "teacher": {"job": teacher["id"]}}
    grid = {"method": ["kd", "sd-kd"], "seed": [0, 1]}
    sweep = sdd.submit_sweep({"name": SWEEP_NAME, "base": base | {"hyperparameters": {"epochs": 3}}, "grid": grid})
    kd0, sd0, kd1, sd1 = (job.id for job in sweep.members)
    for job_id, top1 in ((kd0, 61.25), (sd0, 64.5)):
        start_job(api, job_id)
        for index in (1, 2, 3):
            epoch(api, job_id, metrics_row(index, 3, top1 - 10 * (3 - index)))
        succeed_running(api, job_id, (top1,))
    start_job(api, kd1)
    epoch(api, kd1, metrics_row(1, 3, 41.0))
    with api.session() as session:
        assert record_batch_progress(session, kd1, 2, 12, 57, "test-worker")
    assert sd1  # queued

    archive = tmp_path / "pets.zip"
    archive.write_bytes(zip_bytes(image_folder()))
    ready = sdd.upload_dataset_file(archive, name="oxford pets, cats and dogs only (8 px)")
    ingest_dataset(ready.id, api.settings)
    sdd.upload_dataset_file(archive, name="oxford pets again, still being ingested")
    weights = tmp_path / "teacher.safetensors"
    weights.write_bytes(save(create_model("resnet8", 2).state_dict()))
    sdd.upload_model(weights, "resnet8", 2, name="resnet8 teacher trained elsewhere on pets")

    members = [sdd.get(job.id) for job in sweep.members]
    return Scene(
        teacher=sdd.get(teacher["id"]),
        sweep=sdd.get_sweep(sweep.id),
        members=members,
        metrics={job.id: sdd.metrics(job.id) for job in members},
        report=sdd.sweep_report(sweep.id),
        events=sdd.events(kd0),
        datasets=list(sdd.iter_datasets()),
        models=list(sdd.iter_models()),
        catalog=sdd.catalog(),
    )


def _lines(renderable: RenderableType, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return [line.rstrip() for line in console.export_text().splitlines()]


def _fits(lines: list[str], width: int, rows: dict[str, str], heading: int = 3) -> None:
    """No line wider than the terminal; each row (``rows``: an id and its status) on one line, the id
    whole, its status whole; ``heading`` lines (title, header, rule) and a note of the columns left out."""
    assert max(cell_len(line) for line in lines) <= width, "\n".join(lines)
    for row_id, status in rows.items():
        [line] = [line for line in lines if row_id in line.split()]  # the id whole, on one line
        assert status in line.split(), line
    left_out = sum(line.startswith("left out at ") for line in lines)
    assert len(lines) == heading + len(rows) + left_out, "\n".join(lines)  # no cell wrapped onto more lines


def test_job_tables_and_the_watch_view_fit_the_terminal(scene: Scene) -> None:
    jobs = [*scene.members, scene.teacher]
    statuses = {job.id: job.status for job in jobs}
    assert set(statuses.values()) == {"succeeded", "running", "queued"}
    for width in WIDTHS:
        _fits(_lines(jobs_table(jobs), width), width, statuses)
        compared = _lines(compare_table(jobs, scene.metrics), width)
        _fits(compared, width, statuses)
        assert any("41.00 so far" in line for line in compared)  # the running member's latest top-1
        curves = _lines(curves_table(jobs, scene.metrics), width)
        _fits(curves, width, {str(epoch): "-" for epoch in (1, 2, 3)})  # the teacher recorded no epochs
        assert all(f"#{n}" in curves[1].split() for n in range(1, len(jobs) + 1))
        events = _lines(events_table(scene.events), width)
        assert max(cell_len(line) for line in events) <= width and len(events) == 3 + len(scene.events), events

        console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
        progress = FittedProgress(console=console, auto_refresh=False)
        for job in scene.members:
            add_bar(progress, job, now=0.0)
        watched = _lines(Group(*progress.get_renderables()), width)
        _fits(watched, width, {job.id: job.status for job in scene.members}, heading=2)
        assert any("1/3 done · batch 12/57" in line for line in watched), watched

    # Names lose their middle, where sweep members' names (which differ in their ends) keep what tells them apart.
    lines = _lines(jobs_table(scene.members), 80)
    for job, line in zip(scene.members, lines[3:], strict=False):
        assert job.name is not None and line.startswith(job.id)
        name = line.split("  ")[1].strip()
        head, tail = name.split("…")
        assert job.name.startswith(head) and job.name.endswith(tail) and tail.endswith(f"seed {job.spec.seed}")
    wide = _lines(jobs_table(scene.members), 200)
    assert scene.members[0].name in wide[3] and "left out" not in "\n".join(wide)


def test_sweep_dataset_model_and_catalog_tables_fit_the_terminal(scene: Scene) -> None:
    sweep, report = scene.sweep, scene.report
    for width in WIDTHS:
        _fits(_lines(sweeps_table([sweep]), width), width, {sweep.id: sweep.status})
        detail = _lines(sweep_detail(sweep), width)
        members = detail[detail.index("members") :]
        _fits(members, width, {job.id: job.status for job in sweep.members})
        assert all(len(line.split("  ")[1].strip()) >= 20 for line in members[3:7])  # names elided, not squeezed
        lines = _lines(report_view(report), width)
        assert max(cell_len(line) for line in lines) <= width
        for configuration in report.configurations:  # the label and the gain, whole and on one line
            gain = gain_text(configuration.gain, configuration.is_baseline)
            assert any(line.startswith(configuration.label + " ") and gain in line for line in lines), lines

    assert {dataset.status for dataset in scene.datasets} == {"ready", "ingesting"}
    for width in WIDTHS:
        datasets = _lines(datasets_table(scene.datasets), width)
        _fits(datasets, width, {dataset.id: dataset.status for dataset in scene.datasets})
        ready = next(dataset for dataset in scene.datasets if dataset.status == "ready")
        _fits(_lines(class_counts_table(ready), width), width, {"cat": "2", "dog": "2"})
        _fits(_lines(models_table(scene.models), width), width, {model.id: model.arch for model in scene.models})
        catalog = _lines(catalog_view(scene.catalog), width)
        assert max(cell_len(line) for line in catalog) <= width
        assert all(any(line.split()[:1] == [arch.name] for line in catalog) for arch in scene.catalog.architectures)
        datasets = {line.split()[0]: line for line in catalog if line.split()[:1] in (["cifar10"], ["digits"])}
        assert datasets["digits"].split()[1:3] == ["10", "present"]
        assert datasets["cifar10"].split()[1:3] == ["-", "missing:"]  # not in the test server's data folder


def test_job_detail_names_the_protocol_the_test_top1_and_why_a_trial_was_pruned(api: Api, sdd: SDDClient) -> None:
    from sqlalchemy import update

    from sdd_client.tables import job_detail
    from service.db.models import Job as JobRow

    held_out = api.create_job(protocol="held_out")
    api.succeed_job(held_out["id"], result={"val_top1": 91.0, "test_top1": 89.25})
    text = "\n".join(_lines(job_detail(sdd.get(held_out["id"]), None), 120))
    assert "test top-1" in text and "89.25" in text
    assert "held_out: 10% of each class held out to choose, val tests once" in text
    trial = api.create_job(protocol="literature")
    reason = "pruned at rung 1 (epoch 1): val top-1 40.00% was not among the best 1 of 3"
    with api.session() as session:
        session.execute(update(JobRow).where(JobRow.id == trial["id"]).values(status="pruned", prune_reason=reason))
        session.commit()
    text = " ".join(" ".join(_lines(job_detail(sdd.get(trial["id"]), None), 200)).split())
    assert "literature: val chooses and reports (optimistic)" in text and reason in text
