"""A pruned search against the full grid over the same space, in one run, through the service.

    python -m benchmarks.search [--epochs 9 --betas 0.5,1,2,4,8,16 --scales 1,2/1,2,4 --eta 3
                                 --teacher-epochs 15 --student resnet8 --teacher resnet20]

Starts the embedded default (``sdd api`` + a prefork ``sdd worker``, one task at a time) in a
temporary ``SDD_HOME``, trains a teacher on the digits set (16 px), then submits over REST:

- a **grid**: every β × scale list as an SD-KD member, each trained for ``--epochs``;
- a **search** over the same lists, asking for as many trials as the grid has members (so it
  draws exactly the grid's configurations, in Optuna's order) and pruning by successive halving
  (``--eta``, rungs at 1, η, η², … epochs).

Both train as one lockstep group (``SDD_MAX_GROUP_SIZE`` is raised to the grid's size), one after
the other. For each: images trained (student steps × batch, from the report: the search's own
count, the grid's its epochs × images per epoch), wall time from submission to the last member's
end, and the test top-1 of the configuration each chooses on val (held_out protocol: val is a
held-out part of the training split, test the digits' own val split), with its binomial standard
error as the noise to compare the two against. Target: the search at most 0.4× the grid's images.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.service_processes import running_service

TERMINAL = ("succeeded", "failed", "cancelled")
TEST_IMAGES = 360  # the digits' val split, the test split under the held_out protocol


def _wait_sweep(client: httpx.Client, sweep_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        sweep = client.get(f"/v1/sweeps/{sweep_id}").json()
        if sweep["status"] in TERMINAL:
            return sweep
        if time.monotonic() > deadline:
            raise TimeoutError(f"sweep {sweep_id} still {sweep['status']} after {timeout:.0f} s")
        time.sleep(0.5)


def _wait_job(client: httpx.Client, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/v1/jobs/{job_id}").json())["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']}")
        time.sleep(0.5)
    return job


def _run(client: httpx.Client, body: dict[str, Any], timeout: float) -> tuple[dict[str, Any], dict[str, Any], float]:
    started = time.monotonic()
    created = client.post("/v1/sweeps", json=body)
    created.raise_for_status()
    sweep = _wait_sweep(client, created.json()["id"], timeout)
    wall = time.monotonic() - started
    if sweep["status"] != "succeeded":
        raise RuntimeError(f"sweep {sweep['id']} ended {sweep['status']}")
    report = client.get(f"/v1/sweeps/{sweep['id']}/report").json()
    return sweep, report, wall


def _chosen(sweep: dict[str, Any]) -> dict[str, Any]:
    """The succeeded member with the highest final val top-1: what each way chooses on val."""
    finished = [m for m in sweep["members"] if m["status"] == "succeeded"]
    return max(finished, key=lambda m: m["result"]["val_top1"])


def _stderr(top1: float, count: int) -> float:
    """The binomial standard error of a top-1 (percent) measured on ``count`` images, in points."""
    p = top1 / 100
    return 100 * math.sqrt(max(p * (1 - p), 1e-12) / count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=9)
    parser.add_argument("--betas", default="0.5,1,2,4,8,16")
    parser.add_argument("--scales", default="1,2/1,2,4", help="scale lists: a slash between lists")
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--student", default="resnet8")
    parser.add_argument("--teacher", default="resnet20")
    parser.add_argument("--teacher-epochs", type=int, default=15)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()

    betas = [float(b) for b in args.betas.split(",")]
    scales = [[int(s) for s in part.split(",")] for part in args.scales.split("/")]
    members = len(betas) * len(scales)
    common = {"dataset": "digits", "image_size": 16, "seed": 0}
    hyper = {"batch_size": 128, "device": "cpu"}

    with tempfile.TemporaryDirectory() as tmp:
        env = {"SDD_MAX_GROUP_SIZE": str(members), "SDD_MAX_SWEEP_SIZE": str(members), "SDD_MAX_JOBS_IN_FLIGHT": "0"}
        with running_service(Path(tmp), extra_env=env, worker_args=("--concurrency", "1")) as service:
            with service.client("t1", timeout=60.0) as client:
                teacher_body = {**common, "student": args.teacher, "method": "ce",
                                "hyperparameters": {**hyper, "epochs": args.teacher_epochs}}  # fmt: skip
                teacher = client.post("/v1/jobs", json=teacher_body).json()
                teacher = _wait_job(client, teacher["id"], args.timeout)
                print(f"teacher {args.teacher}: val top-1 {teacher['result']['val_top1']:.2f}%")
                base = {**common, "student": args.student, "method": "sd-kd", "teacher": {"job": teacher["id"]},
                        "hyperparameters": {**hyper, "epochs": args.epochs}}  # fmt: skip
                grid, grid_report, grid_wall = _run(
                    client, {"name": "grid", "base": base, "grid": {"beta": betas, "scales": scales}}, args.timeout
                )
                search_body = {
                    "name": "search",
                    "base": base,
                    "search": {"trials": members, "space": {"beta": betas, "scales": scales},
                               "pruning": {"min_epochs": 1, "reduction_factor": args.eta}},
                }  # fmt: skip
                search, search_report, search_wall = _run(client, search_body, args.timeout)
                grid_counted = sum(_images(row) for m in grid["members"] for row in _metrics_of(service, m["id"]))

    searched = search_report["search"]
    grid_images = searched["grid_images"]  # the grid's cost as the search counts it: members × epochs × an epoch
    test_images = TEST_IMAGES
    rows = []
    for name, sweep, images, wall in (
        ("grid", grid, grid_counted, grid_wall),
        ("search", search, searched["images_trained"], search_wall),
    ):
        chosen = _chosen(sweep)
        test = chosen["result"]["test_top1"]
        rows.append((name, len(sweep["members"]), images, wall, chosen, test))
    print(f"space: β {betas} × scales {scales} = {members} configurations; {args.epochs} epochs; "
          f"{args.student} from {args.teacher}; η {args.eta}; rungs {[r['epoch'] for r in searched['rungs']]}")  # fmt: skip
    print(f"{'way':8} {'members':>7} {'images trained':>15} {'wall s':>8}  chosen on val -> test top-1")
    for name, count, images, wall, chosen, test in rows:
        values = f"β {chosen['spec']['beta']}, scales {chosen['spec']['scales']}"
        noise = f" ± {_stderr(test, test_images):.2f}" if test is not None and test_images else ""
        print(f"{name:8} {count:>7} {images:>15,} {wall:>8.1f}  {values}: {test:.2f}%{noise}")
    for rung in searched["rungs"]:
        print(f"rung {rung['rung']} (epoch {rung['epoch']}): {len(rung['kept'])} of {rung['contenders']} went on "
              f"(the lowest kept {rung['lowest_kept_top1']}% val top-1)")  # fmt: skip
    print("trials' epochs: " + ", ".join(f"{t['trial']}: {t['epochs']} ({t['status']})" for t in searched["trials"]))
    print(f"search / grid: images {rows[1][2] / rows[0][2]:.3f} (the search's own count of the grid: "
          f"{searched['images_trained'] / grid_images:.3f} of {grid_images:,}), wall {rows[1][3] / rows[0][3]:.3f}")  # fmt: skip
    print(f"test top-1 difference search - grid: {rows[1][5] - rows[0][5]:+.2f} points "
          f"(± is the binomial standard error on {test_images} test images)")  # fmt: skip


def _metrics_of(service: Any, job_id: str) -> list[dict[str, Any]]:
    """A member's epoch rows, read from the service's database after it stopped."""
    from sqlalchemy import select

    from service.db.models import JobMetric
    from service.db.session import session_scope

    with session_scope(service.settings()) as session:
        rows = session.scalars(select(JobMetric.data).where(JobMetric.job_id == job_id).order_by(JobMetric.epoch))
        return list(rows)


def _images(row: dict[str, Any]) -> int:
    """The images an epoch's student step saw, as the search report counts them."""
    return round(row["images_per_s"] * row["seconds"])


if __name__ == "__main__":
    main()
