"""The time a worker spends drawing a finished job's training curves (``worker.job_plots``).

    python -m benchmarks.plot_time [--epochs 30] [--rounds 5] [--sd/--no-sd]

After training, the worker draws the job's curves from its metrics rows and stores them as PNG and
SVG artifacts (``store_curve_plots``, called by ``worker.runner._keep_records``). One job of
``--epochs`` epochs (an SD-KD job's rows: every panel drawn) is stored in a migrated embedded
service under a temp ``SDD_HOME``; each round then runs in a new Python process, as a worker's
first job does, and measures:

* ``import``: importing ``worker.job_plots`` (matplotlib with it); a worker pays it once, in its
  main process (``worker.tasks`` imports the runner), and its pool children inherit it;
* ``first job``: ``store_curve_plots`` the first time in the process (both formats drawn and
  stored): what a job pays in the pool child forked for it (``worker_max_tasks_per_child`` is 1);
* ``next job``: the same call again in the same process;
* the drawing alone, ``DRAWINGS`` times each way, interleaved: both formats from one figure
  (``render_curve_files``, what the worker does) and each from a figure of its own
  (``render_curves`` per format, as the worker did before), with the PNG's and the SVG's share.

Prints the median over ``--rounds`` of each (of a process's medians for the drawings), in seconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DRAWINGS = 5  # drawings of each way per process, after the two jobs


def metrics_row(epoch: int, epochs: int, sd: bool) -> dict[str, Any]:
    """One epoch's metrics as the worker records them (accuracies in percent)."""
    return {
        "epoch": epoch,
        "epochs": epochs,
        "lr": 0.05 * (0.1 if epoch > 0.6 * epochs else 1.0),
        "train_loss": 2.0 / epoch,
        "train_ce": 1.2 / epoch,
        "train_kd": 0.8 / epoch,
        "train_top1": min(99.0, 40.0 + 2 * epoch),
        "val_loss": 1.5 / epoch,
        "val_top1": min(98.0, 35.0 + 2 * epoch),
        "val_top5": min(99.5, 70.0 + epoch),
        "best_val_top1": min(98.0, 35.0 + 2 * epoch),
        "images_per_s": 1234.5,
        "complementary_share": 0.3 - 0.005 * epoch if sd else None,
        "nonfinite_steps": 0,
        "seconds": 1.5,
    }


def store_job(home: Path, epochs: int, sd: bool) -> str:
    """A migrated service under ``home`` holding one finished job with ``epochs`` metrics rows; its id."""
    from benchmarks.local_service import prepare_service
    from service.db.models import Job, JobMetric, Tenant
    from service.db.session import session_scope

    settings = prepare_service(home, tenants=("alice",)).settings
    method = "sd-kd" if sd else "kd"
    spec = {"dataset": "digits", "student": "resnet8", "method": method, "teacher": {"job": "job_teacher"}}
    with session_scope(settings) as session:
        tenant = session.query(Tenant).one()
        job = Job(tenant_id=tenant.id, spec=spec, request=spec, epochs=epochs, status="running", name="plot timing")
        session.add(job)
        session.flush()
        for epoch in range(1, epochs + 1):
            session.add(JobMetric(job_id=job.id, epoch=epoch, data=metrics_row(epoch, epochs, sd)))
        return job.id


def child(home: Path, job_id: str) -> dict[str, float]:
    """One round, in this (new) process: the import, a first and a next job, the next job's parts."""
    started = time.perf_counter()
    from worker import job_plots  # matplotlib with it

    imported = time.perf_counter()
    from sdd_client.plot_formats import PLOT_FORMATS
    from sdd_client.plots import job_label, job_title, render_curve_files, render_curves
    from service.artifact_stores import get_artifact_store
    from service.db.models import Job, JobMetric
    from service.db.session import session_scope
    from service.settings import Settings

    settings = Settings(home=home, artifact_dir=None, data_root=None, work_dir=None, database_url=None, broker_url=None)
    store = get_artifact_store(settings)

    def one_job() -> float:
        begun = time.perf_counter()
        with session_scope(settings) as session:
            stored = job_plots.store_curve_plots(session, store, job_id)
        assert {artifact.kind for artifact in stored} == {"plot_png", "plot_svg"}, stored
        return time.perf_counter() - begun

    first = one_job()
    following = one_job()
    with session_scope(settings) as session:
        job = session.get(Job, job_id)
        assert job is not None
        rows = [row.data for row in session.query(JobMetric).filter_by(job_id=job_id).order_by(JobMetric.epoch)]
        series, title = {job_label(job.id, job.spec, job.name): rows}, job_title(job.id, job.spec, job.name)
    drawings: dict[str, list[float]] = {"one figure": [], "a figure each": [], "png": [], "svg": []}
    for _ in range(DRAWINGS):  # interleaved, so that neither way gets the warmer caches
        begun = time.perf_counter()
        render_curve_files(series, PLOT_FORMATS, title=title)
        drawings["one figure"].append(time.perf_counter() - begun)
        for fmt in PLOT_FORMATS:
            begun = time.perf_counter()
            render_curves(series, fmt, title=title)
            drawings[fmt].append(time.perf_counter() - begun)
        drawings["a figure each"].append(drawings["png"][-1] + drawings["svg"][-1])
    return {
        "import": imported - started,
        "first job": first,
        "next job": following,
        "PNG and SVG drawn from one figure": statistics.median(drawings["one figure"]),
        "PNG and SVG drawn from a figure each": statistics.median(drawings["a figure each"]),
        "  of which the PNG": statistics.median(drawings["png"]),
        "  of which the SVG": statistics.median(drawings["svg"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30, help="metrics rows of the job (its epochs)")
    parser.add_argument("--rounds", type=int, default=5, help="new processes measured; medians printed")
    parser.add_argument("--sd", action=argparse.BooleanOptionalAction, default=True, help="an SD-KD job (every panel)")
    parser.add_argument("--child", nargs=2, metavar=("HOME", "JOB_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1])))
        return

    with tempfile.TemporaryDirectory(prefix="sdd-plot-time-") as home:
        job_id = store_job(Path(home), args.epochs, args.sd)
        rounds = []
        for _ in range(args.rounds):
            command = [sys.executable, "-m", "benchmarks.plot_time", "--child", home, job_id]
            done = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True)
            rounds.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"curves of a {args.epochs}-epoch {'SD-KD' if args.sd else 'KD'} job, median of {args.rounds} processes:")
    for name in rounds[0]:
        print(f"  {name:<40}{statistics.median(r[name] for r in rounds):7.3f} s")


if __name__ == "__main__":
    main()
